"""Benchmark: a 100 KB answer of 20,000 short lines in the page (issue 15, item 15). Not a test.

    python bench/markdown_lines.py              # 3 rounds, ~2-5 min, prints a Markdown table
    python bench/markdown_lines.py --rounds 1 --lines 10000

Starts `python app.py` against the local fake endpoint and headless Chromium, then, in rounds,
asks three times from a fresh page: the many-line answer with Gradio's Markdown chunk as Gradio
ships it (the browser is handed the original file), the same answer as the app serves it (marked's
walkTokens made linear, ui/page/markdown_js.py), and an answer of the same size in long lines.
The clock is inside the page: from Enter until a MutationObserver sees the answer's last line,
plus the next animation frame; beside it Chromium's own main-thread figures for that span
(Performance.getMetrics: all tasks, script, layout, style). Medians over the rounds. Everything
listens on 127.0.0.1; the app and the browser are stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, TEST_KEY, start_app, stop_app  # noqa: E402
from tests.fake_openai import FakeOpenAI, Reply  # noqa: E402

END = "END-OF-ANSWER"
METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
WATCH = """() => { window.__shown = new Promise(resolve => {
  const chat = document.querySelector('#chat'), t0 = performance.now();
  const seen = new MutationObserver(() => {
    if (!chat.textContent.includes('END-OF-ANSWER')) return;
    seen.disconnect();
    requestAnimationFrame(() => resolve(performance.now() - t0));
  });
  seen.observe(chat, {childList: true, subtree: true, characterData: true});
}); }"""  # END


def answers(lines: int) -> dict[str, str]:
    short = "".join(f"{i % 1000:03d}\n" for i in range(lines)) + END
    long = " ".join(f"{i % 1000:03d}" for i in range(lines)) + " " + END
    return {"lines, Gradio's chunk": short, "lines, as served": short, "long lines, as served": long}


def original_chunk() -> Path:
    import gradio

    return next((Path(gradio.__file__).parent / "templates/frontend/assets").glob("markdown-code-*.js"))


def ask(browser: Any, url: str, fake: FakeOpenAI, text: str, original: bool) -> dict[str, float]:
    from playwright.sync_api import expect

    page = browser.new_page()
    try:
        if original:
            chunk = original_chunk()
            page.route("**/assets/markdown-code-*.js",
                       lambda route: route.fulfill(path=chunk, content_type="text/javascript"))
        page.goto(url)
        box = page.locator("#chat-input textarea")
        expect(box).to_be_visible(timeout=60_000)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def metrics() -> dict[str, float]:
            return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

        fake.script(Reply(text=text))
        box.fill("hi")
        before = metrics()
        page.evaluate(WATCH)
        box.press("Enter")
        shown = page.evaluate("() => window.__shown") / 1000
        after = metrics()
        return {"shown": shown, **{k: after[k] - before[k] for k in METRICS}}
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lines", type=int, default=20_000)
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("needs Debian's chromium")
    from playwright.sync_api import sync_playwright

    cases = answers(args.lines)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as fake:
        app = start_app({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                         "GLM_MODELS": "glm-4.5v"}, Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    for _ in range(args.rounds):
                        for name, text in cases.items():
                            results[name].append(ask(browser, app.url, fake, text,
                                                     name.endswith("Gradio's chunk")))
                finally:
                    browser.close()
        finally:
            stop_app(app)
    size = len(next(iter(cases.values())).encode())
    print(f"{args.lines:,} lines ({size / 1024:.0f} KB), median of {args.rounds}, "
          f"load average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| answer | shown after | main thread busy | script | layout | style |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("shown", *METRICS)}
        print(f"| {name} | {med['shown']:.2f} s | {med['TaskDuration']:.2f} s | "
              f"{med['ScriptDuration']:.2f} s | {med['LayoutDuration']:.2f} s | "
              f"{med['RecalcStyleDuration']:.2f} s |")


if __name__ == "__main__":
    main()
