"""Ratings in the Chat (issue 17, item 3): 👍 / 👎 under an answer with the Test page's reasons and
a note, kept in the store with what the answer was about; "Add to a test set" turns the chat turn
into a row of a named test set that the Test page can run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, AppProcess, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_app import ask, open_chat
from ui.store import open_store


@pytest.fixture
def rated_app(fake: FakeOpenAI, tmp_path: Path) -> Iterator[tuple[AppProcess, Path]]:
    data = tmp_path / "data"
    running = start_app({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                         "GLM_MODELS": "GLM-4V-Plus,glm-4.5v", "GLM_DATA_DIR": str(data)}, tmp_path)
    try:
        yield running, data
    finally:
        stop_app(running)


def test_a_thumbs_down_with_a_reason_then_add_to_a_test_set_shows_up_on_the_test_page(
        rated_app, fake: FakeOpenAI, browser, tmp_path):
    from playwright.sync_api import expect

    app, data = rated_app
    fake.script(Reply(text="There are three cups on the table."))
    image = make_image(tmp_path / "table.png", (90, 60), (20, 120, 220))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        open_chat(page, app.url)
        ask(page, "How many cups are there?", image)
        chat = page.locator("#chat")
        expect(chat).to_contain_text("three cups on the table.", timeout=15_000)
        expect(page.locator("#chat-input textarea")).to_be_editable(timeout=10_000)

        chat.get_by_role("button", name="Dislike").last.click()
        panel = page.locator("#rate-panel")
        expect(panel).to_be_visible(timeout=10_000)
        expect(page.locator("#rate-heading")).to_contain_text("👎 on the answer of GLM-4V-Plus")
        said = page.locator("#rate-said")
        expect(said).to_contain_text("Kept: 👎 on this answer.")
        page.locator("#rate-reasons").get_by_label("Wrong count").check()
        page.locator("#rate-note textarea").fill("two cups, not three")
        page.locator("#rate-save").click()
        expect(said).to_contain_text("Kept: 👎 with 1 reason and your note.", timeout=10_000)

        name = page.locator("#rate-set input")
        name.fill("Cups")
        name.press("Enter")
        page.locator("#rate-add").click()
        expect(said).to_contain_text("Added 1 row to the test set “Cups” (now 1 row)", timeout=10_000)

        store = open_store(data)
        try:
            (rating,) = store.chat_ratings()
            assert (rating.model, rating.verdict, rating.reasons, rating.note) == (
                "GLM-4V-Plus", -1, ("wrong_count",), "two cups, not three")
            assert rating.question == "How many cups are there?"
            assert rating.answer == "There are three cups on the table."
            assert [n for n, _ in rating.images] == ["table.png"]
            assert len(rating.images[0][1]) == 64
        finally:
            store.close()

        # The Test page of the same browser lists the set; chosen, it is the plan; Run runs it.
        page.goto(app.url.rstrip("/") + "/test")
        saved = page.locator("#test-saved-sets")
        expect(saved).to_be_visible(timeout=30_000)
        saved.locator("input").click()
        page.get_by_role("option", name="Cups · 1 row").click()
        plan = page.locator("#test-plan")
        expect(plan).to_contain_text("1 image × 1 question × 1 model = 1 request", timeout=30_000)
        expect(page.locator("#test-title").get_by_role("textbox")).to_have_value("Cups")
        page.locator("#test-run").click()
        expect(page.locator("#test-progress")).to_contain_text("Finished", timeout=60_000)
        asked = fake.requests[-1]
        assert len(asked.images()) == 1
        assert "How many cups are there?" in str(asked.json["messages"])
    finally:
        page.close()


def test_an_answer_restored_after_a_reload_can_be_rated_and_the_rating_taken_back(
        rated_app, fake: FakeOpenAI, browser, tmp_path):
    from playwright.sync_api import expect

    app, data = rated_app
    fake.script(Reply(text="A blue rectangle."))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        open_chat(page, app.url)
        ask(page, "What is it?", make_image(tmp_path / "blue.png", (90, 60), (20, 20, 220)))
        chat = page.locator("#chat")
        expect(chat).to_contain_text("A blue rectangle.", timeout=15_000)
        expect(page.locator("#chat-input textarea")).to_be_editable(timeout=10_000)
        page.reload()  # the kept conversation comes back (ui/page/keeping.py)
        expect(chat).to_contain_text("A blue rectangle.", timeout=30_000)

        chat.get_by_role("button", name="Like", exact=True).last.click()
        said = page.locator("#rate-said")
        expect(said).to_contain_text("Kept: 👍 on this answer.", timeout=10_000)
        expect(page.locator("#rate-reasons")).to_be_hidden()  # reasons are for what was wrong
        store = open_store(data)
        try:
            assert [(r.verdict, r.answer) for r in store.chat_ratings()] == [(1, "A blue rectangle.")]
            chat.get_by_role("button", name="Liked").last.click()  # the thumb again: taken back
            expect(said).to_contain_text("Your rating of this answer was removed.", timeout=10_000)
            assert store.chat_ratings() == []
        finally:
            store.close()
        page.locator("#rate-close").click()
        expect(page.locator("#rate-panel")).to_be_hidden()

        chat.get_by_role("button", name="Dislike").last.click()  # open again, then Undo the turn
        expect(page.locator("#rate-panel")).to_be_visible(timeout=10_000)
        chat.get_by_role("button", name="Undo").click()
        expect(chat).not_to_contain_text("A blue rectangle.", timeout=10_000)
        expect(page.locator("#rate-panel")).to_be_hidden()  # no panel for an answer that is gone
    finally:
        page.close()
