"""Take the README screenshots from the real app in headless Chromium.

Runs the app against the project's local fake endpoint (no key, no network) and asks about the
example chart, so the pictures stay true as the UI changes:

    .venv/bin/python assets/make_screenshots.py

Writes assets/screenshot.png (desktop, light) and screenshot-{dark,phone,phone-dark}.png.
Needs Debian's chromium (`apt-get install chromium`; fonts-noto-cjk for the Chinese labels).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.conftest import CHROMIUM_ARGS, start_app, stop_app  # noqa: E402
from tests.fake_openai import FakeOpenAI, Reply  # noqa: E402

ANSWER = """**Q3** had the highest revenue: **18.9 million CNY**.

| quarter | revenue (M CNY) | change |
|---|---|---|
| Q1 | 12.4 | — |
| Q2 | 15.1 | +21.8 % |
| Q3 | 18.9 | +25.2 % |
| Q4 | 17.2 | −9.0 % |

Q3 grew by 3.8 million CNY over Q2, i.e. \\(\\frac{18.9 - 15.1}{15.1} \\approx 25.2\\%\\)."""

SHOTS = {  # name: (viewport width, height, theme)
    "screenshot.png": (1280, 860, "light"),
    "screenshot-dark.png": (1280, 860, "dark"),
    "screenshot-phone.png": (390, 844, "light"),
    "screenshot-phone-dark.png": (390, 844, "dark"),
}


def main() -> None:
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("needs chromium: apt-get install chromium")
    fake = FakeOpenAI().start()
    app = start_app({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "screenshot",
                     "GLM_MODELS": "glm-4.5v,glm-4.6v,GLM-4V-Plus"}, Path(tempfile.mkdtemp()))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            for name, (width, height, theme) in SHOTS.items():
                fake.script(Reply(text=ANSWER, ttft=0.6, tps=60))  # a realistic pace for the stats line
                page = browser.new_page(viewport={"width": width, "height": height},
                                        locale="en-US", color_scheme=theme)
                page.goto(f"{app.url}?__theme={theme}")
                box = page.locator("#chat-input textarea")
                expect(box).to_be_visible(timeout=30_000)
                page.locator("#chat-input input[type=file]").set_input_files(
                    str(ROOT / "assets" / "chart.png"))
                expect(page.locator("#chat-input img")).to_have_count(1, timeout=10_000)
                box.fill("Which quarter had the highest revenue, and by how much did it grow?")
                box.press("Enter")
                expect(page.locator("#stats")).to_contain_text("tokens", timeout=30_000)
                expect(page.locator("#chat")).to_contain_text("Q3 grew by", timeout=10_000)
                expect(box).to_be_editable(timeout=10_000)
                page.screenshot(path=str(ROOT / "assets" / name))
                page.close()
                print("wrote", name)
            browser.close()
    finally:
        stop_app(app)
        fake.stop()


if __name__ == "__main__":
    main()
