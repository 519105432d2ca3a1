"""app.py with suspects of the crowds' CPU switched off, for `bench/run.py --crowds-only`.

    BENCH_OFF=pages,resends python bench/variant_app.py

Started exactly as app.py starts (settings, page, launch, endpoint warm-up, start-up objects frozen),
with these left out when BENCH_OFF names them:

    pages      the Compare, Test and Leaderboard pages' components (their routes stay, empty)
    resends    /ask's Resends (ui/pace.py): every step goes out, as through gradio_client
    freeze     gc.freeze() of the start-up objects (app.py)
    idle_gc    the garbage collection and malloc_trim once answers stop (ui/heap.py Busy)
    sessions   new sessions' configs made on demand (ui/page/sessions.py): Gradio's own way instead

The fourth suspect, two malloc arenas (ui/heap.py), is switched by MALLOC_ARENA_MAX in the
environment (glibc's own default on a 64-bit machine is 8 per core). Bench only: nothing here is
part of the app.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ui import heap
from ui.endpoint import warm_up
from ui.page import chat, layout
from ui.page.sessions import defer_session_configs
from ui.settings import Settings

SWITCHES = ("pages", "resends", "freeze", "idle_gc", "sessions")
OFF = {name for name in os.environ.get("BENCH_OFF", "").split(",") if name}
if OFF - set(SWITCHES):
    sys.exit(f"unknown BENCH_OFF {sorted(OFF - set(SWITCHES))}; known: {', '.join(SWITCHES)}")


def _no_page(*_args: object, **_kwargs: object) -> None:
    """A page left out: its route stays, with nothing in it."""


class _EveryStep:
    """Resends that lets every update go out."""

    def due(self, text: str) -> bool:
        return True

    def sending(self) -> None:
        pass


if "pages" in OFF:
    layout.compare_page = layout.test_page = layout.leaderboard_page = _no_page  # type: ignore[assignment]
if "resends" in OFF:
    chat.Resends = _EveryStep  # type: ignore[assignment,misc]
if "idle_gc" in OFF:
    heap.Busy._trim_if_idle = lambda self, since: None  # type: ignore[method-assign]

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
for noisy in ("httpx", "httpx2", "openai"):
    logging.getLogger(noisy).setLevel(logging.WARNING)

settings = Settings.from_env()
if "sessions" not in OFF:
    defer_session_configs()
demo = layout.build_demo(settings)
demo.launch(**layout.launch_kwargs(settings), prevent_thread_lock=True)
warm_up()
if "freeze" not in OFF:
    gc.collect()
    gc.freeze()
logging.getLogger("glmchat").info("ready; off: %s; MALLOC_ARENA_MAX=%s", ",".join(sorted(OFF)) or "-",
                                  os.environ.get("MALLOC_ARENA_MAX", "(2, ui/heap.py)"))
demo.block_thread()
