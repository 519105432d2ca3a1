"""Copy as code: the generated Python snippet and curl command, run against the local fake endpoint."""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.conftest import IN_CI, TEST_KEY
from tests.fake_openai import FakeOpenAI
from tests.test_export import GLM45, QUESTION_2, conversation
from ui.endpoint import ChatRequest, stream_chat
from ui.messages import build_messages
from ui.snippets import to_curl, to_python


def original_request(tmp_path: Path, **options: Any) -> ChatRequest:
    history = conversation(tmp_path)[:4]
    built = build_messages(history, profile=GLM45, system_prompt="Answer in one line.")
    return ChatRequest(model="glm-4.5v", messages=built.messages, max_tokens=321, temperature=0.3,
                       top_p=0.6, **options)


def send_through_app(fake: FakeOpenAI, request: ChatRequest) -> dict[str, Any]:
    """The request as the app sends it (ui.endpoint.stream_chat), as the fake received it."""
    async def run() -> None:
        client = AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        async for _ in stream_chat(client, request, retries=0):
            pass
        await client.close()

    asyncio.run(run())
    return fake.requests[-1].json


def child_env(base_url: str = "http://127.0.0.1:9/v1") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return {**env, "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": base_url,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}


@pytest.mark.parametrize("options", [
    {"do_sample": False, "thinking": True, "include_usage": True},
    {},
])
def test_python_snippet_sends_the_same_request(tmp_path, fake, options):
    request = original_request(tmp_path, **options)
    sent = send_through_app(fake, request)
    script = tmp_path / "repro.py"
    script.write_text(to_python(request), encoding="utf-8")

    result = subprocess.run([sys.executable, str(script)], env=child_env(fake.base_url),
                            capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    got = fake.requests[-1]
    assert got.json == sent
    assert got.json["stream"] is True and got.json["max_tokens"] == 321
    assert got.headers["authorization"] == "Bearer test"
    assert f"Echo: {QUESTION_2} | images: 3 | turn: 2" in result.stdout


def test_python_snippet_keeps_images_in_variables_and_no_key(tmp_path):
    request = original_request(tmp_path, do_sample=True)
    code = to_python(request)
    compile(code, "repro.py", "exec")
    assert code.count("IMAGE_") == 6  # three definitions, three uses
    assert 'os.environ["OPENAI_API_KEY"]' in code and TEST_KEY not in code
    assert "extra_body={'do_sample': True}" in code


def test_curl_command_sends_the_same_request(tmp_path, fake):
    if shutil.which("curl") is None:
        if IN_CI:
            pytest.fail("CI must have curl")
        pytest.skip("needs curl")
    request = original_request(tmp_path, do_sample=False, thinking=False)
    sent = send_through_app(fake, request)
    command = to_curl(request)

    result = subprocess.run(["bash", "-c", command], env=child_env(fake.base_url), capture_output=True,
                            text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    got = fake.requests[-1]
    assert got.json == sent
    assert got.json["do_sample"] is False and got.json["thinking"] == {"type": "disabled"}
    assert got.headers["authorization"] == "Bearer test"
    assert "data: [DONE]" in result.stdout and "Echo:" in result.stdout


def test_curl_command_without_a_key_says_how_to_set_it(tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    command = to_curl(original_request(tmp_path))
    env = {k: v for k, v in child_env().items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "set OPENAI_API_KEY" in result.stderr


HOSTILE_MODEL = 'glm-4.5v\nimport os; os.system("touch PWNED")  #'
HOSTILE_TEXT = "ok\nGLM_REQUEST_BODY\ntouch PWNED\n''' \"\"\"); import os  # $(touch PWNED) `touch PWNED`"


def test_hostile_model_and_text_stay_data_in_both_snippets(tmp_path):
    """An imported model name or question with newlines, quotes and shell syntax is a literal of
    the snippet: the Python holds that exact string and imports os once, and bash runs only curl."""
    request = ChatRequest(model=HOSTILE_MODEL, max_tokens=8,
                          messages=[{"role": "user", "content": HOSTILE_TEXT}])
    code = to_python(request)
    tree = ast.parse(code)
    imports = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imports == ["os", "sys"]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "system"]
    assert HOSTILE_MODEL in [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]

    if shutil.which("curl") is None:
        if IN_CI:
            pytest.fail("CI must have curl")
        return
    command = to_curl(request).replace("curl ", "cat >/dev/null; true ", 1)
    subprocess.run(["bash", "-c", command], env=child_env(), cwd=tmp_path, capture_output=True,
                   timeout=30)
    assert not (tmp_path / "PWNED").exists()


def test_snippets_never_write_the_endpoint_url(tmp_path):
    """A base URL can carry credentials (user:pass@, ?api-key=): both snippets read it from
    OPENAI_BASE_URL instead of writing it out."""
    request = original_request(tmp_path)
    for snippet in (to_python(request), to_curl(request)):
        assert "OPENAI_BASE_URL" in snippet and "http" not in snippet
