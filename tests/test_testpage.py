"""The Test page in headless Chromium, as the tester meets it: drop images, type questions, pick
models, run, watch progress, rate in place, filter, download the CSV and the HTML report."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest

from tests.conftest import AppProcess, make_image, unspoken_labels
from tests.fake_openai import FakeOpenAI, Reply


@pytest.fixture(autouse=True)
def _fresh(module_fake: FakeOpenAI) -> None:
    module_fake.reset()


def open_test_page(page, url: str):
    from playwright.sync_api import expect

    page.goto(url.rstrip("/") + "/test")
    expect(page.locator("#test-questions textarea")).to_be_visible(timeout=30_000)


def download(page, app: AppProcess, button: str, suffix: str) -> bytes:
    """Press a download button; the bytes of the file the page then offers."""
    from playwright.sync_api import expect

    page.locator(button).click()
    link = page.locator(f"#test-downloads a[href*='{suffix}']").first
    expect(link).to_be_visible(timeout=30_000)
    href = link.get_attribute("href") or ""
    return httpx.get(href if href.startswith("http") else app.url.rstrip("/") + href, timeout=30).content


def test_a_tester_runs_rates_filters_and_takes_home_a_report(app: AppProcess, browser, tmp_path,
                                                             module_fake: FakeOpenAI):
    from playwright.sync_api import expect

    module_fake.default = Reply(tokens=12, tps=200)
    images = [make_image(tmp_path / f"shelf{i}.png", (80 + i, 60), (30 * i, 120, 200)) for i in range(6)]
    (tmp_path / "notes.txt").write_text("not an image")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    asked_elsewhere = []
    page.on("request", lambda r: asked_elsewhere.append(r.url)
            if not r.url.startswith((app.url, "data:")) else None)
    try:
        open_test_page(page, app.url)
        page.locator("#test-files input[type=file]").set_input_files(
            [str(p) for p in images] + [str(tmp_path / "notes.txt")])
        questions = page.locator("#test-questions textarea")
        questions.fill("How many items?\nWhat colour is it?")
        questions.blur()
        page.locator("#test-models").get_by_label("GLM-4V", exact=True).check()
        plan = page.locator("#test-plan")
        expect(plan).to_contain_text("6 images × 2 questions × 2 models = 24 requests", timeout=30_000)
        expect(plan).to_contain_text("notes.txt")  # what was left out, and why

        page.locator("#test-run").click()
        progress = page.locator("#test-progress")
        expect(progress).to_contain_text("answered", timeout=30_000)
        expect(progress).to_contain_text("Finished", timeout=60_000)
        expect(progress).to_contain_text("24 answered · 0 failed · 0 to go")
        assert len(module_fake.requests) == 24
        assert all(len(r.images()) == 1 and r.json["messages"][0]["role"] == "user"
                   for r in module_fake.requests)

        grid = page.locator("#test-grid")
        expect(grid).to_contain_text("shelf0.png")
        page.wait_for_function(  # thumbnails, served by the app from its store
            "() => [...document.querySelectorAll('#test-grid img')].some(i => i.naturalWidth > 0)")
        # Rate three answers: click the first answer, then the keyboard: g, 2 + b, g.
        grid.get_by_text("Echo: How many items?").locator("visible=true").first.click()
        focus = page.locator("#test-focus")
        expect(focus).to_contain_text("How many items?")
        page.locator("body").press("g")
        expect(focus).to_contain_text("GLM-4V · shelf0.png", timeout=10_000)  # on to the next cell
        page.locator("body").press("2")  # "Wrong count"
        expect(page.locator("#test-reasons input[type=checkbox]").nth(1)).to_be_checked()
        page.locator("body").press("b")
        page.locator("body").press("g")
        summary = page.locator("#test-summary")
        expect(summary).to_contain_text("Wrong count 1", timeout=10_000)

        page.locator("#test-filter-verdict input").click()
        page.get_by_role("option", name="👎 Bad").click()
        expect(page.locator("#test-page-label")).to_contain_text("of 1", timeout=10_000)

        table = download(page, app, "#test-csv", ".csv")
        rows = list(csv.reader(io.StringIO(table.decode("utf-8-sig"))))
        header, body = rows[0], rows[1:]
        assert len(body) == 24
        rating = header.index("Rating")
        assert sorted(r[rating] for r in body if r[rating]) == ["bad", "good", "good"]
        reasons = header.index("Reasons")
        assert [r[reasons] for r in body if r[reasons]] == ["Wrong count"]

        report = download(page, app, "#test-html", ".html").decode("utf-8")
        assert "<script" not in report.lower()
        assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", report)
        assert report.count("data:image/") >= 6 and "Wrong count" in report

        # Back later: the run opened from the list shows its grid, then its summary (a second event)
        open_test_page(page, app.url)
        page.locator("#test-runs input").click()
        page.get_by_role("option").first.click()
        expect(page.locator("#test-grid")).to_contain_text("shelf0.png", timeout=10_000)
        expect(page.locator("#test-summary")).to_contain_text("Wrong count 1", timeout=10_000)
        assert asked_elsewhere == []
    finally:
        page.close()


@pytest.mark.parametrize("locale, to_test, to_chat", [
    ("en-US", "Test on many images", "Chat"),
    ("zh-CN", "用大量图片测试", "对话"),
])
def test_the_pages_link_to_each_other_in_the_page_language(app: AppProcess, browser, locale,
                                                           to_test, to_chat):
    """Gradio's navbar says "Home" / "Test" in every language and is hidden; our links say it."""
    from playwright.sync_api import expect

    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800},
                                  extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    try:
        page.goto(app.url)
        expect(page.locator("#chat-input textarea")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("navigation")).to_be_hidden()
        expect(page.locator("#nav-to-test")).to_contain_text(to_test)
        page.locator("#nav-to-test").click()
        expect(page.locator("#test-questions textarea")).to_be_visible(timeout=30_000)
        assert page.url.rstrip("/").endswith("/test")
        expect(page.get_by_role("navigation")).to_be_hidden()
        expect(page.locator("#nav-to-chat")).to_contain_text(to_chat)
        page.locator("#nav-to-chat").click()
        expect(page.locator("#chat-input textarea")).to_be_visible(timeout=30_000)
        for path, ready in (("compare", "#compare-input textarea"), ("test", "#test-questions textarea"),
                            ("leaderboard", "#nav-to-chat")):
            page.goto(app.url + path)
            expect(page.locator(ready)).to_be_visible(timeout=30_000)
            assert unspoken_labels(page, locale) == [], path
    finally:
        context.close()
