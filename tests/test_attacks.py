"""The attack pass of issue 13, re-run against the real app over HTTP: forged file paths on every
entry point, forged /ask arguments, models and sizes the server's key must not pay for, secrets
in the endpoint's words, and what the log keeps. (Hostile answers in the browser:
tests/test_hostile_answers.py; decompression bombs: tests/test_bombs.py.)

Raw HTTP on Gradio's queue, as the page's JavaScript speaks it: gradio_client would upload a
local path itself, so it cannot show what a forged path does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AppProcess, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI
from tests.test_security import Page

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
    answers: dict[tuple[str, bool], set[str]] = {}
    for path in files.values():
        for item in ({"path": path, "orig_name": "cat.png"},
                     {"type": "component", "component": "file", "value": {"path": path}}):
            history = [{"role": "user", "content": [item, {"type": "text", "text": "what is it"}]}]
            file_item = item if "path" in item else {"path": path}
            calls = {
                "submit": [{"text": "what is it", "files": [file_item]}, [], *RESPOND_ARGS],
                "respond": [history, *RESPOND_ARGS],
                "for_retry": [history],
                "export": [history, *RESPOND_ARGS[:-1]],
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
                answers.setdefault((name, "path" in item), set()).add(said)
    for key, said in answers.items():  # nothing tells one path from another
        assert len(said) == 1, (key, said)
    assert endpoint.request_count == 0
    copies = [p for p in tmp_path.parent.parent.rglob("*") if p.name in ("server-only.png",
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
