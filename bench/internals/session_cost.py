"""CPU of one new Gradio session (SessionState: every component's config, api_info three times each),
with gr.UploadButton's api_info made a constant (ui/layout.py _schema_once) and without, interleaved.

    python bench/session_cost.py [--rounds 20] [--per 25]

Gradio makes one for every page load and every REST or gradio_client call (a new session hash each).
In-process, no server: the figure is the work itself, free of HTTP and scheduling noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update({"OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                   "GRADIO_ANALYTICS_ENABLED": "False"})

import gradio as gr
from gradio.state_holder import SessionState
from ui.config import Settings
from ui.layout import build_demo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per", type=int, default=25)
    args = parser.parse_args()
    demo = build_demo(Settings.from_env())
    gr.routes.App.create_app(demo)  # as launch() does: default_config, state holder
    button = next(b for b in demo.blocks.values() if isinstance(b, gr.UploadButton))
    cached = button.__dict__.get("api_info")
    assert cached is not None, "run without GLM_BENCH_OFF=schema_once"
    one = {"on": [], "off": []}
    for _ in range(args.rounds):
        for variant in ("on", "off"):
            if variant == "on":
                button.api_info = cached
            else:
                del button.api_info  # the class's method again
            t0 = time.process_time()
            for _ in range(args.per):
                SessionState(demo)
            one[variant].append((time.process_time() - t0) / args.per * 1000)
    button.api_info = cached
    t0 = time.process_time()
    for _ in range(200):
        type(button).api_info(button)
    schema = (time.process_time() - t0) / 200 * 1000
    for variant, values in one.items():
        print(f"{variant:3}: new session {statistics.median(values):.2f} ms CPU "
              f"(min {min(values):.2f}, max {max(values):.2f}, {args.rounds} × {args.per})")
    print(f"off - on: {statistics.median(one['off']) - statistics.median(one['on']):.2f} ms per session; "
          f"UploadButton.api_info() alone {schema:.2f} ms")


if __name__ == "__main__":
    main()
