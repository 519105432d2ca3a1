"""Keys, files and sessions: the server's key stays on the server, users cannot make it read files
they did not upload or fetch links they paste, and two people chatting at once stay apart.

The chat's own events are driven by raw HTTP on Gradio's queue, exactly as the page's JavaScript
does (join, read the session's SSE stream, the stop event for Stop), so every byte a browser would
receive can be searched.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client

from tests.conftest import ROOT, AppProcess, decode_image, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI, Reply
from ui.conversation import user_message
from ui.endpoint import ChatRequest, describe
from ui.page.chat import Chat
from ui.settings import Settings

CANARY = "sk-canary-7d1e9a3b5c2f4e6a8b0c"  # the server's key: must never leave the server
WORDS = "one two three four"
RESPOND_ARGS = ["glm-4.5v", 0.7, 256, "", 1.0, "balanced", "all", False, ""]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(endpoint: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    running = start_app({"OPENAI_BASE_URL": endpoint.base_url, "OPENAI_API_KEY": CANARY,
                         "GLM_MODELS": "glm-4.5v,GLM-4V-Plus", "GLM_READ_TIMEOUT": "1",
                         "GLM_RETRY_BACKOFF": "0.01"}, tmp_path_factory.mktemp("secure"))
    try:
        yield running
    finally:
        stop_app(running)


@pytest.fixture(autouse=True)
def _fresh(endpoint: FakeOpenAI) -> None:
    endpoint.reset()


class Page:
    """One browser session, speaking Gradio's queue protocol over raw HTTP."""

    def __init__(self, app: AppProcess) -> None:
        self.url = app.url
        self.session = uuid.uuid4().hex[:12]
        self.http = httpx.Client(base_url=app.url, timeout=30)
        config = self.http.get("config").json()
        self.fns = {d.get("api_name"): i for i, d in enumerate(config["dependencies"])}
        self.raw: list[str] = []  # every SSE line this session received

    def upload(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as f:
            [stored] = self.http.post("gradio_api/upload", files={"files": (path.name, f)}).json()
        return {"path": stored, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def join(self, api_name: str, data: list[Any]) -> str:
        response = self.http.post("gradio_api/queue/join", json={
            "data": data, "fn_index": self.fns[api_name], "session_hash": self.session,
            "event_data": None, "trigger_id": None})
        response.raise_for_status()
        return response.json()["event_id"]

    def messages(self, until: str = "process_completed") -> Iterator[dict[str, Any]]:
        """This session's queue messages, up to the first `until`."""
        with self.http.stream("GET", f"gradio_api/queue/data?session_hash={self.session}") as stream:
            for line in stream.iter_lines():
                self.raw.append(line)
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    yield message
                    if message.get("msg") == until:
                        return

    def run(self, api_name: str, data: list[Any]) -> dict[str, Any]:
        """Call one event and return its final message."""
        self.join(api_name, data)
        return list(self.messages())[-1]

    def stop(self) -> None:
        """What the Stop button does: the app's own stop event, for this session."""
        response = self.http.post("gradio_api/run/predict", json={
            "data": [], "fn_index": self.fns["stop"], "session_hash": self.session,
            "event_data": None, "trigger_id": None})
        response.raise_for_status()


def chat_history(text: str, files: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "file", "file": f} for f in files or []]
    return [{"role": "user", "content": [*content, {"type": "text", "text": text}]}]


def shown_text(final: dict[str, Any]) -> str:
    return json.dumps(final.get("output", {}), ensure_ascii=False)


# --- the key -----------------------------------------------------------------------------------


def test_server_key_is_sent_to_the_endpoint_and_nowhere_else(server: AppProcess, endpoint: FakeOpenAI,
                                                             tmp_path: Path) -> None:
    page = Page(server)
    photo = page.upload(make_image(tmp_path / "photo.png"))
    # A conversation through the page: an answer, then faults whose texts echo the key, as some
    # proxies do ("invalid key sk-…"), then retries and a timeout.
    endpoint.script(
        Reply(text="A red rectangle."),
        Reply(status=401, error_code="1000", error_message=f"Invalid API key: {CANARY}"),
        Reply(WORDS, fault="error_event", error_code="upstream_error",
              error_message=f"upstream refused key {CANARY}"),
        Reply(status=429, error_code="1113"),
        *[Reply(status=500, error_message=f"bad gateway for {CANARY}")] * 4,
        Reply(WORDS, fault="drop_mid"),
        Reply(ttft=10),
    )
    sentences = []
    for question in ("What is this?", "again", "again", "again", "again", "again", "again"):
        final = page.run("respond", [chat_history(question, [photo]), *RESPOND_ARGS])
        sentences.append(shown_text(final))
    assert "Echo" not in sentences[0] and "A red rectangle." in sentences[0]
    for text, words in zip(sentences[1:], ("API key was refused", "reported an error",
                                           "no balance", "internal error", "was lost",
                                           "did not start answering"), strict=True):
        assert words in text  # each fault was shown to the user...
    assert all(CANARY not in text for text in sentences)  # ...without the key
    assert endpoint.request_count == 10
    assert {r.headers["authorization"] for r in endpoint.requests} == {f"Bearer {CANARY}"}

    # The same through the API, reading its raw SSE stream.
    endpoint.script(Reply(status=401, error_message=f"key {CANARY} revoked"), Reply(text="fine"))
    for _ in range(2):
        event = page.http.post("gradio_api/call/ask", json={"data": [[], "hi", "", 0.7, 64, "", ""]})
        stream = page.http.get(f"gradio_api/call/ask/{event.json()['event_id']}").text
        assert "event:" in stream and CANARY not in stream
        sentences.append(stream)
    assert "API key was refused" in sentences[-2] and "fine" in sentences[-1]

    # Both downloads and "copy as code", and the files the downloads wrote.
    history = [*chat_history("What is this?", [photo]),
               {"role": "assistant", "content": [{"type": "text", "text": "Red."}]}]
    exports = {"export_markdown": [history], "export_json": [history, *RESPOND_ARGS[:-1]],
               "as_code": [history, *RESPOND_ARGS[:-1]]}
    for name, data in exports.items():
        final = page.run(name, data)
        text = shown_text(final)
        assert final.get("success"), text
        for output in final["output"]["data"]:  # a file, or an update whose value is the code
            file = output.get("value", output) if isinstance(output, dict) else output
            if isinstance(file, dict) and file.get("url"):
                text += page.http.get(file["url"]).text
                assert "Red." in text, name
        assert CANARY not in text

    # The page, its config, the API description, every SSE line, and the server's log.
    for path in ("", "config", "gradio_api/info", "gradio_api/openapi.json"):
        response = page.http.get(path)
        assert CANARY not in response.text, path
    assert page.raw and not any(CANARY in line for line in page.raw)
    assert "endpoint error auth status=401" in server.log()  # the log saw the faults...
    assert CANARY not in server.log()  # ...but not the key


def test_a_key_echoed_by_the_endpoint_is_masked_in_the_chat(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        fake.script(Reply(status=401, error_message=f"Incorrect API key provided: {CANARY}."))
        chat = Chat(Settings.from_env({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": CANARY,
                                       "GLM_MODELS": "glm-4.5v"}))

        async def run() -> list[dict[str, Any]]:
            final: list[dict[str, Any]] = []
            async for shown, _ in chat.respond([user_message("hi", [])], "glm-4.5v", 0.7, 64, "",
                                               1.0, "balanced", "all", False, "", None):
                final = shown
            return final

        final = asyncio.run(run())
    text = json.dumps(final, ensure_ascii=False)
    assert "Incorrect API key provided: ***." in text and CANARY not in text


# --- files and links -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / ".env.example")])
def test_files_the_user_did_not_upload_are_refused(path: str, server: AppProcess,
                                                   endpoint: FakeOpenAI) -> None:
    page = Page(server)
    secret = Path(path).read_text() if Path(path).exists() else "root:x:0:0"
    forged = {"path": path, "orig_name": "cat.png", "meta": {"_type": "gradio.FileData"}}

    # Through /ask, by raw HTTP (gradio_client would upload the local file itself).
    event = page.http.post("gradio_api/call/ask", json={"data": [[forged], "what is it", "", 0.7, 64,
                                                                 "", ""]})
    stream = page.http.get(f"gradio_api/call/ask/{event.json()['event_id']}").text
    assert "event: error" in stream
    # Through the chat: the forged file in the history and in the input box.
    final = page.run("respond", [chat_history("what is it", [forged]), *RESPOND_ARGS])
    assert final["success"] is False
    final = page.run("submit", [{"text": "what is it", "files": [forged]}, [], *RESPOND_ARGS])
    assert final["success"] is False

    assert endpoint.request_count == 0  # nothing of it reached the endpoint
    first_line = secret.splitlines()[0] if secret.strip() else secret
    assert first_line not in stream and not any(first_line in line for line in page.raw)


def test_a_pasted_link_goes_to_the_endpoint_untouched_and_is_never_fetched(
        server: AppProcess, endpoint: FakeOpenAI) -> None:
    link = f"http://127.0.0.1:{endpoint.port}/images/cat%20photo.png?size=large&v=2#top"
    client = Client(server.url, verbose=False)
    answer = client.predict([], f"{link}\nWhat is in this picture?", "glm-4.5v", api_name="/ask")
    assert answer.startswith("Echo: What is in this picture? | images: 1")
    page = Page(server)
    final = page.run("respond", [chat_history(f"Describe it\n{link}"), *RESPOND_ARGS])
    assert final["success"] and "images: 1" in shown_text(final)

    assert [r.images() for r in endpoint.requests] == [[link], [link]]
    assert [(r.method, r.path) for r in endpoint.requests] == [("POST", "/v1/chat/completions")] * 2


# --- sessions ------------------------------------------------------------------------------------


def test_two_page_sessions_never_see_each_others_messages(server: AppProcess, endpoint: FakeOpenAI,
                                                          tmp_path: Path) -> None:
    endpoint.default = Reply(tokens=100, tps=200)  # echo answers, ~0.5 s each: the streams overlap
    try:
        pages = {name: Page(server) for name in ("alice", "bob")}
        images = {name: make_image(tmp_path / f"{name}.png", (30, 20), color)
                  for name, color in (("alice", (255, 0, 0)), ("bob", (0, 0, 255)))}
        results: dict[str, dict[str, Any]] = {}

        def chat(name: str) -> None:
            page = pages[name]
            history = chat_history(f"I am {name}, what colour is my picture?",
                                   [page.upload(images[name])])
            results[name] = page.run("respond", [history, *RESPOND_ARGS])

        threads = [threading.Thread(target=chat, args=(name,)) for name in pages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert endpoint.peak_concurrency == 2  # they really ran at the same time
    finally:
        endpoint.default = Reply()
    for name, other in (("alice", "bob"), ("bob", "alice")):
        assert f"Echo: I am {name}, what colour" in shown_text(results[name])
        assert not any(other in line for line in pages[name].raw)
    sent = {r.last_user_text().split(",")[0]: decode_image(r.images()[0]).convert("RGB").getpixel((1, 1))
            for r in endpoint.requests}
    assert sent == {"I am alice": (255, 0, 0), "I am bob": (0, 0, 255)}


def test_stop_in_one_session_cancels_only_its_own_answer(server: AppProcess,
                                                         endpoint: FakeOpenAI) -> None:
    endpoint.script(Reply(tokens=4000, tps=100), Reply(tokens=60, tps=60))  # ~40 s and ~1 s
    stopper, other = Page(server), Page(server)
    stopper.join("respond", [chat_history("a long answer please"), *RESPOND_ARGS])
    endpoint.wait_for_requests(1)
    other.join("respond", [chat_history("a short one"), *RESPOND_ARGS])
    endpoint.wait_for_requests(2)

    messages = stopper.messages()
    for message in messages:  # wait until the long answer is visibly streaming
        if message.get("msg") == "process_generating":
            break
    stopper.stop()
    final = list(messages)[-1]
    assert final["msg"] == "process_completed" and final["success"]  # it ended cleanly
    assert "Stopped" in shown_text(final)  # partial answer kept, marked as stopped
    endpoint.wait_idle(timeout=15)  # the long upstream stream was closed, the short one finished

    short = list(other.messages())[-1]
    assert short["success"] and "Echo: a short one | images: 0" in shown_text(short)
    assert "a long answer" not in shown_text(short)
    assert endpoint.request_count == 2


def test_cancelling_one_api_job_leaves_the_other_running(server: AppProcess,
                                                         endpoint: FakeOpenAI) -> None:
    endpoint.script(Reply(tokens=4000, tps=100), Reply(tokens=60, tps=60))
    first, second = Client(server.url, verbose=False), Client(server.url, verbose=False)
    doomed = first.submit([], "long", api_name="/ask")
    endpoint.wait_for_requests(1)
    kept = second.submit([], "short", api_name="/ask")
    endpoint.wait_for_requests(2)
    doomed.cancel()
    answer = kept.result(timeout=30)
    assert answer.startswith("Echo: short | images: 0") and "long" not in answer
    endpoint.wait_idle(timeout=15)  # the cancelled job's upstream stream did not run its 40 s


def test_two_chat_streams_in_one_process_stay_apart_and_stop_alone(tmp_path: Path) -> None:
    with FakeOpenAI(default=Reply(tps=100)) as fake:
        chat = Chat(Settings.from_env({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": CANARY,
                                       "GLM_MODELS": "glm-4.5v"}))

        async def answer(text: str, path: Path) -> list[dict[str, Any]]:
            final: list[dict[str, Any]] = []
            async for shown, _ in chat.respond([user_message(text, [str(path)])], "glm-4.5v", 0.7,
                                               256, "", 1.0, "balanced", "all", False, "", None):
                final = shown
            return final

        async def main() -> tuple[list[Any], list[Any], bool]:
            a = asyncio.create_task(answer("session A asks", make_image(tmp_path / "a.png")))
            b = asyncio.create_task(answer("session B asks", make_image(tmp_path / "b.png")))
            c = asyncio.create_task(answer("session C asks " + "and asks " * 200,
                                           make_image(tmp_path / "c.png")))
            await asyncio.to_thread(fake.wait_for_requests, 3)
            c.cancel()  # Stop in session C
            results = await asyncio.gather(a, b)
            try:
                await c
            except asyncio.CancelledError:
                return results[0], results[1], True
            return results[0], results[1], False

        a, b, c_cancelled = asyncio.run(main())
        fake.wait_idle()
    assert c_cancelled
    assert "Echo: session A asks | images: 1" in json.dumps(a) and "session B" not in json.dumps(a)
    assert "Echo: session B asks | images: 1" in json.dumps(b) and "session A" not in json.dumps(b)


def test_the_request_log_line_names_image_sizes_never_their_data() -> None:
    data = base64.b64encode(bytes(range(256)) * 1410).decode()  # 352 KB
    request = ChatRequest(model="glm-4v-plus", max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}},
        {"type": "image_url", "image_url": {"url": data}},  # bare base64 (older GLM models)
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "text", "text": "What is on both?"}]}])
    line = describe(request)
    assert data[:200] not in line and len(line) < 2000
    assert line.count("…(352 KB)") == 2 and "data:image/jpeg;base64,…(352 KB)" in line
    assert "https://example.com/cat.png" in line and "What is on both?" in line
