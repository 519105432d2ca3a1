"""The Chatbots' copy buttons put on the clipboard what was written, not the history's escapes:
the chat keeps every message made inert (`<` as `&LT;`, ui/sanitize.py), and Gradio's buttons copy
the history (ui/page/scripts.py COPY_JS undoes it on the way). In headless Chromium with clipboard
access, against the fake endpoint; the JS mapping is also checked against restore() itself."""

from __future__ import annotations

import pytest

from tests.conftest import AppProcess, make_image
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_app import ask, open_chat
from ui.page.scripts import RESTORE_JS
from ui.sanitize import restore, sanitize

ANSWER = 'Use <b>bold</b> here: a < b && c, "quoted", and a literal &LT; too.'
QUESTION = "Is <i>this</i> & &AMP; that a tag?"
CODE = "```python\nprint('&LT;b>')\n```"
SENTINEL = "(nothing copied yet)"
# The clipboard once it holds something other than the sentinel (the copy is written async).
COPIED_JS = f"""async () => {{
  const text = await (window.__clipboard || navigator.clipboard).readText();
  return text !== {SENTINEL!r} ? text : null;
}}"""


@pytest.fixture(autouse=True)
def _fresh(module_fake: FakeOpenAI) -> None:
    module_fake.reset()


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"],
                                  viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def copy(page, button) -> str:
    """Click a copy button; what it put on the clipboard."""
    page.evaluate(f"(window.__clipboard || navigator.clipboard).writeText({SENTINEL!r})")
    button.click()
    return page.wait_for_function(COPIED_JS, timeout=10_000).json_value()


def test_the_copy_buttons_copy_what_the_model_wrote(app: AppProcess, module_fake: FakeOpenAI,
                                                    page):
    """The answer's copy button gives the answer as the model sent it (not the notes that share its
    bubble: what it saw, its model), the question's gives the question as typed, "copy all" gives both; a code
    block's own copy button copies the code as shown."""
    from playwright.sync_api import expect

    module_fake.script(Reply(text=ANSWER), Reply(text=CODE))
    box = open_chat(page, app.url)
    ask(page, QUESTION)
    expect(page.locator("#chat")).to_contain_text("a literal &LT; too.", timeout=15_000)
    expect(box).to_be_editable(timeout=10_000)
    copies = page.locator("#chat button[aria-label='Copy message']")
    expect(copies).to_have_count(2)

    assert copy(page, copies.first) == QUESTION
    assert copy(page, copies.last) == ANSWER  # the notes before it (what it saw, its model) left out
    everything = copy(page, page.locator("#chat button[aria-label='Copy conversation']"))
    assert everything.startswith(f"user: {QUESTION}\n\n"), everything
    assert everything.endswith(f"\n\nassistant: {ANSWER}"), everything

    # Not a copy button of the Chatbot: the code's own, which copies the code as the page shows it.
    ask(page, "And in code?")
    code = page.locator("#chat .message-row").last.locator("pre code")
    expect(code).to_contain_text("&LT;b>", timeout=15_000)
    code.hover()
    code_copy = page.locator("#chat .message-row").last.locator("button.copy_code_button")
    assert copy(page, code_copy) == "print('&LT;b>')"


def test_a_compare_pane_copies_what_the_model_wrote(app: AppProcess, module_fake: FakeOpenAI,
                                                    page, tmp_path):
    """With an image: the "what the model saw" note goes too."""
    from playwright.sync_api import expect

    module_fake.default = Reply(text=ANSWER)
    page.goto(app.url.rstrip("/") + "/compare")
    page.locator("#compare-input input[type=file]").set_input_files(
        str(make_image(tmp_path / "seen.png")))
    expect(page.locator("#compare-input img")).to_have_count(1, timeout=10_000)
    page.locator("#compare-input textarea").fill(QUESTION)
    page.locator("#compare-input textarea").press("Enter")
    expect(page.locator("#compare-vote-a")).to_be_visible(timeout=30_000)
    for pane in (0, 1):
        copied = copy(page, page.locator(f"#compare-chat-{pane} button[aria-label='Copy message']").last)
        assert copied == ANSWER, copied  # the pane's note ("🏷️ Model A") left out


def test_without_the_clipboard_api_the_copy_button_still_copies_what_was_written(
        app: AppProcess, module_fake: FakeOpenAI, page):
    """A page served over plain http to another machine has no navigator.clipboard: Gradio copies
    by selecting a hidden textarea and execCommand("copy") instead."""
    from playwright.sync_api import expect

    page.add_init_script("window.__clipboard = navigator.clipboard;"
                         "delete Navigator.prototype.clipboard;")
    module_fake.script(Reply(text=ANSWER))
    box = open_chat(page, app.url)
    assert page.evaluate("'clipboard' in navigator") is False
    ask(page, QUESTION)
    expect(page.locator("#chat")).to_contain_text("a literal &LT; too.", timeout=15_000)
    expect(box).to_be_editable(timeout=10_000)
    copies = page.locator("#chat button[aria-label='Copy message']")
    assert copy(page, copies.first) == QUESTION
    assert copy(page, copies.last) == ANSWER


TRICKY = ["&LT;", "&AMP;LT;", "&AMP;AMP;LT;", "&LT;LT;", "&&LT;;", "&lt; &LT &QUOT;&QUOT;",
          "&AMP;&LT;&QUOT;", "a < b && c", "&amp;LT;", "$$a &LT; b$$", "`&LT;`", "", "&"]


def test_the_page_restores_exactly_as_restore_does(browser):
    """COPY_JS's mapping and restore() agree, on escapes of escapes too, and undo sanitize()."""
    page = browser.new_page()
    try:
        texts = TRICKY + [sanitize(t) for t in [*TRICKY, ANSWER, QUESTION, CODE]]
        restored = page.evaluate(f"(texts) => texts.map({RESTORE_JS})", texts)
    finally:
        page.close()
    assert restored == [restore(t) for t in texts]
    assert restored[-3:-1] == [ANSWER, QUESTION]
