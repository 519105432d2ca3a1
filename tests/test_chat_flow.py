"""The chat's handlers end to end through the real openai SDK against the local fake endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import TEST_KEY, decode_image, make_image
from tests.fake_openai import FakeOpenAI, Reply
from ui.conversation import THINKING_TITLE, user_message
from ui.page.chat import Chat
from ui.settings import Settings


def settings_for(fake: FakeOpenAI, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                              "GLM_MODELS": "glm-4.5v,GLM-4V-Plus", "GLM_RETRIES": "0"}
    values.update(overrides)
    return Settings.from_env(values)


def respond(chat: Chat, history: list[dict], *, model: str = "glm-4.5v", temperature: float = 0.7,
            max_tokens: int = 512, system_prompt: str = "") -> list[tuple[list[dict], str]]:
    """Run one answer and collect every (history, stats) the page would receive."""

    async def run() -> list[tuple[list[dict], str]]:
        updates = []
        async for chat_history, stats in chat.respond(
                history, model, temperature, max_tokens, system_prompt, 1.0, "balanced", "all",
                False, "", None):
            updates.append(([dict(m) for m in chat_history], stats))
        return updates

    return LOOP.run_until_complete(run())


LOOP = asyncio.new_event_loop()  # one loop for the module: the SDK's connection pool lives in it


@pytest.fixture(autouse=True, scope="module")
def _close_loop():
    yield
    LOOP.close()


def answer_of(history: list[dict]) -> str:
    message = history[-1]
    assert message["role"] == "assistant"
    return message["content"] if isinstance(message["content"], str) else str(message["content"])


def test_image_question_streams_the_answer_and_sends_what_the_user_chose(fake, tmp_path):
    red = make_image(tmp_path / "red.png", (80, 60), (255, 0, 0))
    green = make_image(tmp_path / "green.jpg", (40, 30), (0, 255, 0), "JPEG")
    chat = Chat(settings_for(fake))
    history = [user_message("Which one is red?", [str(red), str(green)])]
    updates = respond(chat, history, model="glm-4.5v", temperature=0.3, max_tokens=300)

    final, stats = updates[-1]
    assert answer_of(final).startswith("Echo: Which one is red?")
    assert len(updates) >= 2  # streamed: the page saw the answer grow
    assert "tokens" in stats
    [sent] = fake.requests
    body = sent.json
    assert body["model"] == "glm-4.5v" and body["stream"] is True
    assert body["temperature"] == pytest.approx(0.3) and body["max_tokens"] == 300
    images = [decode_image(url).convert("RGB") for url in sent.images()]
    assert [im.size for im in images] == [(80, 60), (40, 30)]
    assert images[0].getpixel((1, 1))[0] > 240 and images[1].getpixel((1, 1))[1] > 240
    assert sent.headers["authorization"] == f"Bearer {TEST_KEY}"


def test_follow_up_sends_the_whole_history_with_its_images(fake, tmp_path):
    img = make_image(tmp_path / "a.png")
    chat = Chat(settings_for(fake))
    history = [user_message("What is this?", [str(img)])]
    history = respond(chat, history)[-1][0]
    history = [*history, user_message("and what about the left one?", [])]
    final = respond(chat, history, system_prompt="Answer briefly.")[-1][0]

    assert "turn: 2" in answer_of(final)
    body = fake.requests[-1].json
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert body["messages"][1]["content"][0]["type"] == "image_url"
    assert body["messages"][2]["content"].startswith("Echo: What is this?")
    assert len(fake.requests[-1].images()) == 1


def test_only_images_not_yet_prepared_are_prepared_off_the_event_loop(fake, tmp_path, monkeypatch):
    """Prepared on attach: the question leaves without a thread hop. Not prepared (or many):
    the work goes to a worker thread, so other people's answers keep streaming meanwhile."""
    paths = [make_image(tmp_path / f"{i}.png", (40, 30), (40 * i, 0, 0)) for i in range(6)]
    hops = []
    real = asyncio.to_thread
    monkeypatch.setattr(asyncio, "to_thread", lambda fn, *a, **k: (
        hops.append(fn.__name__) if fn.__name__ == "build" else None) or real(fn, *a, **k))
    chat = Chat(settings_for(fake, GLM_MODELS="glm-4.5v"))

    respond(chat, [user_message("new ones", [str(paths[0]), str(paths[1])])])
    assert len(hops) == 1  # not prepared yet: in a thread
    LOOP.run_until_complete(chat.prewarm({"files": [str(p) for p in paths[2:]]}, "balanced"))
    hops.clear()
    respond(chat, [user_message("prepared on attach", [str(p) for p in paths[2:6]])])
    assert hops == []  # all four ready: built right away
    respond(chat, [user_message("many", [str(p) for p in paths])])
    assert len(hops) == 1  # six images to encode: a thread again
    sent = [decode_image(url).convert("RGB").getpixel((0, 0))[0] for url in fake.requests[-1].images()]
    assert sent == [0, 40, 80, 120, 160, 200]


def test_an_uploaded_image_is_prepared_before_anyone_asks(fake, tmp_path, monkeypatch):
    """Gradio's upload route stores the file; the app starts preparing it right then (an API
    client has no attach step), and a file that is no image costs nothing but its upload."""
    import httpx

    from tests.conftest import free_port
    from ui.imaging import payload as images
    from ui.page import middleware
    from ui.page.layout import build_demo, launch_kwargs

    started = []
    real = middleware.prepare_uploads
    monkeypatch.setattr(middleware, "prepare_uploads", lambda paths, quality: started.append(
        (list(paths), quality, real(paths, quality))))
    settings = settings_for(fake, GLM_IMAGE_QUALITY="fast")
    demo = build_demo(settings)
    port = free_port()
    demo.launch(**{**launch_kwargs(settings), "server_port": port}, prevent_thread_lock=True)
    photo = make_image(tmp_path / "photo.jpg", (2400, 1800))
    note = tmp_path / "note.json"
    note.write_text("{}")
    try:
        files = [("files", (p.name, p.read_bytes())) for p in (photo, note)]
        stored = httpx.post(f"http://127.0.0.1:{port}/gradio_api/upload", files=files).json()
        [(paths, quality, futures)] = started
        assert (paths, quality) == (stored, "fast")
        for future in futures:
            assert future.result(timeout=60) is None  # errors wait until the file is asked about
        monkeypatch.setattr(images, "_prepare", lambda *a: pytest.fail("prepared twice"))
        assert images.prepare(stored[0], "fast").sent_size == (1024, 768)
        with pytest.raises(images.NotPrepared):
            images.prepare(stored[1], "fast", cached_only=True)
    finally:
        demo.close()


def test_seed_model_names_get_bare_base64_newer_ones_data_urls(fake, tmp_path):
    img = make_image(tmp_path / "a.png")
    chat = Chat(settings_for(fake))
    respond(chat, [user_message("q", [str(img)])], model="GLM-4V-Plus")
    respond(chat, [user_message("q", [str(img)])], model="glm-4.5v")
    plus, v45 = (r.images()[0] for r in fake.requests)
    assert not plus.startswith("data:") and v45.startswith("data:image/")
    assert fake.requests[0].json["model"] == "GLM-4V-Plus"  # sent exactly as configured


def test_temperature_zero_is_greedy_decoding_for_glm(fake):
    chat = Chat(settings_for(fake))
    respond(chat, [user_message("hi", [])], model="glm-4.5v", temperature=0)
    body = fake.requests[-1].json
    assert body["do_sample"] is False and "temperature" not in body


def test_reasoning_streams_into_a_thinking_block_that_is_not_sent_back(fake):
    fake.script(Reply(text="The answer.", reasoning="Let me look closely."))
    chat = Chat(settings_for(fake))
    updates = respond(chat, [user_message("hi", [])])
    final = updates[-1][0]
    thinking = [m for m in final if (m.get("metadata") or {}).get("title") == THINKING_TITLE]
    assert thinking and thinking[0]["content"] == "Let me look closely."
    assert thinking[0]["metadata"]["status"] == "done"
    assert any((m.get("metadata") or {}).get("status") == "pending"
               for h, _ in updates[:-1] for m in h)  # shown live while it streamed
    respond(chat, [*final, user_message("more", [])])
    assert "Let me look closely." not in str(fake.requests[-1].json["messages"])


@pytest.mark.parametrize("wire", ["sse_variants", "ignore_stream"])
def test_other_servers_stream_formats_give_the_same_answer(fake, wire):
    """CRLF lines, keep-alive comments, event/id fields, JSON over two data lines; or a proxy
    that ignores stream=true and sends one whole completion."""
    fake.script(Reply(text="Two red apples.", reasoning="Counting.", fault=wire))
    chat = Chat(settings_for(fake))
    final, stats = respond(chat, [user_message("how many?", [])])[-1]
    assert answer_of(final) == "Two red apples."
    assert [m["content"] for m in final
            if (m.get("metadata") or {}).get("title") == THINKING_TITLE] == ["Counting."]
    assert "tokens" in stats and "Interrupted" not in str(final)


def test_endpoint_error_keeps_the_question_and_says_what_to_do(fake, tmp_path):
    fake.script(Reply(status=429, error_code="1113", error_message="余额不足"))
    chat = Chat(settings_for(fake))
    history = [user_message("What is this?", [str(make_image(tmp_path / "a.png"))])]
    final = respond(chat, history)[-1][0]
    assert final[0] == history[0]
    notice = final[-1]
    assert "balance" in notice["metadata"]["title"]
    assert len(fake.requests) == 1  # 1113 is never retried


def test_no_key_gives_one_sentence_and_sends_nothing(fake):
    settings = settings_for(fake, OPENAI_API_KEY="")
    final = respond(Chat(settings), [user_message("hi", [])])[-1][0]
    assert "OPENAI_API_KEY" in final[-1]["metadata"]["title"]
    assert fake.requests == []


def test_think_tags_in_content_become_the_thinking_block(fake):
    fake.script(Reply(text="<think>The user wants the colour.</think>It is red."))
    final = respond(Chat(settings_for(fake)), [user_message("colour?", [])])[-1][0]
    thinking = [m for m in final if (m.get("metadata") or {}).get("title", "").startswith("💭")]
    assert thinking[0]["content"] == "The user wants the colour."
    assert final[-1] == {"role": "assistant", "content": "It is red."}


def test_grounding_box_markers_never_reach_the_page(fake, tmp_path):
    img = make_image(tmp_path / "a.png", (200, 100))
    fake.script(Reply(text="The square is at <|begin_of_box|>[100,200,400,800]<|end_of_box|> here."))
    updates = respond(Chat(settings_for(fake)), [user_message("where?", [str(img)])])
    for history, _ in updates:
        assert "<|" not in str(history) and "begin_of" not in str(history)
    answer = [m for m in updates[-1][0] if m["role"] == "assistant" and not m.get("metadata")]
    assert answer[0]["content"] == "The square is at **[1]** `[100, 200, 400, 800]` here."


def test_a_strict_proxy_rejecting_stream_options_still_gets_an_answer(tmp_path):
    with FakeOpenAI(strict=True) as strict:
        chat = Chat(settings_for(strict, GLM_MODELS="some-proxy-model"))
        final, stats = respond(chat, [user_message("hi", [])], model="some-proxy-model")[-1]
        assert answer_of(final).startswith("Echo: hi")
        first, second = strict.requests
        assert "stream_options" in first.json and "stream_options" not in second.json
        assert "tokens" in stats  # usage arrived anyway


def test_unknown_models_ask_for_usage_glm_models_do_not(fake):
    chat = Chat(settings_for(fake, GLM_MODELS="glm-4.5v,gpt-4o"))
    respond(chat, [user_message("hi", [])], model="gpt-4o")
    respond(chat, [user_message("hi", [])], model="glm-4.5v")
    openai_style, glm = fake.requests
    assert openai_style.json["stream_options"] == {"include_usage": True}
    assert "stream_options" not in glm.json


def test_what_the_model_saw_is_shown_and_not_sent_back(fake, tmp_path):
    big = tmp_path / "big.png"
    from PIL import Image

    Image.new("RGB", (5000, 1000), (10, 200, 10)).save(big)
    final = respond(Chat(settings_for(fake)), [user_message("q", [str(big)])])[-1][0]
    [seen] = [m for m in final if (m.get("metadata") or {}).get("title", "").startswith("🖼️")]
    assert "5000×1000" in seen["content"] and "downscaled" in seen["content"]
    # An opaque RGB PNG sent as JPEG: its colours were not touched, its format was.
    assert "re-encoded as JPEG" in seen["content"] and "colour" not in seen["content"]
    assert "1 image" in seen["metadata"]["title"]
    respond(Chat(settings_for(fake)), [*final, user_message("again", [])])
    assert "5000×1000" not in str(fake.requests[-1].json["messages"])


def test_grounding_boxes_are_drawn_on_the_image_the_model_saw(fake, tmp_path):
    from PIL import Image

    img = make_image(tmp_path / "white.png", (400, 200), (255, 255, 255))
    fake.script(Reply(text="Here: <|begin_of_box|>[250,250,750,750]<|end_of_box|>"))
    final = respond(Chat(settings_for(fake)), [user_message("where?", [str(img)])])[-1][0]
    [drawn] = [m for m in final if (m.get("metadata") or {}).get("title", "").startswith("📍")]
    assert drawn["metadata"]["title"] == "📍 1 box from the answer, drawn on the image"
    with Image.open(drawn["content"]["path"]) as picture:
        rgb = picture.convert("RGB")
        assert rgb.size == (400, 200)
        assert rgb.getpixel((200, 50)) != (255, 255, 255)  # top edge of the box, 0.25 × 200
        assert rgb.getpixel((200, 100)) == (255, 255, 255)  # inside the box stays untouched
        assert rgb.getpixel((20, 20)) == (255, 255, 255)  # outside too
    respond(Chat(settings_for(fake)), [*final, user_message("thanks", [])])
    assert len(fake.requests[-1].images()) == 1  # the drawing is not sent to the model


def test_stop_ends_only_that_sessions_answer_and_keeps_what_arrived():
    from tests.conftest import Browser

    with FakeOpenAI(default=Reply(tokens=300, tps=200)) as fake:  # each answer takes ~1.5 s
        chat = Chat(settings_for(fake))
        mine, other = Browser(session_hash="mine"), Browser(session_hash="other")

        async def answer(text: str, who: Browser, stop_at: str | None) -> list[dict]:
            final: list[dict] = []
            async for shown, _ in chat.respond([user_message(text, [])], "glm-4.5v", 0.7, 512, "",
                                               1.0, "balanced", "all", False, "", who):
                final = shown
                if stop_at and stop_at in str(shown):
                    chat.stop(who)  # what the Stop button of this session does
                    stop_at = None
            return final

        async def both() -> list[list[dict]]:
            return await asyncio.gather(answer("long one", mine, "Echo: long one"),
                                        answer("short one", other, None))

        stopped, finished = LOOP.run_until_complete(both())
        fake.wait_idle()  # the stopped upstream stream was closed, not left running
    partial = answer_of(stopped[:-1])
    assert partial.startswith("Echo: long one")  # what arrived before Stop stays
    assert "Stopped" in stopped[-1]["metadata"]["title"]
    complete = answer_of(finished)  # the other session's answer ran to its end
    assert complete.startswith("Echo: short one") and not finished[-1].get("metadata")
    assert len(partial) < len(complete) / 2


def test_the_page_gets_each_update_already_in_the_form_its_components_read(fake, tmp_path):
    """Enter's event does Gradio's pre- and postprocessing itself, without a worker thread per
    component: it takes what the browser sends and yields what the browser reads."""
    from gradio.components.chatbot import ChatbotDataMessages

    from tests.conftest import Browser
    from ui.page.layout import build_demo

    fake.script(Reply(tokens=120, tps=1000))
    demo = build_demo(settings_for(fake))
    [enter] = [f for f in demo.fns.values() if f.name == "submit" and f.trigger_after is None]
    assert not enter.preprocess and not enter.postprocess
    from ui.page.served import upload_folder

    folder = upload_folder() / "from-upload-route"  # where Gradio stores uploads
    folder.mkdir(parents=True, exist_ok=True)
    image = make_image(folder / "cat.png", (64, 48))
    sent = {"text": "What is it?", "files": [{"path": str(image), "orig_name": "cat.png",
                                               "meta": {"_type": "gradio.FileData"}}]}
    payloads = [sent, [], "glm-4.5v", 0.7, 512, "", 1.0, "balanced", "all", False, ""]

    async def run() -> list[tuple]:
        return [update async for update in enter.fn(*payloads, Browser())]

    first, *rest = asyncio.run(run())
    for chat, stats, _ in [first, *rest]:
        ChatbotDataMessages.model_validate(chat)  # what the Chatbot component reads
        assert isinstance(stats, str)
    assert first[2]["__type__"] == "update" and first[2]["interactive"] is False
    assert first[2]["value"] == {"text": "", "files": []}
    assert all(box == {"text": "", "files": []} for _, _, box in rest)
    [picture] = [c for c in first[0][0]["content"] if c.get("file")]
    assert picture["file"]["path"] == str(image)
    assert "Echo: What is it?" in rest[-1][0][-1]["content"][0]["text"]


@pytest.mark.parametrize("reachable", [True, False])
def test_the_question_shows_first_then_the_answer_or_the_error(fake, tmp_path, reachable):
    """Enter: the first update shows the question (the request already on its way), then the
    answer; an endpoint that cannot be reached does not hold the page: the question shows, then
    the error."""
    from tests.conftest import Browser
    from tests.fake_openai import closed_port_url

    fake.script(Reply(), Reply(ttft=0.3))
    image = make_image(tmp_path / "cat.png", (640, 480))
    settings = settings_for(fake) if reachable else settings_for(fake, OPENAI_BASE_URL=closed_port_url())
    chat = Chat(settings)

    async def run() -> list[tuple]:
        if reachable:  # a running app's connection to the endpoint is open already
            [_ async for _ in chat.ask([], "warm up", "glm-4.5v")]
        updates = chat.submit({"text": "What is it?", "files": [str(image)]}, [], "glm-4.5v", 0.7,
                              512, "", 1.0, "balanced", "all", False, "", Browser())
        return [update async for update in updates]

    updates = asyncio.run(run())
    assert "What is it?" in str(updates[0][0][-1]["content"])
    if reachable:
        assert "Echo: What is it?" in str(updates[-1][0])
    else:
        assert "reach" in str(updates[-1][0]).lower()


def test_a_property_update_without_a_value_leaves_the_value_alone():
    """processed_here passes a component update on as Gradio would: a value only if it has one."""
    import gradio as gr

    from ui.page.layout import processed_here
    from ui.paths import Roots

    box = gr.MultimodalTextbox(render=False)

    async def fn():
        yield (gr.MultimodalTextbox(interactive=True),)
        yield (gr.MultimodalTextbox(value=None, interactive=False),)

    async def run() -> list[tuple]:
        return [update async for update in processed_here(fn, [], [box], Roots([]))()]

    (unlock,), (lock,) = asyncio.run(run())
    assert unlock == {"interactive": True, "__type__": "update"}
    assert lock["value"] == {"text": "", "files": []} and lock["interactive"] is False


def test_a_skip_after_a_value_gives_that_value_again():
    """gr.skip() for an output this run already gave a value is that value again, so Gradio's
    stream diff sends nothing and does not rebuild the component (Compare's still panes); before
    any value it stays a skip, and the page keeps what it shows."""
    import gradio as gr

    from ui.page.layout import processed_here
    from ui.paths import Roots

    chat, stats = gr.Chatbot(render=False), gr.Markdown(render=False)
    history = [{"role": "user", "content": "hello"}]

    async def fn():
        yield history, gr.skip()
        yield gr.skip(), "1 token"
        yield gr.skip(), gr.skip()

    async def run() -> list[tuple]:
        return [update async for update in processed_here(fn, [], [chat, stats], Roots([]))()]

    (first, untouched), (again, line), (still, same) = asyncio.run(run())
    assert first[0]["role"] == "user"
    assert again is first and still is first
    assert untouched == gr.skip() and line == "1 token" and same == "1 token"


def _seen(history: list[dict]) -> list[dict]:
    return [m for m in history if (m.get("metadata") or {}).get("title", "").startswith("🖼️")]


def _respond_with_policy(chat: Chat, history: list[dict], policy: str) -> list[dict]:
    async def run() -> list[dict]:
        final: list[dict] = []
        async for shown, _ in chat.respond(history, "glm-4.5v", 0.7, 512, "", 1.0, "balanced",
                                           policy, False, "", None):
            final = shown
        return final

    return LOOP.run_until_complete(run())


def test_what_the_model_saw_counts_every_image_the_request_carried(fake, tmp_path):
    a, b, c = (make_image(tmp_path / f"{n}.png", (64, 48), (9 * i, 80, 80)) for i, n in
               enumerate("abc"))
    chat = Chat(settings_for(fake))
    history = _respond_with_policy(chat, [user_message("two", [str(a), str(b)])], "all")
    history = _respond_with_policy(chat, [*history, user_message("one more", [str(c)])], "all")
    assert len(fake.requests[-1].images()) == 3
    title = _seen(history)[-1]["metadata"]["title"]
    assert "3 images" in title and "0 KB" not in title  # tiny images are a few hundred bytes
    assert "a.png" in _seen(history)[-1]["content"] and "b.png" in _seen(history)[-1]["content"]

    # Turn 3, text only, earlier images limited to the last one: 1 image went out, 2 did not.
    history = _respond_with_policy(chat, [*history, user_message("and now?", [])], "last")
    assert len(fake.requests[-1].images()) == 1
    seen = _seen(history)[-1]
    assert "1 image," in seen["metadata"]["title"]
    assert "c.png" in seen["content"] and "2 images from earlier turns not sent" in seen["content"]


def test_what_the_model_saw_is_not_claimed_when_no_request_reached_a_model(fake, tmp_path):
    img = make_image(tmp_path / "a.png")
    question = [user_message("what is it?", [str(img)])]
    no_key = _respond_with_policy(Chat(settings_for(fake, OPENAI_API_KEY="")), question, "all")
    down = _respond_with_policy(Chat(settings_for(fake, OPENAI_BASE_URL="http://127.0.0.1:9/v1")),
                                question, "all")
    fake.script(Reply(status=401))
    refused = _respond_with_policy(Chat(settings_for(fake)), question, "all")
    for history in (no_key, down, refused):
        assert "⚠️" in str(history)  # the failure is said
        assert _seen(history) == []


@pytest.mark.parametrize("finish", ["stop", "length"])
def test_an_answer_that_ends_inside_a_box_keeps_its_words(fake, finish):
    """A box the model never closed (or was cut off inside by max_tokens) waits out of sight
    while the answer streams, and shows as text when it ends."""
    text = "start <|begin_of_box|>[1,2,3,4] and a long tail of words"
    fake.script(Reply(text=text, finish_reason=finish))
    updates = respond(Chat(settings_for(fake)), [user_message("where?", [])])
    assert all("<|" not in str(history) for history, _ in updates)
    answer = [m["content"] for m in updates[-1][0] if m["role"] == "assistant" and not m.get("metadata")]
    assert answer == ["start [1,2,3,4] and a long tail of words"]


def test_content_that_is_not_a_string_shows_as_text_never_as_python(fake):
    """Content parts give their text, numbers their JSON spelling; what is not text at all (an
    image part, an object) is left out, and a notice says so."""
    fake.script(Reply(contents=("Total: ", 42, " items, ", 1.5, " kg, ", True, ". ",
                                [{"type": "text", "text": "Parts "}, {"type": "text", "text": "join."}],
                                {"type": "text", "text": " One part."},
                                [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}],
                                {"weird": [1, 2]}, None, " End.")))
    final = respond(Chat(settings_for(fake)), [user_message("how many?", [])])[-1][0]
    [answer] = [m["content"] for m in final if m["role"] == "assistant" and not m.get("metadata")]
    assert answer == "Total: 42 items, 1.5 kg, true. Parts join. One part. End."
    notice = final[-1]["metadata"]["title"]
    assert "2 parts of the answer" in notice and "other than text" in notice
    assert not any("'type'" in str(m["content"]) or "{'" in str(m["content"]) for m in final[1:])


def test_sentences_name_the_model_as_the_person_chose_it(fake, tmp_path):
    files = [str(make_image(tmp_path / f"{i}.png")) for i in range(6)]
    final = respond(Chat(settings_for(fake)), [user_message("q", files)], model="GLM-4V-Plus")[-1][0]
    assert final[-1]["metadata"]["title"].startswith("⚠️ GLM-4V-Plus accepts at most 5 images")
    assert fake.requests == []
