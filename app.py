"""Start the image chat: `python app.py` (or `glm-vision-chat`), then open http://127.0.0.1:7860.

Hugging Face Spaces imports this file and serves the module-level `demo`. The command line
(`glm-vision-chat batch ...`) is ui/cli.py: it runs a test without building the page.
"""

import gc
import logging
import os
import sys

from dotenv import find_dotenv, load_dotenv

load_dotenv(find_dotenv(usecwd=True))  # the .env of the folder the app is started from
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ui.endpoint import warm_up  # noqa: E402
from ui.page.layout import build_demo, launch_kwargs  # noqa: E402
from ui.page.sessions import defer_session_configs  # noqa: E402
from ui.settings import ConfigError, Settings  # noqa: E402  (after load_dotenv on purpose)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
for noisy in ("httpx", "httpx2", "openai"):
    logging.getLogger(noisy).setLevel(logging.WARNING)  # their INFO lines carry request URLs

try:
    settings = Settings.from_env()
except ConfigError as error:
    sys.exit(f"Configuration error: {error}")

defer_session_configs()  # a new session (each REST call of /ask) makes only the configs it needs
demo = build_demo(settings)

def serve() -> None:
    """Serve the page until the process is stopped (`python app.py`, `glm-vision-chat`)."""
    demo.launch(**launch_kwargs(settings), prevent_thread_lock=True)
    warm_up()  # the endpoint SDK loads while the page is already served: start-up does not wait
    # What start-up built (Gradio, pydantic, the SDK: ~240,000 objects) lives as long as the
    # process: left out of the garbage collector's passes, which stop every stream while they run
    # (a full pass 78 → 61 ms; GC time over seven 16-user crowds 650 → 530 ms).
    gc.collect()
    gc.freeze()
    logging.getLogger("glmchat").info("ready; %d start-up objects kept out of garbage collection",
                                      gc.get_freeze_count())
    demo.block_thread()


if __name__ == "__main__":
    serve()
