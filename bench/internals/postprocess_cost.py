"""Server CPU and latency of one streamed screen update of the chat: processed_here's postprocessing
in the event loop (postprocess=False) against Gradio's own (postprocess=True: each output's
postprocess in a worker thread), in-process, interleaved, for a fresh chat and after 40 turns.

    python bench/postprocess_cost.py [--rounds 15] [--per 40]

It runs what Gradio runs for each update a streaming event yields (Blocks.postprocess_data, the
session's config updated, files moved to the cache), with the app's three outputs: the chat, the
stats line and the input (None while the answer streams). No HTTP, no browser: the figure is the
work itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from ui.layout import build_demo, processed_here

from ui.paths import Roots


def history(turns: int, answer_chars: int) -> list[dict]:
    """`turns` earlier questions and Markdown answers (as bench/run.py make_chat), then the new
    question, its model note and an answer `answer_chars` long so far."""
    text = ("The chart compares **four quarters**: revenue rises from 1.2 to 1.9 million, with the "
            "largest step between Q2 and Q3 (+0.4 million, about 27 %). ") * 4
    chat: list[dict] = []
    for i in range(1, turns + 1):
        chat += [{"role": "user", "content": f"Question {i}: what changed in part {i}?"},
                 {"role": "assistant", "content": f"Part {i}. {text}\n\n| q | value |\n|---|---|\n| {i} | {i * 3} |"}]
    chat += [{"role": "user", "content": "What is in this image? #n=1000"},
             {"role": "assistant", "content": "glm-4v-plus", "metadata": {
                 "title": "🏷️ glm-4v-plus", "log": "", "status": "done",
                 "id": "record:" + json.dumps({"model": "glm-4v-plus", "temperature": 0.7})}},
             {"role": "assistant", "content": ("lorem ipsum " * 200)[:answer_chars]}]
    return chat


async def main_async(rounds: int, per: int) -> None:
    demo = build_demo(Settings.from_env())
    gr.routes.App.create_app(demo)
    fn = next(f for f in demo.fns.values() if getattr(f, "name", "") == "submit")
    outputs = fn.outputs
    chatbot, stats, box = outputs
    here = processed_here(None, [], outputs, Roots([]))  # only its value_out is used, below
    del here

    # processed_here's own per-update work, as in ui/layout.py
    from gradio.data_classes import GradioModel, GradioRootModel

    def value_out(component, value):
        value = component.postprocess(value)
        return value.model_dump() if isinstance(value, GradioModel | GradioRootModel) else value

    results: dict[str, dict[str, list[float]]] = {}
    for turns in (0, 40):
        state = SessionState(demo)
        chats = [history(turns, 50 + 20 * i) for i in range(per)]
        for variant in ("on", "off") * rounds:
            cpu0, t0 = time.process_time(), time.perf_counter()
            for chat in chats:
                if variant == "on":
                    fn.postprocess = False
                    update = (value_out(chatbot, chat), value_out(stats, ""), value_out(box, None))
                else:
                    fn.postprocess = True
                    update = (chat, "", None)
                await demo.postprocess_data(fn, list(update), state)
            cpu = (time.process_time() - cpu0) / per * 1000
            wall = (time.perf_counter() - t0) / per * 1000
            results.setdefault(f"{turns} turns: CPU ms per update", {}).setdefault(variant, []).append(cpu)
            results.setdefault(f"{turns} turns: wall ms per update", {}).setdefault(variant, []).append(wall)
    fn.postprocess = False
    print("| figure | on (processed_here) median [min, max] | off (Gradio postprocesses) | off / on |")
    print("|---|---|---|---|")
    for figure, by in results.items():
        on, off = by["on"], by["off"]
        print(f"| {figure} | {statistics.median(on):.3f} [{min(on):.3f}, {max(on):.3f}] | "
              f"{statistics.median(off):.3f} [{min(off):.3f}, {max(off):.3f}] | "
              f"{statistics.median(off) / statistics.median(on):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main_async(args.rounds, args.per))


if __name__ == "__main__":
    main()
