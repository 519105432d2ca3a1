"""The launched app, as scripts and people meet it: `/ask` through gradio_client, and the page in
headless Chromium (upload, ask, watch the answer stream, follow up)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.conftest import TEST_KEY, AppProcess, decode_image, make_image, unspoken_labels
from tests.fake_openai import FakeOpenAI, Reply


@pytest.fixture(autouse=True)
def _fresh(module_fake: FakeOpenAI) -> None:
    module_fake.reset()


def open_chat(page, url: str):
    """Open the app and return its question box once the page is ready."""
    from playwright.sync_api import expect

    page.goto(url)
    box = page.locator("#chat-input textarea")
    expect(box).to_be_visible(timeout=30_000)
    return box


def download(page, button: str, folder):
    """Click a download button; the file the browser saves, kept under its own name in `folder`."""
    with page.expect_download(timeout=15_000) as saved:
        page.locator(button).click()
    path = folder / saved.value.suggested_filename
    saved.value.save_as(path)
    return path


def ask(page, question: str, *images) -> None:
    """Attach images (waiting for their thumbnails), type the question, press Enter."""
    from playwright.sync_api import expect

    if images:
        page.locator("#chat-input input[type=file]").set_input_files([str(i) for i in images])
        expect(page.locator("#chat-input img")).to_have_count(len(images), timeout=10_000)
    box = page.locator("#chat-input textarea")
    box.fill(question)
    box.press("Enter")


def test_typing_and_adjusting_settings_send_nothing_to_the_server(app: AppProcess, browser,
                                                                  tmp_path):
    """The attached image uploads (and is prepared) once; keystrokes in the question or the system
    prompt and moving a slider stay in the page (a change listener on the server would make a
    request for each), and the settings are still remembered in the browser."""
    from playwright.sync_api import expect

    image = make_image(tmp_path / "cat.png", (64, 48))
    page = browser.new_page()
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/gradio_api/" in r.url
            and "/gradio_api/file=" not in r.url else None)
    try:
        box = open_chat(page, app.url)
        page.locator("#chat-input input[type=file]").set_input_files(str(image))
        expect(page.locator("#chat-input img")).to_have_count(1, timeout=10_000)
        uploads = [u for u in calls if "/gradio_api/upload" in u]
        assert len(uploads) == 1
        app.wait_for_log(r"upload: preparing 1 stored file")  # ui/page/middleware.py saw it
        calls.clear()
        prompt = page.get_by_role("textbox", name="System prompt")
        prompt.press_sequentially("Be brief.")
        temperature = page.get_by_label("number input for Temperature")
        temperature.fill("0.3")
        temperature.press("Enter")
        box.press_sequentially("What is in this picture?")
        expect(box).to_have_value("What is in this picture?")
        page.wait_for_function("() => Object.keys(localStorage).some(k => k.includes('chat-settings'))")
        box.press("Enter")
        expect(page.locator("#chat")).to_contain_text("Echo: What is in this picture?", timeout=10_000)
        assert calls and "/gradio_api/queue/join" in calls[0]  # Enter was the first request
    finally:
        page.close()


def test_enter_sends_once_shift_enter_and_an_ime_enter_do_not(app: AppProcess, browser):
    """A plain Enter sends the question, once. Shift+Enter starts a new line and an Enter that
    confirms an IME candidate (Chinese input) sends nothing."""
    from playwright.sync_api import expect

    page = browser.new_page()
    joins: list[str] = []
    page.on("request", lambda r: joins.append(r.url) if "/gradio_api/queue/join" in r.url else None)
    try:
        box = open_chat(page, app.url)
        box.fill("第一行")
        box.press("Shift+Enter")
        box.press_sequentially("second line")
        expect(box).to_have_value("第一行\nsecond line")
        box.evaluate("""(box) => box.dispatchEvent(new KeyboardEvent("keydown", {
          key: "Enter", isComposing: true, bubbles: true, cancelable: true}))""")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        expect(box).to_have_value("第一行\nsecond line")
        assert joins == []
        box.press("Enter")
        expect(page.locator("#chat")).to_contain_text("Echo: 第一行", timeout=10_000)
        expect(page.locator("#stats")).to_contain_text("tokens", timeout=10_000)
        assert len(joins) == 1  # neither Shift+Enter nor the IME Enter sent; Enter sent once
    finally:
        page.close()

def test_a_large_upload_is_stored_byte_for_byte(app: AppProcess):
    """A 3 MB file comes through the upload route unchanged."""
    import os

    import httpx

    data = os.urandom(3 * 1024 * 1024 + 12345)
    with httpx.Client(base_url=app.url, timeout=30) as http:
        stored = http.post("gradio_api/upload", files=[("files", ("big.bin", data))])
        stored.raise_for_status()
        (path,) = stored.json()
        assert http.get(f"gradio_api/file={path}").content == data


def test_after_an_answer_the_next_question_can_simply_be_typed(app: AppProcess,
                                                                module_fake: FakeOpenAI, browser):
    """The input is locked while an answer streams, which takes the keyboard focus from it; when the
    answer ends the focus is back, so typing goes into the input. A visitor who clicked into
    another field meanwhile keeps typing there."""
    from playwright.sync_api import expect

    page = browser.new_page()
    try:
        box = open_chat(page, app.url)
        page.keyboard.type("First question")
        page.keyboard.press("Enter")
        expect(page.locator("#chat")).to_contain_text("Echo: First question", timeout=10_000)
        expect(box).to_be_focused(timeout=10_000)
        page.keyboard.type("Follow up")
        expect(box).to_have_value("Follow up")

        module_fake.script(Reply(text="A slower answer", ttft=1.5))
        page.keyboard.press("Enter")
        expect(page.locator("#chat-input button.stop-button")).to_be_visible(timeout=10_000)
        prompt = page.get_by_role("textbox", name="System prompt")
        prompt.click()
        expect(box).to_be_editable(timeout=10_000)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        page.keyboard.type("Be brief.")
        expect(prompt).to_have_value("Be brief.")
        expect(box).to_have_value("")
    finally:
        page.close()


def test_dots_stand_in_for_the_answer_until_it_starts(app: AppProcess, module_fake: FakeOpenAI,
                                                     browser):
    """Between Enter and the answer's first word (seconds with an image on a real endpoint) three
    pulsing dots stand where the answer will appear; they go when it starts or when Stop ends
    the wait, and a finished chat has none."""
    from playwright.sync_api import expect

    dots = "() => getComputedStyle(document.querySelector('#chat .message-wrap'), '::after').content"
    page = browser.new_page()
    try:
        box = open_chat(page, app.url)
        chat = page.locator("#chat")
        module_fake.script(Reply(ttft=60))
        box.fill("A slow one?")
        box.press("Enter")
        expect(chat).to_contain_text("A slow one?", timeout=10_000)
        page.wait_for_function(f"() => ({dots})().includes('•')", timeout=10_000)
        page.locator("#chat-input button.stop-button").click()
        expect(chat).to_contain_text("Stopped", timeout=10_000)
        expect(box).to_be_editable(timeout=10_000)
        assert page.evaluate(dots) == "none"

        module_fake.script(Reply(text="First words, then more.", ttft=1.5))
        box.fill("A quick one?")
        box.press("Enter")
        page.wait_for_function(f"() => ({dots})().includes('•')", timeout=10_000)
        expect(chat).to_contain_text("First words", timeout=10_000)
        assert page.evaluate(dots) == "none"  # the answer has its own bubble now
        expect(box).to_be_editable(timeout=10_000)
        assert page.evaluate(dots) == "none"
    finally:
        page.close()


def test_a_waiting_visitor_sees_the_queue_position_at_the_input(module_fake: FakeOpenAI, browser,
                                                                 tmp_path_factory):
    """With one answer at a time (GLM_CONCURRENCY=1), a second visitor's question waits: the
    queue position shows at their input (where they just pressed Enter), not over the chat,
    and the question is answered once the first visitor's answer ends."""
    from playwright.sync_api import expect

    from tests.conftest import start_app, stop_app

    single = start_app({"OPENAI_BASE_URL": module_fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                        "GLM_CONCURRENCY": "1"}, tmp_path_factory.mktemp("single"))
    first, second = browser.new_page(), browser.new_page()
    try:
        module_fake.script(Reply(ttft=60))
        open_chat(first, single.url)
        ask(first, "Who is first?")
        expect(first.locator("#chat-input button.stop-button")).to_be_visible(timeout=10_000)
        open_chat(second, single.url)
        ask(second, "Who is second?")
        expect(second.locator("#chat-input")).to_contain_text("queue: 1/1", timeout=10_000)
        expect(second.locator("#chat")).not_to_contain_text("queue")
        first.locator("#chat-input button.stop-button").click()
        expect(second.locator("#chat")).to_contain_text("Echo: Who is second?", timeout=15_000)
        expect(second.locator("#chat-input")).not_to_contain_text("queue")
    finally:
        first.close()
        second.close()
        stop_app(single)


BROKEN_WORDS_JS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("#chat [data-testid=bot] :is(th, td)")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      for (const match of text.nodeValue.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(text, match.index);
        range.setEnd(text, match.index + match[0].length);
        if (range.getClientRects().length > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""


def test_a_table_on_a_phone_keeps_its_words_whole(app: AppProcess, module_fake: FakeOpenAI, browser):
    """At phone width a table in an answer breaks lines between words, never inside one ("qua" /
    "rter"); one too wide for the bubble scrolls sideways instead."""
    from playwright.sync_api import expect

    module_fake.script(Reply(text="| quarter | revenue (M CNY) | change | comment |\n|---|---|---|---|\n"
                                  "| Q1 | 12.4 | +21.8 % | strongest quarter of the year |\n"))
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        box = open_chat(page, app.url)
        box.fill("Make a table")
        box.press("Enter")
        expect(page.locator("#chat [data-testid=bot] table")).to_be_visible(timeout=10_000)
        expect(page.locator("#stats")).to_contain_text("tokens", timeout=10_000)
        assert page.evaluate(BROKEN_WORDS_JS) == []
        width = page.evaluate("() => { const t = document.querySelector('#chat [data-testid=bot] table');"
                              " const box = t.parentElement; box.scrollLeft = 10000;"
                              " return [box.scrollLeft > 0, t.getBoundingClientRect().right"
                              " <= box.getBoundingClientRect().right + 1]; }")
        assert width == [True, True]  # wider than the bubble: its last column can be scrolled to
    finally:
        page.close()


@pytest.mark.parametrize(("motion", "animation"), [("reduce", "none"), ("no-preference", "waiting")])
def test_the_dots_keep_still_for_visitors_who_ask_for_reduced_motion(app: AppProcess,
                                                                       module_fake: FakeOpenAI,
                                                                       browser, motion, animation):
    from playwright.sync_api import expect

    wrap = "document.querySelector('#chat .message-wrap')"
    page = browser.new_page(reduced_motion=motion)
    try:
        box = open_chat(page, app.url)
        module_fake.script(Reply(ttft=60))
        box.fill("A slow one?")
        box.press("Enter")
        page.wait_for_function(f"() => {wrap} && getComputedStyle({wrap}, '::after').content.includes('•')",
                               timeout=10_000)
        assert page.evaluate(f"() => getComputedStyle({wrap}, '::after').animationName") == animation
        page.locator("#chat-input button.stop-button").click()
        expect(box).to_be_editable(timeout=10_000)
    finally:
        page.close()


def test_ask_api_streams_an_answer_about_two_images(app: AppProcess, module_fake: FakeOpenAI,
                                                    tmp_path):
    red = make_image(tmp_path / "red.png", (30, 20), (255, 0, 0))
    blue = make_image(tmp_path / "blue.png", (20, 30), (0, 0, 255))
    module_fake.script(Reply(tps=40))  # the echo over ~0.3 s: more than one update, however busy
    client = Client(app.url, verbose=False)
    job = client.submit([handle_file(str(red)), handle_file(str(blue))], "Compare them",
                        "glm-4.5v", 0.2, 256, "Be brief.", api_name="/ask")
    outputs = list(job)
    assert outputs[-1] == "Echo: Compare them | images: 2 | turn: 1"
    assert len(outputs) > 1 and all(outputs[-1].startswith(o) for o in outputs)  # it streamed
    body = module_fake.requests[-1].json
    assert body["model"] == "glm-4.5v" and body["max_tokens"] == 256
    assert body["temperature"] == pytest.approx(0.2)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    sizes = [decode_image(u).size for u in module_fake.requests[-1].images()]
    assert sizes == [(30, 20), (20, 30)]


def test_ask_api_error_is_one_sentence(app: AppProcess, module_fake: FakeOpenAI):
    module_fake.script(Reply(status=401, error_code="1001", error_message="令牌已过期"))
    client = Client(app.url, verbose=False)
    with pytest.raises(Exception, match="API key was refused"):
        client.predict([], "hi", api_name="/ask")


def test_start_up_objects_are_kept_out_of_garbage_collection(app: AppProcess):
    """Full collection passes stop every stream; what start-up built is not in them."""
    found = app.wait_for_log(r"ready; (\d+) start-up objects kept out of garbage collection")
    assert int(found.group(1)) > 100_000


def test_only_ask_is_public_api_and_the_key_is_not_in_it(app: AppProcess):
    client = Client(app.url, verbose=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert list(endpoints) == ["/ask"]
    import urllib.request

    for path in ("config", "gradio_api/info", ""):
        with urllib.request.urlopen(app.url + path) as response:
            assert TEST_KEY not in response.read().decode()


def test_browser_upload_ask_stream_and_follow_up(app: AppProcess, module_fake: FakeOpenAI,
                                                 browser, tmp_path):
    from playwright.sync_api import expect

    module_fake.script(Reply(text="A red square on a white page, drawn as a test image.", tps=30))
    image = make_image(tmp_path / "square.png", (120, 90), (220, 20, 20))
    page = browser.new_page()
    try:
        box = open_chat(page, app.url)
        ask(page, "What is in this image?", image)  # waits for the thumbnail first

        chat = page.locator("#chat")
        expect(chat).to_contain_text("What is in this image?", timeout=10_000)
        expect(chat.locator("img")).to_have_count(1)
        # Streaming: the first words show before the whole answer has arrived.
        expect(chat).to_contain_text("A red", timeout=10_000)
        partial = chat.inner_text()
        assert "drawn as a test image." not in partial
        expect(chat).to_contain_text("drawn as a test image.", timeout=15_000)
        expect(page.locator("#stats")).to_contain_text("tokens", timeout=10_000)

        expect(box).to_be_editable(timeout=10_000)
        ask(page, "And what about the left one?")
        echo = re.compile(r"Echo: And what about the left one\? \| images: 1 \| turn: 2")
        expect(chat).to_contain_text(echo, timeout=15_000)
        follow_up = module_fake.requests[-1].json["messages"]
        assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
        assert follow_up[1]["content"] == "A red square on a white page, drawn as a test image."
    finally:
        page.close()


def test_browser_shows_thinking_block_and_drawn_box(app: AppProcess, module_fake: FakeOpenAI,
                                                    browser, tmp_path):
    from playwright.sync_api import expect

    module_fake.script(Reply(reasoning="The square sits in the middle.",
                             text="It is here <|begin_of_box|>[250,250,750,750]<|end_of_box|>."))
    image = make_image(tmp_path / "white.png", (300, 200), (255, 255, 255))
    page = browser.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "Where is the square?", image)
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Thinking", timeout=15_000)
        expect(chat).to_contain_text("It is here [1]", timeout=15_000)
        expect(chat.locator("img[src*='boxes-']")).to_have_count(1, timeout=15_000)
        assert "begin_of_box" not in chat.inner_text()
    finally:
        page.close()


@pytest.mark.parametrize(("locale", "model_label", "placeholder", "example"), [
    ("zh-CN", "模型", "针对图片提问", "哪个季度收入最高"),
    ("en-US", "Model", "Ask about your images", "Which quarter had the highest revenue"),
])
def test_page_speaks_the_browser_language(app: AppProcess, browser, locale, model_label,
                                          placeholder, example):
    from playwright.sync_api import expect

    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    try:
        box = open_chat(page, app.url)
        expect(box).to_have_attribute("placeholder", re.compile(placeholder))
        expect(page.locator("#model")).to_contain_text(model_label)
        expect(page.locator("#chat")).to_contain_text(example, timeout=10_000)
        # What a screen reader says for each field: a label of ours, never Gradio's class name
        # ("MultimodalTextbox" was read out for the question box); in Chinese, Chinese.
        assert unspoken_labels(page, locale) == []
    finally:
        context.close()


@pytest.mark.parametrize(("locale", "share", "download"), [
    ("zh-CN", "分享", "下载"), ("fr-FR", "Partager", "Télécharger"), ("en-US", "Share", "Download")])
def test_no_image_in_the_chat_offers_share_in_any_language(app: AppProcess, browser, tmp_path,
                                                             locale, share, download):
    """Gradio gives each image in the chat a Share button (an upload to Hugging Face) labelled in
    the browser's language; none may show, whatever the language, while Download stays."""
    from playwright.sync_api import expect

    image = make_image(tmp_path / "cat.png", (64, 48))
    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "What is it?", image)
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Echo: What is it? | images: 1", timeout=15_000)
        expect(chat.get_by_role("button", name=download)).to_be_visible()
        expect(chat.locator(f"button[aria-label='{share}']")).to_have_count(1)  # rendered...
        expect(chat.locator(f"button[aria-label='{share}']:visible")).to_have_count(0)  # ...not shown
    finally:
        context.close()


@pytest.mark.parametrize(("locale", "sentence"), [
    ("zh-CN", "“scan.png”超过了 20 MB 的上传上限：请发送较小的文件。"),
    ("en-US", "“scan.png” is larger than the 20 MB upload limit: send a smaller file."),
])
def test_a_file_over_the_upload_limit_is_refused_in_the_page_language(app: AppProcess, browser,
                                                                      tmp_path, locale, sentence):
    """Gradio's page refuses it before uploading, in English: the visitor reads our sentence."""
    from playwright.sync_api import expect

    big = tmp_path / "scan.png"
    with big.open("wb") as f:  # 21 MB: over the default GLM_MAX_UPLOAD_MB of 20
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(21 * 1024 * 1024)
    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    try:
        open_chat(page, app.url)
        page.locator("#chat-input input[type=file]").set_input_files(str(big))
        expect(page.get_by_test_id("toast-text")).to_have_text(sentence, timeout=10_000)
        expect(page.locator("#chat-input img")).to_have_count(0)
    finally:
        context.close()


def test_settings_survive_a_reload(app: AppProcess, browser):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(app.url)
        prompt = page.get_by_role("textbox", name="System prompt")
        expect(prompt).to_be_visible(timeout=30_000)
        stored = ("() => Object.entries(localStorage)"
                  ".find(([k]) => k.includes('glm-vision-chat-settings'))?.[1] ?? null")
        prompt.fill("Answer like a pirate.")
        prompt.blur()
        page.wait_for_function(f"() => ({stored})() !== null")
        before = page.evaluate(stored)
        temperature = page.get_by_label("number input for Temperature")
        temperature.fill("0.3")
        temperature.press("Enter")
        page.wait_for_function(f"(before) => ({stored})() !== before", arg=before)
        tab = "() => sessionStorage.getItem('glm-vision-chat-settings-tab')"
        kept_in_tab = page.evaluate(tab)
        page.reload()
        try:
            expect(page.get_by_role("textbox", name="System prompt")).to_have_value(
                "Answer like a pirate.", timeout=30_000)
        except AssertionError as error:  # what the tab kept, and what the server said meanwhile
            raise AssertionError(f"kept in the tab before: {kept_in_tab}; after: "
                                 f"{page.evaluate(tab)}\napp log:\n{app.log()[-3000:]}") from error
        expect(page.get_by_label("number input for Temperature")).to_have_value("0.3")
    finally:
        context.close()


def test_export_then_import_continues_the_conversation(app: AppProcess, module_fake: FakeOpenAI,
                                                       browser, tmp_path):
    from playwright.sync_api import expect

    image = make_image(tmp_path / "blue.png", (64, 64), (0, 0, 255))
    page = browser.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "What colour is it?", image)
        expect(page.locator("#stats")).to_contain_text("tokens", timeout=15_000)
        exported = download(page, "#export-json", tmp_path)
        assert exported.suffix == ".json"
        assert TEST_KEY not in exported.read_text()
    finally:
        page.close()

    page = browser.new_page()
    try:
        page.goto(app.url)
        expect(page.locator("#chat-input textarea")).to_be_visible(timeout=30_000)
        with page.expect_file_chooser() as chooser:
            page.locator("#import").click()
        chooser.value.set_files(str(exported))
        expect(page.locator("#chat")).to_contain_text("Echo: What colour is it?", timeout=10_000)
        page.locator("#chat-input textarea").fill("And now?")
        page.locator("#chat-input textarea").press("Enter")
        expect(page.locator("#chat")).to_contain_text("turn: 2", timeout=15_000)
        [sent] = module_fake.requests[-1].images()
        assert decode_image(sent).convert("RGB").getpixel((5, 5)) == (0, 0, 255)
    finally:
        page.close()


def test_without_a_key_the_page_says_how_to_set_one(module_fake: FakeOpenAI, browser,
                                                    tmp_path_factory):
    from playwright.sync_api import expect

    from tests.conftest import start_app, stop_app

    keyless = start_app({"OPENAI_BASE_URL": module_fake.base_url},
                        tmp_path_factory.mktemp("keyless"))
    page = browser.new_page()
    try:
        page.goto(keyless.url)
        expect(page.locator("#no-key")).to_contain_text("set OPENAI_API_KEY in .env", timeout=30_000)
        box = page.locator("#chat-input textarea")
        box.fill("Hello?")
        box.press("Enter")
        expect(page.locator("#chat")).to_contain_text("No API key", timeout=15_000)
        expect(box).to_be_editable(timeout=10_000)
        assert module_fake.requests == []
        assert "Traceback" not in keyless.log()
    finally:
        page.close()
        stop_app(keyless)


def test_browser_stop_retry_undo_clear_and_examples(app: AppProcess, module_fake: FakeOpenAI,
                                                    browser):
    from playwright.sync_api import expect

    page = browser.new_page()
    try:
        page.goto(app.url)
        box = page.locator("#chat-input textarea")
        chat = page.locator("#chat")
        expect(box).to_be_visible(timeout=30_000)

        # One click on an example asks it, image and all.
        page.get_by_role("button", name=re.compile("Select example 1")).click()
        expect(chat).to_contain_text("Echo: Which quarter had the highest revenue", timeout=15_000)
        expect(chat.locator("img[alt='chart.png'], img[src*='chart']").first).to_be_visible()
        expect(box).to_be_editable(timeout=10_000)

        # Stop mid-stream: the partial answer stays, the input is usable again.
        module_fake.script(Reply(text=" ".join(f"word{i}" for i in range(300)), tps=20))
        box.fill("Tell me a long story")
        box.press("Enter")
        expect(chat).to_contain_text("word3", timeout=15_000)
        page.locator("#chat-input button.stop-button").click()
        expect(chat).to_contain_text("Stopped", timeout=10_000)
        expect(box).to_be_editable(timeout=10_000)
        stopped = chat.inner_text()
        assert "word3" in stopped and "word299" not in stopped
        assert "Error" not in stopped

        # Retry asks the same question again and replaces the answer.
        page.get_by_role("button", name="Retry").last.click()
        expect(chat).to_contain_text("Echo: Tell me a long story", timeout=15_000)
        assert module_fake.requests[-1].last_user_text() == "Tell me a long story"
        expect(box).to_be_editable(timeout=10_000)

        # Undo removes the last turn and puts its text back in the input.
        page.get_by_role("button", name="Undo").last.click()
        expect(box).to_have_value("Tell me a long story", timeout=10_000)
        expect(chat).not_to_contain_text("Echo: Tell me a long story")

        # Clear empties the conversation and its stats line.
        box.press("Enter")
        expect(page.locator("#stats")).to_contain_text("tokens", timeout=15_000)
        page.get_by_role("button", name="Clear").click()
        expect(chat).not_to_contain_text("Echo:", timeout=10_000)
        expect(page.locator("#stats")).to_have_text("", timeout=10_000)
    finally:
        page.close()


def test_bring_your_own_key_stays_in_the_visitor_browser(module_fake: FakeOpenAI, browser,
                                                         tmp_path_factory):
    from playwright.sync_api import expect

    from tests.conftest import start_app, stop_app

    visitor_key = "sk-visitor-own-key-9a8b7c"
    byok = start_app({"OPENAI_BASE_URL": module_fake.base_url, "GLM_BYOK": "true"},
                     tmp_path_factory.mktemp("byok"))
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(byok.url)
        key_box = page.locator("#api-key input")
        expect(key_box).to_be_visible(timeout=30_000)
        box = page.locator("#chat-input textarea")
        box.fill("Without a key?")
        box.press("Enter")
        expect(page.locator("#chat")).to_contain_text("Enter your API key", timeout=15_000)
        expect(page.locator("#api-key")).to_contain_text("obfuscated but not encrypted")
        assert module_fake.requests == []

        key_box.fill(visitor_key)
        key_box.blur()
        page.wait_for_function(
            "() => Object.keys(localStorage).some(k => k.includes('glm-vision-chat-key'))")
        expect(box).to_be_editable(timeout=10_000)
        box.fill("With my key")
        box.press("Enter")
        # The unanswered first question stays in the conversation and goes along with this one.
        expect(page.locator("#chat")).to_contain_text("Echo: Without a key? With my key",
                                                      timeout=15_000)
        assert module_fake.requests[-1].headers["authorization"] == f"Bearer {visitor_key}"

        page.reload()
        expect(page.locator("#api-key input")).to_have_value(visitor_key, timeout=30_000)
        stored = page.evaluate("() => JSON.stringify(localStorage)")
        assert visitor_key not in stored  # obfuscated in the browser (the page says: not encrypted)
        assert visitor_key not in byok.log()

        # "Don't remember my key": gone from the browser's storage, kept for this tab only.
        page.locator("#remember-key input").uncheck()
        page.wait_for_function("() => sessionStorage.getItem('glm-vision-chat-key-tab') !== null")
        page.reload()
        expect(page.locator("#api-key input")).to_have_value(visitor_key, timeout=30_000)
        expect(page.locator("#remember-key input")).not_to_be_checked()
        other_tab = context.new_page()
        other_tab.goto(byok.url)
        expect(other_tab.locator("#remember-key input")).to_be_checked(timeout=30_000)
        expect(other_tab.locator("#api-key input")).to_have_value("")
        other_tab.close()
    finally:
        context.close()
        stop_app(byok)


def test_browser_paste_image_share_off_and_limits_follow_the_model(app: AppProcess, browser):
    import base64
    from pathlib import Path

    from playwright.sync_api import expect

    from tests.conftest import ROOT

    chart = base64.b64encode(Path(ROOT / "assets" / "chart.png").read_bytes()).decode()
    page = browser.new_page()
    try:
        box = open_chat(page, app.url)
        # Paste from the clipboard, as Ctrl+V with a copied screenshot does.
        page.evaluate("""(b64) => {
          const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], 'pasted.png', {type: 'image/png'}));
          document.querySelector('#chat-input textarea').dispatchEvent(
            new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""", chart)
        expect(page.locator("#chat-input img")).to_have_count(1, timeout=10_000)
        box.fill("What is this?")
        box.press("Enter")
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Echo: What is this? | images: 1", timeout=15_000)
        expect(chat.get_by_role("button", name="Share")).to_have_count(0)
        expect(chat.locator("button[title='Share']:visible")).to_have_count(0)

        # The answer-length slider follows the model: glm-4v-flash allows 1024 tokens.
        tokens = page.get_by_label("number input for Max answer length (tokens)")
        expect(tokens).to_have_attribute("max", "8192")
        page.locator("#model input").click()
        page.get_by_role("option", name="glm-4v-flash").click()
        expect(tokens).to_have_attribute("max", "1024", timeout=10_000)
        expect(tokens).to_have_value("1024")
    finally:
        page.close()


def test_each_answer_names_its_model_through_retry_and_both_downloads(app: AppProcess,
                                                                      module_fake: FakeOpenAI,
                                                                      browser, tmp_path):
    """Two questions with two models and temperatures, then Retry with a third model: the page
    names the right model beside each answer, both answers to the retried question stay
    visible, and the Markdown and JSON downloads name model, temperature and tokens per answer."""
    import json

    from playwright.sync_api import expect

    module_fake.script(Reply(text="Answer one.", tokens=5), Reply(text="Answer two.", tokens=6),
                       Reply(text="Answer three.", tokens=7))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})

    def choose(model: str, temperature: str) -> None:
        page.locator("#model input").click()
        page.get_by_role("option", name=model, exact=True).click()
        box = page.get_by_label("number input for Temperature")
        box.fill(temperature)
        box.press("Enter")

    try:
        box = open_chat(page, app.url)
        choose("GLM-4V-Plus", "0.7")
        ask(page, "First question?")
        expect(page.locator("#chat")).to_contain_text("Answer one.", timeout=15_000)
        expect(box).to_be_editable(timeout=10_000)
        choose("GLM-4V", "0.2")
        ask(page, "Second question?")
        expect(page.locator("#chat")).to_contain_text("Answer two.", timeout=15_000)
        expect(box).to_be_editable(timeout=10_000)
        choose("glm-4v-flash", "0.2")
        page.locator("#chat button[aria-label='Retry']").last.click()
        expect(page.locator("#chat")).to_contain_text("Answer three.", timeout=15_000)
        expect(box).to_be_editable(timeout=10_000)

        chat = page.locator("#chat")
        expect(chat).to_contain_text("🏷️ GLM-4V-Plus")
        expect(chat).to_contain_text("🏷️ GLM-4V · temperature 0.2")
        expect(chat).to_contain_text("🏷️ glm-4v-flash · temperature 0.2")
        expect(chat).to_contain_text("Earlier answer, by GLM-4V")  # the retried answer stays
        page.screenshot(path=str(tmp_path / "provenance.png"))
        assert [r.json["model"] for r in module_fake.requests] == ["GLM-4V-Plus", "GLM-4V",
                                                                  "glm-4v-flash"]

        texts = {path.suffix: path.read_text("utf-8") for path in
                 (download(page, "#export-markdown", tmp_path), download(page, "#export-json", tmp_path))}
    finally:
        page.close()

    records = [m["record"] for m in json.loads(texts[".json"])["messages"] if "record" in m]
    assert [(r["model"], r["choices"]["temperature"], r["completion_tokens"]) for r in records] == \
        [("GLM-4V-Plus", 0.7, 5), ("GLM-4V", 0.2, 6), ("glm-4v-flash", 0.2, 7)]
    markdown = texts[".md"]
    for model, answer, tokens in (("GLM-4V-Plus", "Answer one.", 5), ("GLM-4V", "Answer two.", 6),
                                  ("glm-4v-flash", "Answer three.", 7)):
        assert f"🏷️ {model}" in markdown and answer in markdown and f"+ {tokens} tokens" in markdown
    assert "temperature 0.2" in markdown


def test_the_readme_ask_example_asks_about_every_image_the_app_accepts(app: AppProcess,
                                                                       module_fake: FakeOpenAI,
                                                                       tmp_path, monkeypatch,
                                                                       capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = re.search(r"## The `/ask` API.*?```python\n(.+?)```", readme, re.S)
    assert example, "README has no /ask example"
    folder = tmp_path / "test-images"
    folder.mkdir()
    make_image(folder / "a.jpg", fmt="JPEG")
    make_image(folder / "b.PNG")
    make_image(folder / "c.webp", fmt="WEBP")
    (folder / "notes.txt").write_text("not an image")
    monkeypatch.chdir(tmp_path)
    exec(example.group(1).replace("http://127.0.0.1:7860/", app.url), {})
    printed = capsys.readouterr().out
    answers = [line for line in printed.splitlines() if not line.startswith("Loaded as API")]
    assert [line.split()[0] for line in answers] == ["a.jpg", "b.PNG", "c.webp"]
    assert all("images: 1" in line for line in answers)  # each asked with its image
    assert "notes.txt" not in printed


def test_what_the_model_saw_in_the_page_counts_the_images_that_went_out(app: AppProcess,
                                                                         module_fake: FakeOpenAI,
                                                                         browser, tmp_path):
    """Turn 2 resends turn 1's two images with its own: the note says 3 images, as the request
    carried. When the endpoint refuses the request, no note claims a model saw anything."""
    from playwright.sync_api import expect

    images = [make_image(tmp_path / f"shot{i}.png", (60 + i, 40), (40 * i, 90, 200)) for i in range(3)]
    page = browser.new_page()
    try:
        box = open_chat(page, app.url)
        chat = page.locator("#chat")
        ask(page, "First two?", images[0], images[1])
        expect(chat).to_contain_text("Echo: First two? | images: 2", timeout=15_000)
        expect(box).to_be_editable(timeout=10_000)
        ask(page, "And this one?", images[2])
        expect(chat).to_contain_text("Echo: And this one? | images: 3", timeout=15_000)
        assert len(module_fake.requests[-1].images()) == 3
        seen = chat.get_by_text(re.compile(r"What the model saw: \d+ images?"))
        expect(seen).to_have_count(2)
        expect(seen.last).to_contain_text("What the model saw: 3 images")
        expect(box).to_be_editable(timeout=10_000)

        module_fake.script(Reply(status=401, error_code="1001", error_message="令牌已过期"))
        ask(page, "Once more?", images[0])
        expect(chat).to_contain_text("API key was refused", timeout=15_000)
        expect(seen).to_have_count(2)  # nothing reached a model: no third note
    finally:
        page.close()
