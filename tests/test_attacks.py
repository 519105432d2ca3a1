"""The attack pass of issue 13, re-run against the real app over HTTP: forged file paths on every
entry point, forged /ask arguments, models and sizes the server's key must not pay for, secrets
in the endpoint's words, and what the log keeps. (Hostile answers in the browser:
tests/test_hostile_answers.py; decompression bombs: tests/test_bombs.py.)

Raw HTTP on Gradio's queue, as the page's JavaScript speaks it: gradio_client would upload a
local path itself, so it cannot show what a forged path does.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AppProcess, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_security import Page
from ui.conversation import user_message
from ui.page.chat import Chat
from ui.settings import Settings

CANARY = "sk-canary-ATTACK-7d1e9a3b5c2f4e6a"
REFUSED = "This request names a file that was not uploaded to this page: attach the image again."
RESPOND_ARGS = ["glm-4.5v", 0.7, 256, "", 1.0, "balanced", "all", False, ""]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(endpoint: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    running = start_app({"OPENAI_BASE_URL": endpoint.base_url, "OPENAI_API_KEY": CANARY,
                         "GLM_MODELS": "glm-4.5v,GLM-4V-Plus", "GLM_RETRY_BACKOFF": "0.01",
                         "GLM_RETRIES": "0"}, tmp_path_factory.mktemp("attacks"))
    try:
        yield running
    finally:
        stop_app(running)


@pytest.fixture(autouse=True)
def _fresh(endpoint: FakeOpenAI) -> None:
    endpoint.reset()


def ask_raw(server: AppProcess, data: list[Any]) -> str:
    """Call /ask through Gradio's REST route and return the whole event stream as text."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        event = http.post("gradio_api/call/ask", json={"data": data})
        event.raise_for_status()
        return http.get(f"gradio_api/call/ask/{event.json()['event_id']}").text


def error_of(stream: str) -> str:
    """The one sentence of an /ask error event (the line after `event: error`)."""
    lines = stream.splitlines()
    at = lines.index("event: error")
    return json.loads(lines[at + 1].removeprefix("data:").strip())["error"]


# --- 1. server files --------------------------------------------------------------------------


def server_files(tmp: Path) -> dict[str, str]:
    """Paths an attacker might name: an image that exists on the server outside the uploads,
    a secret text file, a folder, a path that does not exist, a traversal out of the uploads."""
    picture = make_image(tmp / "server-only.png", (40, 30), (1, 2, 3))
    secret = tmp / "secret.txt"
    secret.write_text("TOP-SECRET-LINE\n")
    return {"image": str(picture), "text": str(secret), "folder": str(tmp),
            "missing": str(tmp / "nope.png"), "traversal": "/tmp/gradio/../../etc/passwd"}


@pytest.mark.parametrize("shape", ["bare", "file part", "component"])
def test_ask_refuses_every_server_path_with_the_same_sentence(shape: str, server: AppProcess,
                                                              endpoint: FakeOpenAI,
                                                              tmp_path: Path) -> None:
    """Whatever the path (an image, a text file, a folder, nothing at all), /ask answers the same
    one sentence and sends nothing: the server's files can be neither read nor probed."""
    sentences = set()
    for path in server_files(tmp_path).values():
        item: dict[str, Any] = {"path": path}
        if shape == "file part":
            item = {"type": "file", "file": {"path": path}}
        elif shape == "component":
            item = {"type": "component", "component": "file", "value": {"path": path}}
        stream = ask_raw(server, [[item], "what is it", "glm-4.5v", 0.7, 64, "", ""])
        assert "TOP-SECRET" not in stream and "Traceback" not in stream
        sentences.add(error_of(stream))
    assert sentences == {REFUSED}
    assert endpoint.request_count == 0


def call(page: Page, name: str, data: list[Any]) -> tuple[bool, str]:
    """Call a page event as the page would (queued or not): (succeeded, everything answered)."""
    config = page.http.get("config").json()["dependencies"][page.fns[name]]
    if config.get("queue"):
        final = page.run(name, data)
        return bool(final.get("success")), json.dumps(final, ensure_ascii=False)
    response = page.http.post("gradio_api/run/predict", json={
        "data": data, "fn_index": page.fns[name], "session_hash": page.session,
        "event_data": None, "trigger_id": None})
    return response.status_code == 200 and "error" not in response.json(), response.text


def test_chat_events_refuse_forged_paths_and_copy_nothing(server: AppProcess, endpoint: FakeOpenAI,
                                                         tmp_path: Path) -> None:
    """Enter, Retry, export, copy as code, undo, import and a quality change: a file dict without
    Gradio's meta, or a history item of type component, is refused before Gradio or the app opens
    it, with the same answer for every path, and no copy of the file appears anywhere."""
    files = server_files(tmp_path)
    page = Page(server)
    answers: dict[tuple[str, str], set[str]] = {}
    for path in files.values():
        # Both are valid Chatbot items (Gradio's own validation passes them on): a file part
        # without meta, and a component item, which Gradio's preprocessing would copy.
        for item in ({"type": "file", "file": {"path": path, "orig_name": "cat.png"}},
                     {"type": "component", "component": "file", "value": {"path": path},
                      "constructor_args": {}, "props": {}}):
            history = [{"role": "user", "content": [item, {"type": "text", "text": "what is it"}]}]
            file_item = {"path": path, "orig_name": "cat.png"}
            calls = {
                "submit": [{"text": "what is it", "files": [file_item]}, [], *RESPOND_ARGS],
                "respond": [history, *RESPOND_ARGS],
                "retry_history": [history],
                "export_markdown": [history],
                "export_json": [history, *RESPOND_ARGS[:-1]],
                "as_code": [history, *RESPOND_ARGS[:-1]],
                "undo": [history],
                "import_": [file_item],
                "prewarm": [{"text": "", "files": [file_item]}, "fast"],
            }
            for name, data in calls.items():
                ok, said = call(page, name, data)
                assert "TOP-SECRET" not in said and "server-only" not in said, name
                assert REFUSED in said or '"error": null' in said.replace('":n', '": n'), (name, said)
                assert not ok or name == "respond", name  # Retry's answer: a notice in the chat
                said = re.sub(r'"(event_id|avg_time)": [^,}]*', "", said)
                answers.setdefault((name, item["type"]), set()).add(said)
    for key, said in answers.items():  # nothing tells one path from another
        assert len(said) == 1, (key, said)
    assert endpoint.request_count == 0
    copies = [p for p in tmp_path.parent.rglob("*") if p.name in ("server-only.png",  # this run's
              "secret.txt") and "gradio" in p.parts]
    assert copies == []


def test_an_example_selection_naming_a_server_file_is_refused(server: AppProcess,
                                                              tmp_path: Path) -> None:
    page = Page(server)
    files = server_files(tmp_path)
    response = page.http.post("gradio_api/queue/join", json={
        "data": [], "fn_index": page.fns["load_example"], "session_hash": page.session,
        "trigger_id": None,
        "event_data": {"index": 0, "value": {"text": "hi", "files": [files["image"]]}}})
    assert response.status_code == 200
    final = list(page.messages())[-1]
    assert final["success"] is False and final["output"]["error"] == REFUSED


# --- 7. /ask arguments ---------------------------------------------------------------------------

BAD_ARGUMENTS = {
    "no arguments": ([], "Type a question or add an image first."),
    "NaN temperature": ([[], "hi", "glm-4.5v", float("nan"), 64, "", ""],
                        "temperature must be a number from 0 to 2."),
    "infinite max_tokens": ([[], "hi", "glm-4.5v", 0.7, float("inf"), "", ""],
                            "max_tokens must be a number from 1 to"),
    "text temperature": ([[], "hi", "glm-4.5v", "hot", 64, "", ""], "temperature must be a number"),
    "null temperature": ([[], "hi", "glm-4.5v", None, 64, "", ""], "temperature must be a number"),
    "images as text": (["cat.png", "hi", "glm-4.5v", 0.7, 64, "", ""], "images must be a list"),
    "images as numbers": ([[1, 2], "hi", "glm-4.5v", 0.7, 64, "", ""], "images must be a list"),
    "question as number": ([[], 5, "glm-4.5v", 0.7, 64, "", ""], "question must be text."),
    "system prompt as object": ([[], "hi", "glm-4.5v", 0.7, 64, {"a": 1}, ""],
                                "system_prompt must be text."),
    "model outside GLM_MODELS": ([[], "hi", "gpt-4o", 0.7, 64, "", ""],
                                 "This server only answers with its own models (glm-4.5v, GLM-4V-Plus)"),
    "question over the cap": ([[], "Q" * 32_001, "glm-4.5v", 0.7, 64, "", ""],
                              "The question has 32,001 characters, more than the 32,000"),
}


@pytest.mark.parametrize("name", list(BAD_ARGUMENTS))
def test_forged_ask_arguments_get_one_sentence_and_send_nothing(name: str, server: AppProcess,
                                                                endpoint: FakeOpenAI) -> None:
    data, sentence = BAD_ARGUMENTS[name]
    logged = len(server.output)
    with httpx.Client(base_url=server.url, timeout=30) as http:  # NaN and Infinity as JSON has them
        body = json.dumps({"data": data}, allow_nan=True)
        event = http.post("gradio_api/call/ask", content=body,
                          headers={"content-type": "application/json"})
        stream = http.get(f"gradio_api/call/ask/{event.json()['event_id']}").text
    assert error_of(stream).startswith(sentence)
    assert endpoint.request_count == 0
    assert "Traceback" not in "".join(server.output[logged:])


def test_an_ask_job_whose_caller_went_away_is_cancelled(server: AppProcess,
                                                        endpoint: FakeOpenAI) -> None:
    """A script that stops reading (closed, crashed) does not keep the endpoint answering."""
    endpoint.script(Reply(tokens=4000, tps=100))  # ~40 s if nobody stopped it
    with httpx.Client(base_url=server.url, timeout=30) as http:
        event = http.post("gradio_api/call/ask", json={"data": [[], "long", "glm-4.5v"]})
        with http.stream("GET", f"gradio_api/call/ask/{event.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: generating"):
                    break  # the answer is streaming; now the caller goes away
    endpoint.wait_idle(timeout=15)


# --- 6. the server's key: models, sizes, time, share ------------------------------------------


def chat_with(fake: FakeOpenAI, **env: str) -> Chat:
    return Chat(Settings.from_env({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": CANARY,
                                   "GLM_MODELS": "glm-4.5v", "GLM_RETRIES": "0", **env}))


class Visitor:
    """A gr.Request as the handlers read it: language, session and the client's address."""

    def __init__(self, host: str) -> None:
        self.headers = {"accept-language": "en"}
        self.session_hash = host
        self.client = type("Client", (), {"host": host})()


async def ask_all(chat: Chat, question: str, model: str, visitor: Visitor | None) -> str:
    answer = ""
    async for answer in chat.ask([], question, model, 0.7, 64, "", "", visitor):  # noqa: B007
        pass
    return answer


def test_any_model_only_when_the_operator_allows_it() -> None:
    with FakeOpenAI() as fake:
        with pytest.raises(Exception, match="only answers with its own models"):
            asyncio.run(ask_all(chat_with(fake), "hi", "gpt-4o", None))
        assert fake.request_count == 0
        answer = asyncio.run(ask_all(chat_with(fake, GLM_ALLOW_ANY_MODEL="true"), "hi", "gpt-4o",
                                     None))
        assert answer.startswith("Echo: hi") and fake.requests[-1].json["model"] == "gpt-4o"


def test_one_visitor_holds_at_most_its_share_of_the_answers() -> None:
    with FakeOpenAI(default=Reply(tokens=200, tps=100)) as fake:
        chat = chat_with(fake, GLM_CONCURRENCY="4", GLM_VISITOR_SHARE="0.5")  # 2 each

        async def main() -> list[str | BaseException]:
            mine = [asyncio.create_task(ask_all(chat, f"q{i}", "glm-4.5v", Visitor("10.0.0.1")))
                    for i in range(2)]
            while fake.request_count < 2:  # both of mine are streaming
                await asyncio.sleep(0.01)
            third = ask_all(chat, "q3", "glm-4.5v", Visitor("10.0.0.1"))
            other = ask_all(chat, "other", "glm-4.5v", Visitor("10.0.0.2"))
            return await asyncio.gather(*mine, third, other, return_exceptions=True)

        first, second, third, other = asyncio.run(main())
    assert str(first).startswith("Echo: q0") and str(second).startswith("Echo: q1")
    assert "2 answers in progress, the most one visitor may have" in str(third)
    assert str(other).startswith("Echo: other")


def test_an_answer_past_the_time_limit_is_stopped_with_a_sentence() -> None:
    with FakeOpenAI(default=Reply(tokens=1000, tps=20)) as fake:  # ~50 s of answer
        chat = chat_with(fake, GLM_MAX_ANSWER_SECONDS="1")

        async def run() -> list[dict[str, Any]]:
            final: list[dict[str, Any]] = []
            async for final, _ in chat.respond([user_message("long", [])], "glm-4.5v", 0.7, 2048,  # noqa: B007
                                               "", 1.0, "balanced", "all", False, "", None):
                pass
            return final

        final = asyncio.run(run())
        fake.wait_idle(timeout=15)  # the upstream answer was closed, not left running
    assert final[-2]["content"].startswith("Echo: long")  # what arrived stays
    assert final[-1]["metadata"]["title"] == ("⚠️ The answer was stopped after 1 s, the longest one "
                                              "answer may take on this server.")


# --- 5. secrets beyond the key, 8. logs -------------------------------------------------------


def test_credentials_in_the_base_url_never_reach_a_visitor() -> None:
    chat = Chat(Settings.from_env({"OPENAI_BASE_URL": "http://admin:hunter2@127.0.0.1:9/v1?api-key=zz9",
                                   "OPENAI_API_KEY": CANARY, "GLM_MODELS": "glm-4.5v",
                                   "GLM_RETRIES": "0"}))
    with pytest.raises(Exception) as info:
        asyncio.run(ask_all(chat, "hi", "glm-4.5v", None))
    assert "http://127.0.0.1:9" in str(info.value)
    assert "hunter2" not in str(info.value) and "zz9" not in str(info.value)


@pytest.mark.parametrize("echo", [CANARY.lower(), CANARY.replace("-", "%2D"), " ".join(CANARY),
                                  "sk-proj-0a1b2c3d4e5f6a7b8c9d"])
def test_a_key_the_endpoint_echoes_in_any_form_is_masked(echo: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with FakeOpenAI() as fake:
        fake.script(Reply(status=401, error_message=f"Incorrect API key provided: {echo}."))
        with pytest.raises(Exception) as info:
            asyncio.run(ask_all(chat_with(fake), "hi", "glm-4.5v", None))
    shown = str(info.value) + caplog.text
    assert echo not in shown and "***" in caplog.text


def test_the_log_keeps_metadata_not_what_people_asked(caplog: pytest.LogCaptureFixture) -> None:
    question, prompt = "my-private-question-81", "my-private-system-prompt-82"
    with FakeOpenAI() as fake:
        with caplog.at_level("INFO", logger="glmchat"):
            asyncio.run(ask_all(chat_with(fake), question, "glm-4.5v", None))
            chat = chat_with(fake)
            asyncio.run(_ask_with_prompt(chat, question, prompt))
        quiet = caplog.text
        caplog.clear()
        with caplog.at_level("INFO", logger="glmchat"):
            asyncio.run(_ask_with_prompt(chat_with(fake, GLM_LOG_CONTENT="true"), question, prompt))
    assert "glm-4.5v" in quiet and "text_chars=" in quiet
    assert question not in quiet and prompt not in quiet
    assert question in caplog.text and prompt in caplog.text  # the operator asked for it


async def _ask_with_prompt(chat: Chat, question: str, prompt: str) -> None:
    async for _ in chat.ask([], question, "glm-4.5v", 0.7, 64, prompt, "", None):
        pass


# --- 3. imported settings -------------------------------------------------------------------


def test_imported_settings_are_checked_like_typed_ones() -> None:
    chat = Chat(Settings.from_env({"OPENAI_API_KEY": CANARY, "GLM_MODELS": "glm-4.5v"}))
    hostile = {"model": 'glm-4.5v\nimport os; os.system("id")  #', "temperature": float("nan"),
               "max_tokens": 10**9, "top_p": True, "quality": "max", "thinking": "yes"}
    kept = {name: chat.checked_setting(name, value) for name, value in hostile.items()}
    assert kept["quality"] == "max"
    assert all(type(v).__name__ == "skip" or v == "max" or isinstance(v, dict) for v in kept.values())
    assert chat.checked_setting("model", "glm-4.5v") == "glm-4.5v"
    assert chat.checked_setting("temperature", 0.2) == 0.2
