"""The page as a person meets it in headless Chromium: a refused send, the page's language in
Gradio's own toasts, the conversation's tools in reach, attached images named, and a phone."""

from __future__ import annotations

import pytest

from tests.conftest import AppProcess, make_image
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_app import ask, download, open_chat
from ui.i18n import say

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _fresh(module_fake: FakeOpenAI) -> None:
    module_fake.reset()


def in_locale(browser, locale: str, **options):
    return browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale},
                               **options)


# What covers the middle of the question box: the topmost element there.
COVERING_JS = """() => {
  const box = document.querySelector("#chat-input textarea").getBoundingClientRect();
  const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return top ? top.tagName.toLowerCase() : null;
}"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_refused_send_leaves_nothing_over_the_question_box(app: AppProcess, browser, tmp_path,
                                                             locale):
    """Enter on an empty box is refused in a toast; no red "Error" pill stays over the box, so
    what is typed next is what the person sees there."""
    from playwright.sync_api import expect

    lang = locale[:2]
    context = in_locale(browser, locale, viewport=DESKTOP)
    page = context.new_page()
    try:
        box = open_chat(page, app.url)
        box.press("Enter")
        expect(page.get_by_test_id("toast-text")).to_have_text(say(lang, "empty"), timeout=10_000)
        box.fill("What is in this picture?")
        page.screenshot(path=str(tmp_path / "refused.png"))
        for word in ("Error", "错误"):  # Gradio's pill, in either language
            expect(page.locator("#chat-input").get_by_text(word, exact=True)).to_be_hidden()
        assert page.evaluate(COVERING_JS) == "textarea"
    finally:
        context.close()


# The MultimodalTextbox's own drop handler, given a file it does not take (from a file manager).
DROP_JS = """(name) => {
  const data = new DataTransfer();
  data.items.add(new File(["not an image"], name, {type: "text/plain"}));
  document.querySelector("#chat-input .full-container").dispatchEvent(
    new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
}"""


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_toasts_speak_the_page_language(app: AppProcess, browser, tmp_path, locale):
    """A refused send, a file picked that is not an image and one dropped: each toast, its title
    included, is in the page's language (Gradio writes its own in English)."""
    from playwright.sync_api import expect

    lang = locale[:2]
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    context = in_locale(browser, locale, viewport=DESKTOP)
    page = context.new_page()
    try:
        box = open_chat(page, app.url)
        toast = page.get_by_test_id("toast-body")
        box.press("Enter")
        expect(toast.get_by_test_id("toast-text")).to_have_text(say(lang, "empty"), timeout=10_000)
        assert toast.inner_text().split("\n")[0].strip() == say(lang, "toast_error")
        page.get_by_test_id("toast-close").click()
        expect(toast).to_have_count(0)

        page.locator("#chat-input input[type=file]").set_input_files(str(notes))
        expect(toast.get_by_test_id("toast-text")).to_have_text(
            say(lang, "file_not_image", {"names": "notes.txt"}), timeout=10_000)
        page.evaluate(DROP_JS, "notes.txt")
        expect(toast.get_by_test_id("toast-text")).to_have_text(
            [say(lang, "file_not_image", {"names": "notes.txt"}),
             say(lang, "files_not_images", {"count": 1})], timeout=10_000)
        page.screenshot(path=str(tmp_path / "toasts.png"))
        shown = toast.inner_text()
        assert shown.split("\n")[0].strip() == say(lang, "toast_error")
        if lang == "zh":
            for english in ("Error", "rejected", "Accepted", "Invalid", "allowed"):
                assert english not in shown
        expect(page.locator("#chat-input img")).to_have_count(0)
        page.get_by_test_id("toast-close").click()
        expect(toast).to_have_count(0)

        # Import: a file that is not JSON, then JSON that is not an export.
        not_export = tmp_path / "list.json"
        not_export.write_text("[1, 2]")
        for chosen, sentence in ((notes, say(lang, "file_not_json", {"names": "notes.txt"})),
                                 (not_export, say(lang, "import_wrong_format"))):
            with page.expect_file_chooser() as chooser:
                page.locator("#import").click()
            chooser.value.set_files(str(chosen))
            expect(toast.get_by_test_id("toast-text").last).to_have_text(sentence, timeout=10_000)
        assert toast.inner_text().split("\n")[0].strip() == say(lang, "toast_error")
        for word in ("Error", "错误"):  # and no pill over the chat the import would have filled
            expect(page.locator("#chat").get_by_text(word, exact=True)).to_be_hidden()
    finally:
        context.close()


def test_the_conversation_downloads_in_one_click_from_the_chat(app: AppProcess,
                                                               module_fake: FakeOpenAI, browser,
                                                               tmp_path):
    """At 1280×800, after an answer, Download Markdown, Download JSON and Import are on screen
    right under the chat; one click saves the conversation."""
    from playwright.sync_api import expect

    module_fake.script(Reply(text="A red square.", tokens=4))
    context = in_locale(browser, "en-US", viewport=DESKTOP)
    page = context.new_page()
    try:
        box = open_chat(page, app.url)
        ask(page, "What is it?", make_image(tmp_path / "red.png"))
        expect(page.locator("#chat")).to_contain_text("A red square.", timeout=15_000)
        expect(box).to_be_editable(timeout=10_000)
        page.screenshot(path=str(tmp_path / "desktop.png"))
        for button, words in (("#export-markdown", "Download Markdown"),
                              ("#export-json", "Download JSON"), ("#import", "Import JSON")):
            expect(page.locator(button)).to_have_text(words)
            expect(page.locator(button)).to_be_in_viewport(ratio=1)
        assert page.evaluate("() => scrollY") == 0
        saved = download(page, "#export-markdown", tmp_path)
        assert saved.suffix == ".md"
        text = saved.read_text("utf-8")
        assert "What is it?" in text and "A red square." in text and "red.png" in text
    finally:
        context.close()


AFTER_JS = """(element) => {
  const after = getComputedStyle(element, "::after");
  return {text: after.content, display: after.display};
}"""


def test_attached_images_are_framed_and_named(app: AppProcess, browser, tmp_path):
    """A mostly white screenshot attached to the question shows a frame and its file's name."""
    from playwright.sync_api import expect

    white = make_image(tmp_path / "white-screenshot.png", (1280, 800), (252, 252, 252))
    photo = make_image(tmp_path / "a very long name for a holiday photo.jpg", (64, 48))
    context = in_locale(browser, "en-US", viewport=DESKTOP)
    page = context.new_page()
    try:
        open_chat(page, app.url)
        page.locator("#chat-input input[type=file]").set_input_files([str(white), str(photo)])
        images = page.locator("#chat-input img")
        expect(images).to_have_count(2, timeout=10_000)
        names = page.locator("#chat-input [role=listitem]")
        expect(names.first).to_have_attribute("title", "white-screenshot.png", timeout=10_000)
        expect(names.last).to_have_attribute("title", "a very long name for a holiday photo.jpg")
        page.screenshot(path=str(tmp_path / "thumbnails.png"))
        for i, name in enumerate(("white-screenshot.png", "a very long name for a holiday photo.jpg")):
            assert names.nth(i).evaluate(AFTER_JS) == {"text": f'"{name}"', "display": "block"}
            frame = images.nth(i).evaluate("(img) => { const s = getComputedStyle(img.parentElement);"
                                           " return [s.borderTopWidth, s.borderTopStyle]; }")
            assert frame == ["1px", "solid"]
            size = images.nth(i).bounding_box()
            assert size is not None and size["width"] >= 56 and size["height"] >= 56
            name_box = names.nth(i).bounding_box()
            assert name_box is not None and name_box["width"] <= 80  # cut short, not the row
    finally:
        context.close()


def test_on_a_phone_the_settings_open_above_the_chat(app: AppProcess, browser, tmp_path):
    """At 390×844 a Settings button sits above the conversation; it opens Model and Temperature
    there, on screen. On a desktop the settings stay open on the right, without the button."""
    from playwright.sync_api import expect

    context = in_locale(browser, "en-US", viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        open_chat(page, app.url)
        button = page.locator("#settings-button")
        expect(button).to_be_in_viewport(ratio=1)
        expect(page.locator("#model")).to_be_hidden()
        button.click()
        expect(page.locator("#model")).to_be_in_viewport(ratio=1)
        expect(page.get_by_label("number input for Temperature")).to_be_in_viewport()
        page.screenshot(path=str(tmp_path / "phone.png"))
        chat_top = page.locator("#chat").bounding_box()["y"]  # type: ignore[index]
        assert page.locator("#model").bounding_box()["y"] < chat_top  # type: ignore[index]
        page.locator("#model input").click()
        page.get_by_role("option", name="GLM-4V", exact=True).click()
        expect(page.locator("#model input")).to_have_value("GLM-4V")
        button.click()
        expect(page.locator("#model")).to_be_hidden()
    finally:
        context.close()

    page = browser.new_page(viewport=DESKTOP)
    try:
        open_chat(page, app.url)
        expect(page.locator("#settings-button")).to_be_hidden()
        expect(page.locator("#model")).to_be_in_viewport(ratio=1)
        chat, model = page.locator("#chat").bounding_box(), page.locator("#model").bounding_box()
        assert chat is not None and model is not None and model["x"] > chat["x"] + chat["width"]
        expect(page.locator("#chat-input")).to_be_in_viewport(ratio=1)
    finally:
        page.close()


def test_a_waiting_visitor_reads_the_queue_position_in_the_page_language(
        module_fake: FakeOpenAI, browser, tmp_path_factory):
    """With one answer at a time, a Chinese visitor's question waits: Gradio's "queue: 1/1" at
    the input reads in Chinese, then the answer comes."""
    from playwright.sync_api import expect

    from tests.conftest import TEST_KEY, start_app, stop_app

    single = start_app({"OPENAI_BASE_URL": module_fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                        "GLM_CONCURRENCY": "1"}, tmp_path_factory.mktemp("single"))
    context = in_locale(browser, "zh-CN")
    first, second = browser.new_page(), context.new_page()
    try:
        module_fake.script(Reply(ttft=60))
        open_chat(first, single.url)
        ask(first, "Who is first?")
        expect(first.locator("#chat-input button.stop-button")).to_be_visible(timeout=10_000)
        open_chat(second, single.url)
        ask(second, "Who is second?")
        waiting = say("zh", "queue_position", {"position": 1, "size": 1})
        expect(second.locator("#chat-input")).to_contain_text(waiting, timeout=10_000)
        expect(second.locator("#chat-input")).not_to_contain_text("queue")
        first.locator("#chat-input button.stop-button").click()
        expect(second.locator("#chat")).to_contain_text("Echo: Who is second?", timeout=15_000)
        expect(second.locator("#chat-input")).not_to_contain_text(waiting)
    finally:
        first.close()
        context.close()
        stop_app(single)
