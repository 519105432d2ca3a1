"""The conversation is kept in the visitor's browser, per tab: a reload brings it back (with each
answer's model note, so an export after the reload still names the model), Clear can be undone,
each tab keeps its own model and chat, and a forged kept conversation restores nothing and reads
no server file. (ui/kept.py, ui/page/keeping.py, ui/page/kept_js.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import AppProcess, make_image
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_app import open_chat
from ui.i18n import say
from ui.kept import KeptError, reopened
from ui.paths import FileRefused, Roots

PREFIX = "glm-vision-chat-conversation:"
KEPT_JS = f"""(needle) => Object.entries(localStorage).some(([k, v]) =>
  k.startsWith({json.dumps(PREFIX)}) && v.includes(needle))"""


@pytest.fixture(autouse=True)
def _fresh(module_fake: FakeOpenAI) -> None:
    module_fake.reset()


def ask(page, question: str, *images: Path) -> None:
    """Ask, and wait until the answer has ended and the conversation is kept in the browser."""
    from playwright.sync_api import expect

    if images:
        page.locator("#chat-input input[type=file]").set_input_files([str(i) for i in images])
        expect(page.locator("#chat-input img")).to_have_count(len(images), timeout=10_000)
    box = page.locator("#chat-input textarea")
    box.fill(question)
    box.press("Enter")
    expect(page.locator("#chat")).to_contain_text(f"Echo: {question}", timeout=15_000)
    expect(box).to_be_editable(timeout=10_000)
    page.wait_for_function(KEPT_JS, arg=f"Echo: {question}", timeout=10_000)


def choose_model(page, model: str) -> None:
    from playwright.sync_api import expect

    page.locator("#model input").click()
    page.get_by_role("option", name=model, exact=True).click()
    expect(page.locator("#model input")).to_have_value(model)


def exported_json(page, folder) -> dict:
    """The JSON export, downloaded in one click from the row under the question box."""
    with page.expect_download(timeout=15_000) as saved:
        page.locator("#export-json").click()
    path = folder / saved.value.suggested_filename
    saved.value.save_as(path)
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_reload_brings_back_the_conversation_and_its_model_notes(app: AppProcess,
                                                                     module_fake: FakeOpenAI,
                                                                     browser, tmp_path):
    """Question, image, answer and the note naming the model that wrote it are back after a
    reload, without asking the model again; an export after the reload names the model."""
    from playwright.sync_api import expect

    image = make_image(tmp_path / "red.png", (64, 48), (220, 20, 20))
    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        choose_model(page, "GLM-4V")
        calls: list[str] = []
        page.on("request", lambda r: calls.append(r.url.split("?")[0]) if any(
            route in r.url for route in ("/queue/join", "/run/predict")) else None)
        ask(page, "What colour is this?", image)
        # The question, then the input unlocked when the answer ended; keeping the chat: nothing.
        assert [c.rsplit("/", 2)[-2:] for c in calls] == [["queue", "join"], ["run", "predict"]]
        asked = module_fake.request_count
        page.reload()
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Echo: What colour is this? | images: 1", timeout=30_000)
        expect(chat).to_contain_text("What colour is this?")
        expect(chat).to_contain_text("🏷️ GLM-4V")
        expect(chat.locator("[data-testid=user] img")).to_have_count(1)
        assert module_fake.request_count == asked  # restoring asked the model nothing
        records = [m["record"] for m in exported_json(page, tmp_path)["messages"] if "record" in m]
        assert [r["model"] for r in records] == ["GLM-4V"]
    finally:
        context.close()


def kept_questions(page) -> list[str]:
    """The questions of this tab's kept conversation, as the browser holds them."""
    return page.evaluate(f"""() => {{
      const id = JSON.parse(sessionStorage.getItem("glm-vision-chat-tab")).current;
      const kept = JSON.parse(localStorage.getItem({json.dumps(PREFIX)} + id));
      return kept.history.filter(m => m.role === "user")
        .map(m => m.content.filter(c => c.type === "text").map(c => c.text).join(" "));
    }}""")


def test_a_question_sent_just_before_a_reload_is_there_after_it(app: AppProcess,
                                                                 module_fake: FakeOpenAI,
                                                                 browser, tmp_path):
    """Enter, then a reload while the answer is still coming: the question and its image are
    back after the reload with a note, Retry answers it, and the conversation is then kept with
    the question once."""
    from playwright.sync_api import expect

    image = make_image(tmp_path / "blue.png", (64, 48), (20, 20, 220))
    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "An earlier question")
        module_fake.script(Reply(text="The first words of a slow answer", tps=2, tokens=400))
        page.locator("#chat-input input[type=file]").set_input_files([str(image)])
        expect(page.locator("#chat-input img")).to_have_count(1, timeout=10_000)
        box = page.locator("#chat-input textarea")
        box.fill("What is in this picture?")
        box.press("Enter")
        chat = page.locator("#chat")
        expect(chat).to_contain_text("The first words", timeout=15_000)  # answering, not ended
        page.reload()
        expect(chat).to_contain_text(say("en", "kept_unanswered"), timeout=30_000)
        expect(chat).to_contain_text("Echo: An earlier question")
        expect(chat).to_contain_text("What is in this picture?")
        expect(chat).not_to_contain_text("The first words")  # the partial answer is not kept
        expect(chat.locator("[data-testid=user] img")).to_have_count(1)
        chat.locator("button[aria-label='Retry']").last.click()
        expect(chat).to_contain_text("Echo: What is in this picture? | images: 1", timeout=15_000)
        expect(chat).not_to_contain_text(say("en", "kept_unanswered"))
        page.wait_for_function(KEPT_JS, arg="Echo: What is in this picture?", timeout=10_000)
        assert kept_questions(page) == ["An earlier question", "What is in this picture?"]
    finally:
        context.close()


def test_a_refused_question_stays_in_the_box_and_is_not_kept(app: AppProcess, browser):
    """A question the server refuses is not part of the conversation: after a reload the chat
    is as it was before it (the question was kept as it was sent, then replaced)."""
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "A fine question")
        box = page.locator("#chat-input textarea")
        box.fill("x" * 40_000)  # longer than a question may be (GLM_MAX_QUESTION_CHARS)
        box.press("Enter")
        expect(page.get_by_test_id("toast-text")).to_have_text(
            say("en", "question_too_long", {"count": 40_000, "limit": 32_000}), timeout=15_000)
        page.wait_for_function(f"() => !({KEPT_JS})('xxxxxxxxxx')", timeout=10_000)
        assert kept_questions(page) == ["A fine question"]
        page.reload()
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Echo: A fine question", timeout=30_000)
        expect(chat).not_to_contain_text(say("en", "kept_unanswered"))
    finally:
        context.close()


def test_clear_can_be_undone(app: AppProcess, browser):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "Keep this one")
        chat = page.locator("#chat")
        page.get_by_role("button", name="Clear").click()
        expect(chat).not_to_contain_text("Keep this one", timeout=10_000)
        undo = page.get_by_role("button", name="Conversation cleared — Undo")
        undo.click()
        expect(chat).to_contain_text("Echo: Keep this one", timeout=10_000)
        expect(undo).to_be_hidden()
        page.reload()  # the undone conversation is this tab's again
        expect(chat).to_contain_text("Echo: Keep this one", timeout=30_000)
    finally:
        context.close()


def test_a_cleared_conversation_can_be_reopened_from_the_list(app: AppProcess, browser):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "The first chat")
        page.get_by_role("button", name="Clear").click()
        ask(page, "The second chat")
        chat = page.locator("#chat")
        expect(page.get_by_role("button", name="Conversation cleared — Undo")).to_be_hidden()
        page.locator("#earlier input").click()
        page.get_by_role("option", name="The first chat", exact=False).click()
        expect(chat).to_contain_text("Echo: The first chat", timeout=10_000)
        expect(chat).not_to_contain_text("The second chat")
        page.reload()
        expect(chat).to_contain_text("Echo: The first chat", timeout=30_000)
        page.locator("#earlier input").click()
        expect(page.get_by_role("option", name="The second chat", exact=False)).to_be_visible()
    finally:
        context.close()


def keep_forged(page, history: list) -> None:
    """Write `history` as this tab's kept conversation, as anything with access to the site's
    storage could."""
    page.evaluate(f"""(history) => {{
      sessionStorage.setItem("glm-vision-chat-tab", JSON.stringify({{current: "forged"}}));
      localStorage.setItem({json.dumps(PREFIX)} + "forged",
                           JSON.stringify({{v: 1, saved: Date.now(), title: "x", history}}));
    }}""", history)


def test_a_forged_kept_conversation_restores_nothing_and_reads_no_file(app: AppProcess, browser,
                                                                         module_fake: FakeOpenAI,
                                                                         tmp_path):
    from playwright.sync_api import expect

    secret = make_image(tmp_path / "server-only.png", (40, 30), (1, 2, 3))
    context = browser.new_context()
    page = context.new_page()
    try:
        for path in ("/etc/passwd", str(secret), "/tmp/gradio/../../etc/hostname"):
            open_chat(page, app.url)
            keep_forged(page, [
                {"role": "user", "content": [{"type": "file", "file": {"path": path}},
                                             {"type": "text", "text": "FORGED QUESTION"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "FORGED ANSWER"}]}])
            page.reload()
            expect(page.locator("#kept-notice")).to_have_text(say("en", "kept_refused"),
                                                              timeout=30_000)
            chat = page.locator("#chat")
            expect(chat).to_contain_text("Which quarter had the highest revenue")  # the empty chat
            assert "FORGED" not in chat.inner_text()
        assert module_fake.request_count == 0
        copies = [p for p in tmp_path.parent.rglob("server-only*") if "gradio" in p.parts]
        assert copies == []
    finally:
        context.close()


def test_an_expired_image_comes_back_as_a_note_and_the_words_stay(app: AppProcess, browser,
                                                                    tmp_path):
    from playwright.sync_api import expect

    image = make_image(tmp_path / "gone.png", (64, 48))
    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        ask(page, "What was here?", image)
        kept = page.evaluate(f"""() => Object.entries(localStorage)
          .filter(([k]) => k.startsWith({json.dumps(PREFIX)})).map(([, v]) => v)[0]""")
        [path] = [c["file"]["path"] for m in json.loads(kept)["history"] for c in m["content"]
                  if c["type"] == "file"]
        Path(path).unlink()  # as GLM_FILE_TTL does
        page.reload()
        chat = page.locator("#chat")
        expect(chat).to_contain_text("Echo: What was here?", timeout=30_000)
        expect(chat).to_contain_text("The image gone.png is no longer on the server")
        expect(chat.locator("[data-testid=user] img")).to_have_count(0)
    finally:
        context.close()


def test_each_tab_keeps_its_own_model_and_conversation(app: AppProcess, module_fake: FakeOpenAI,
                                                       browser):
    """Two tabs of one browser, two models: after reloading each, each has its own model and its
    own chat; a new tab starts from the choices saved last, with an empty chat."""
    from playwright.sync_api import expect

    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    try:
        open_chat(first, app.url)
        open_chat(second, app.url)
        choose_model(first, "GLM-4V")
        ask(first, "Asked in the first tab")
        choose_model(second, "glm-4v-flash")
        ask(second, "Asked in the second tab")
        assert [r.json["model"] for r in module_fake.requests] == ["GLM-4V", "glm-4v-flash"]
        for page, model, mine, other in ((first, "GLM-4V", "first", "second"),
                                         (second, "glm-4v-flash", "second", "first")):
            page.reload()
            chat = page.locator("#chat")
            expect(chat).to_contain_text(f"Echo: Asked in the {mine} tab", timeout=30_000)
            expect(page.locator("#model input")).to_have_value(model)
            assert f"Asked in the {other} tab" not in chat.inner_text()
        third = context.new_page()
        open_chat(third, app.url)
        expect(third.locator("#model input")).to_have_value("glm-4v-flash")
        expect(third.locator("#chat")).to_contain_text("Which quarter had the highest revenue")
    finally:
        context.close()


def test_when_the_browser_storage_is_full_the_newest_stays_and_the_page_says_so(app: AppProcess,
                                                                                  browser):
    """Conversations stay under their share of the browser's storage: the oldest other ones go
    to make room for the newest, the page says so, and the settings can still be saved."""
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        page.evaluate(f"""() => {{  // three old conversations of 1.1 million characters each
          for (const n of [1, 2, 3]) localStorage.setItem({json.dumps(PREFIX)} + "old" + n,
            JSON.stringify({{v: 1, saved: n, title: "old " + n, history: [{{role: "user",
              content: [{{type: "text", text: "x".repeat(1100000)}}]}}]}}));
        }}""")
        ask(page, "Asked when the storage was full")
        expect(page.locator("#kept-notice")).to_have_text(
            say("en", "kept_evicted", {"count": 1}), timeout=10_000)
        kept = page.evaluate(f"""() => Object.keys(localStorage)
          .filter(k => k.startsWith({json.dumps(PREFIX)})).map(k => k.slice({len(PREFIX)})).sort()""")
        assert "old1" not in kept and {"old2", "old3"} < set(kept) and len(kept) == 3  # the oldest went
        stored = ("() => Object.entries(localStorage)"
                  ".find(([k]) => k.includes('glm-vision-chat-settings'))?.[1] ?? null")
        before = page.evaluate(stored)
        temperature = page.get_by_label("number input for Temperature")
        temperature.fill("0.3")
        temperature.press("Enter")
        page.wait_for_function(f"(before) => ({stored})() !== before", arg=before)
    finally:
        context.close()


def test_a_conversation_too_long_for_the_browser_keeps_its_latest_turns(app: AppProcess, browser):
    """Three turns of 1.2 million characters do not fit the conversations' share of storage:
    the latest two are kept, and the notice counts the messages that were left out."""
    context = browser.new_context()
    page = context.new_page()
    try:
        open_chat(page, app.url)
        page.wait_for_function("() => window.glmKept")  # the page's keeper has started
        result = page.evaluate("""() => {
          const turn = (n) => [{role: "user", content: [{type: "text", text: "question " + n}]},
                               {role: "assistant", content: [{type: "text", text: "y".repeat(1200000)}]}];
          const r = window.glmKept.save("long", [...turn(1), ...turn(2), ...turn(3)]);
          const kept = JSON.parse(localStorage.getItem("glm-vision-chat-conversation:long")).history;
          return [r, kept.filter(m => m.role === "user").map(m => m.content[0].text),
                  window.glmKept.said(r)];
        }""")
    finally:
        context.close()
    assert result == [{"trimmed": 2, "evicted": 0, "failed": False}, ["question 2", "question 3"],
                      say("en", "kept_trimmed", {"count": 2})]


def test_a_forged_kept_conversation_sent_by_hand_gets_one_sentence_for_every_path(
        app: AppProcess, module_fake: FakeOpenAI, tmp_path: Path) -> None:
    """The restore events over raw HTTP, as a script could call them: every server path, in every
    shape a history item can name a file, is refused with the same sentence, and nothing is
    opened or copied into Gradio's cache."""
    from tests.test_attacks import server_files
    from tests.test_security import Page

    page = Page(app)
    answers = set()
    for path in server_files(tmp_path).values():
        for item in ({"type": "file", "file": {"path": path, "meta": {"_type": "gradio.FileData"}}},
                     {"type": "file", "file": {"path": path}}, {"path": path},
                     {"type": "component", "component": "file", "value": {"path": path},
                      "constructor_args": {}, "props": {}}):
            kept = json.dumps([{"role": "user", "content": [item, {"type": "text", "text": "q"}]}])
            for name, data in (("reopen", [kept]), ("reopen_chosen", [None, kept])):
                final = page.run(name, data)
                said = json.dumps(final, ensure_ascii=False)
                assert final["success"] is False and "TOP-SECRET" not in said, said
                answers.add(final["output"]["error"])
    assert answers == {say("en", "kept_refused")}
    assert module_fake.request_count == 0
    copies = [p for p in tmp_path.parent.rglob("*") if p.name in ("server-only.png", "secret.txt")
              and "gradio" in p.parts]
    assert copies == []


# --- ui/kept.py ---------------------------------------------------------------------------------


def test_reopened_rebuilds_plain_parts_and_keeps_the_record(tmp_path: Path) -> None:
    image = make_image(tmp_path / "cat.png")
    record = 'answer-record:{"model":"GLM-4V","choices":{}}'
    kept = [{"role": "user", "content": [{"type": "file", "file": {"path": str(image), "url": "x"}},
                                         {"type": "text", "text": "<b>hi</b>"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "fine"}],
             "metadata": {"title": "🏷️ GLM-4V", "id": record, "status": "pending", "x": 1}},
            {"role": "system", "content": "no"}]
    with pytest.raises(KeptError):
        reopened(json.dumps(kept), Roots([tmp_path]), "en")
    history = reopened(json.dumps(kept[:2]), Roots([tmp_path]), "en")
    assert history == [{"role": "user", "content": [{"path": str(image)}, "&LT;b>hi&LT;/b>"]},
                       {"role": "assistant", "content": "fine",
                        "metadata": {"title": "🏷️ GLM-4V", "id": record, "status": "done"}}]


@pytest.mark.parametrize("item", [{"path": "/etc/passwd"}, {"type": "file", "file": {"path": "x"}},
                                  {"type": "component", "component": "file",
                                   "value": {"path": "/etc/passwd"}},
                                  {"type": "text", "text": "hi", "deep": [{"path": "/etc/hosts"}]}])
def test_reopened_refuses_the_whole_conversation_for_one_foreign_path(tmp_path: Path, item) -> None:
    kept = [{"role": "user", "content": [{"type": "text", "text": "hi"}, item]}]
    with pytest.raises(FileRefused):
        reopened(json.dumps(kept), Roots([tmp_path]), "en")


@pytest.mark.parametrize("text", ["", "{", "[1]", '{"role": "user"}', json.dumps([{"role": "user",
                                  "content": [{"type": "text", "text": 5}]}])])
def test_reopened_refuses_what_is_not_a_conversation(tmp_path: Path, text: str) -> None:
    with pytest.raises(KeptError):
        reopened(text, Roots([tmp_path]), "en")


def test_an_expired_upload_becomes_a_note_in_the_page_language(tmp_path: Path) -> None:
    kept = [{"role": "user", "content": [{"type": "file", "file": {"path": str(tmp_path / "a.png")}},
                                         {"type": "text", "text": "what?"}]}]
    [message, note] = reopened(json.dumps(kept), Roots([tmp_path]), "zh")
    assert message["content"] == [say("zh", "kept_image_gone", {"name": "a.png"}), "what?"]
    assert note["content"] == say("zh", "kept_unanswered")  # never answered: Retry asks again
