"""Take the README screenshots from the real app in headless Chromium.

Runs the app against the project's local fake endpoint (no key, no network) and asks about the
example chart, so the pictures stay true as the UI changes:

    .venv/bin/python assets/make_screenshots.py

Writes assets/screenshot.png (desktop, light) and screenshot-{dark,phone,phone-dark}.png, and
assets/screenshot-test.png: the Test page after a small run, three answers rated;
assets/screenshot-compare.png: a blind comparison before the vote; assets/screenshot-leaderboard.png:
the Leaderboard over a few hundred scripted votes.
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
    tmp = Path(tempfile.mkdtemp())
    app = start_app({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "screenshot",
                     "GLM_MODELS": "glm-4.5v,glm-4.6v,GLM-4V-Plus", "GLM_DATA_DIR": str(tmp / "data")},
                    tmp)
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
            test_page(browser, app.url, fake)
            context = browser.new_context(locale="en-US")  # one browser id for both pages
            compare_page(context, app.url, fake)
            leaderboard_page(context, app.url, tmp / "data")
            browser.close()
    finally:
        stop_app(app)
        fake.stop()


def test_page(browser, url: str, fake: FakeOpenAI) -> None:
    """Six example-like images × two questions × two models, run, three answers rated."""
    from PIL import Image, ImageDraw

    folder = Path(tempfile.mkdtemp())
    colours = [(214, 69, 65), (52, 152, 219), (46, 204, 113), (241, 196, 15), (155, 89, 182),
               (230, 126, 34)]
    for i, colour in enumerate(colours):
        image = Image.new("RGB", (480, 360), "white")
        draw = ImageDraw.Draw(image)
        for k in range(i % 3 + 2):
            draw.ellipse((40 + 110 * k, 130, 130 + 110 * k, 220), fill=colour)
        image.save(folder / f"shelf-{i + 1}.jpg", quality=90)
    fake.default = Reply(tokens=24, tps=300)
    page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="en-US")
    page.goto(url.rstrip("/") + "/test")
    expect(page.locator("#test-questions textarea")).to_be_visible(timeout=30_000)
    page.locator("#test-files input[type=file]").set_input_files(sorted(str(p) for p in folder.iterdir()))
    questions = page.locator("#test-questions textarea")
    questions.fill("How many items are on the shelf?\nWhat colour are they?")
    questions.blur()
    page.locator("#test-models").get_by_label("glm-4.6v", exact=True).check()
    page.locator("#test-title").locator("textarea, input").fill("Shelf photos, week 48")
    expect(page.locator("#test-plan")).to_contain_text("24 requests", timeout=30_000)
    page.locator("#test-run").click()
    expect(page.locator("#test-progress")).to_contain_text("Finished", timeout=60_000)
    page.locator("#test-grid").get_by_text("Echo: How many").locator("visible=true").first.click()
    for key in ("g", "2", "b", "g"):
        page.locator("body").press(key)
    expect(page.locator("#test-summary")).to_contain_text("Wrong count 1", timeout=10_000)
    page.screenshot(path=str(ROOT / "assets" / "screenshot-test.png"), full_page=False)
    page.close()
    print("wrote screenshot-test.png")


COMPARE_ANSWERS = (
    "**Q3** had the highest revenue, **18.9 M CNY**: 3.8 M more than Q2 (+25.2 %).",
    "The highest bar is **Q4** at about 17 million CNY, a little above Q3.",
)


def compare_page(context, url: str, fake: FakeOpenAI) -> None:
    """A blind round on the example chart: both answers in, the vote under them (then cast)."""
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 1200})
    page.goto(url.rstrip("/") + "/compare")
    box = page.locator("#compare-input textarea")
    expect(box).to_be_visible(timeout=30_000)
    fake.script(*(Reply(text=t, ttft=0.5, tps=40) for t in COMPARE_ANSWERS))
    page.locator("#compare-input input[type=file]").set_input_files(str(ROOT / "assets" / "chart.png"))
    expect(page.locator("#compare-input img")).to_have_count(1, timeout=10_000)
    box.fill("Which quarter had the highest revenue?")
    box.press("Enter")
    expect(page.locator("#compare-vote-a")).to_be_visible(timeout=30_000)
    page.locator("#compare-reasons").get_by_label("Misread chart or table").check()
    page.screenshot(path=str(ROOT / "assets" / "screenshot-compare.png"), full_page=True)
    page.locator("#compare-vote-a").click()
    expect(page.locator("#compare-result")).to_contain_text("kept", timeout=10_000)
    page.close()
    print("wrote screenshot-compare.png")


def leaderboard_page(context, url: str, data_dir: Path) -> None:
    """Three hundred scripted blind votes among four models, as this browser's (the owner of the
    vote just cast on the Compare page), then the page."""
    import random

    from ui.choices import Choices
    from ui.store import open_store
    from ui.testing.cells import REASONS
    from ui.testing.votes import Vote

    strength = {"glm-4.6v": 1.6, "glm-4.5v": 1.2, "GLM-4V-Plus": 1.0, "glm-4v-flash": 0.6}
    rng, store = random.Random(17), open_store(data_dir, "")
    try:
        owner = store.votes()[-1].owner
        for n in range(300):
            a, b = rng.sample(sorted(strength), 2)
            p = strength[a] / (strength[a] + strength[b])
            roll = rng.random()
            outcome = "tie" if roll > 0.92 else "both_bad" if roll > 0.88 else \
                "a" if rng.random() < p else "b"
            reasons = (rng.choice(REASONS[:7]),) if outcome != "tie" and rng.random() < 0.6 else ()
            store.add_vote(Vote(a, b, outcome, Choices(model=a), Choices(model=b), f"Question {n}",
                                blind=True, reasons=reasons, owner=owner,
                                at=f"2026-11-{20 + n % 7:02d}T10:00:00Z"))
    finally:
        store.close()
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 1300})
    page.goto(url.rstrip("/") + "/leaderboard")
    expect(page.locator("#board-summary")).to_contain_text("votes counted", timeout=30_000)
    page.screenshot(path=str(ROOT / "assets" / "screenshot-leaderboard.png"), full_page=True)
    page.close()
    print("wrote screenshot-leaderboard.png")


if __name__ == "__main__":
    main()
