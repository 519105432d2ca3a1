"""The fake endpoint, seen through the real openai SDK: what each reply and fault looks like."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fake_openai import FakeOpenAI, Reply, closed_port_url, split_tokens

ROOT = Path(__file__).resolve().parent.parent
TINY_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
            "DwABBAEAwS2OUAAAAABJRU5ErkJggg==")
WORDS = "one two three four"  # faults strike after half the chunks: after "one two "

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def client(fake: FakeOpenAI, **kwargs: Any) -> OpenAI:
    kwargs.setdefault("api_key", "test")
    return OpenAI(base_url=fake.base_url, max_retries=0, **kwargs)


def ask(fake: FakeOpenAI, text: str = "hello there", *, stream: bool = True, **kwargs: Any) -> Any:
    messages = [{"role": "user", "content": text}]
    return client(fake).chat.completions.create(
        model="glm-4v-plus", messages=messages, stream=stream, **kwargs)  # type: ignore[call-overload]


def content_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- happy paths ------------------------------------------------------------------------


def test_echo_reply_streams_word_by_word_with_usage_in_last_chunk(fake: FakeOpenAI) -> None:
    chunks = list(ask(fake, "hello there"))
    words = [c.choices[0].delta.content for c in chunks[:-1]]
    assert "".join(words) == "Echo: hello there | images: 0 | turn: 1"
    assert words[:3] == ["Echo: ", "hello ", "there "]
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage.completion_tokens == len(words)
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None and c.choices[0].finish_reason is None for c in chunks[:-1])
    assert {c.model for c in chunks} == {"glm-4v-plus"}


def test_stream_wire_format_is_zhipu_sse(fake: FakeOpenAI) -> None:
    body = {"model": "glm-4.6v", "stream": True,
            "messages": [{"role": "user", "content": "你好"}]}
    with httpx.stream("POST", fake.base_url + "/chat/completions", json=body,
                      headers={"Authorization": "Bearer test"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all("object" not in c for c in chunks)  # Zhipu omits it
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:3]] == ["你", "好 "]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "usage" in chunks[-1]


def test_concurrent_async_sessions_each_get_their_own_echo(fake: FakeOpenAI) -> None:
    async def one(api: AsyncOpenAI, i: int) -> str:
        stream = await api.chat.completions.create(
            model="glm-4v", messages=[{"role": "user", "content": f"session {i}"}], stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def main() -> list[str]:
        async with AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0) as api:
            return await asyncio.gather(*(one(api, i) for i in range(8)))

    assert asyncio.run(main()) == [f"Echo: session {i} | images: 0 | turn: 1" for i in range(8)]


def test_peak_concurrency_counts_responses_in_flight(fake: FakeOpenAI) -> None:
    fake.script(*[Reply(fault="stall_mid")] * 3)
    streams = [ask(fake) for _ in range(3)]
    for stream in streams:
        next(iter(stream))  # all three are now stalled mid-answer on the server
    assert fake.peak_concurrency == 3
    for stream in streams:
        stream.close()
    fake.wait_idle()  # each stall ended when its client hung up


def test_non_streaming_request_gets_a_whole_completion(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="A cat.", reasoning="Fur, whiskers."))
    reply = ask(fake, stream=False)
    assert reply.choices[0].message.content == "A cat."
    assert reply.choices[0].message.model_extra["reasoning_content"] == "Fur, whiskers."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == len(split_tokens("A cat.")) + len(
        split_tokens("Fur, whiskers."))
    assert reply.model == "glm-4v-plus"


def test_reasoning_streams_first_as_reasoning_content(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="A grey cat.", reasoning="I see fur and whiskers."))
    deltas = [c.choices[0].delta for c in ask(fake)]
    kinds = ["reasoning" if (d.model_extra or {}).get("reasoning_content") else "content"
             for d in deltas[:-1]]
    assert kinds == ["reasoning"] * 5 + ["content"] * 3
    assert "".join(d.model_extra["reasoning_content"] for d in deltas[:5]) == (
        "I see fur and whiskers.")
    assert "".join(d.content or "" for d in deltas) == "A grey cat."


def test_records_images_history_and_sampling_parameters(fake: FakeOpenAI) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": TINY_PNG}},
                                     {"type": "text", "text": "What is this?"}]},
        {"role": "assistant", "content": "A dot."},
        {"role": "user", "content": [
            {"type": "text", "text": "And these?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
            {"type": "image_url", "image_url": {"url": "iVBORw0KGgo"}}]},
    ]
    reply = client(fake).chat.completions.create(
        model="glm-4v-plus-0111", messages=messages, temperature=0.3, max_tokens=100,  # type: ignore[arg-type]
        extra_body={"do_sample": True})
    assert reply.choices[0].message.content == "Echo: And these? | images: 3 | turn: 2"
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test"
    assert request.json["model"] == "glm-4v-plus-0111"
    assert (request.json["temperature"], request.json["max_tokens"]) == (0.3, 100)
    assert request.json["do_sample"] is True and "stream" not in request.json
    assert request.images() == [TINY_PNG, "https://example.com/a.jpg", "iVBORw0KGgo"]
    assert request.last_user_text() == "And these?"
    assert request.messages() == messages


def test_script_is_consumed_in_order_then_echo_resumes(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="one"), Reply(text="two", finish_reason="length"))
    first, second, third = (list(ask(fake, "x")) for _ in range(3))
    assert (content_of(first), content_of(second)) == ("one", "two")
    assert second[-1].choices[0].finish_reason == "length"
    assert content_of(third) == "Echo: x | images: 0 | turn: 1"
    fake.script(Reply(text="never sent"))
    fake.reset()
    assert fake.requests == [] and fake.request_count == 0
    assert content_of(list(ask(fake, "y"))).startswith("Echo: y")


def test_tokens_makes_a_long_answer_of_exactly_that_many_chunks(fake: FakeOpenAI) -> None:
    fake.script(Reply(tokens=300, usage=False))
    chunks = list(ask(fake))
    assert len(chunks) == 301 and chunks[-1].usage is None
    assert content_of(chunks).startswith("Echo: hello there | images: 0 | turn: 1\n\n")


def test_other_base_paths_and_models_list(fake: FakeOpenAI) -> None:
    zhipu_style = fake.base_url.replace("/v1", "/api/paas/v4")
    api = OpenAI(base_url=zhipu_style, api_key="test", max_retries=0)
    reply = api.chat.completions.create(
        model="glm-4v", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Echo: hi | images: 0 | turn: 1"
    assert fake.requests[-1].path == "/api/paas/v4/chat/completions"
    assert "glm-4v-plus" in [m.id for m in client(fake).models.list()]


def test_chunked_request_bodies_are_read(fake: FakeOpenAI) -> None:
    parts = [b'{"model": "glm-4v", "messages": ', b'[{"role": "user", "content": "hi"}]}']
    response = httpx.post(fake.base_url + "/chat/completions", content=iter(parts),
                          headers={"Authorization": "Bearer test"})
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo: hi")


def test_keep_requests_false_only_counts(fake: FakeOpenAI) -> None:
    with FakeOpenAI(keep_requests=False) as lean:
        for _ in range(3):
            list(ask(lean))
        assert lean.request_count == 3 and lean.requests == []


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("reply", "error", "status", "code"), [
    (Reply(status=400, error_code="1210", error_message="图片输入格式/解析错误"),
     openai.BadRequestError, 400, "1210"),
    (Reply(status=401, error_code="1002"), openai.AuthenticationError, 401, "1002"),
    (Reply(status=429, error_code="1113", error_message="余额不足"),
     openai.RateLimitError, 429, "1113"),
    (Reply(status=429, headers={"Retry-After": "3"}), openai.RateLimitError, 429, "1302"),
    (Reply(status=500), openai.InternalServerError, 500, "1234"),
])
def test_error_status_arrives_as_the_matching_sdk_exception(
        fake: FakeOpenAI, reply: Reply, error: type[openai.APIStatusError], status: int,
        code: str, stream: bool) -> None:
    fake.script(reply)
    with pytest.raises(error) as info:
        ask(fake, stream=stream)
    assert (info.value.status_code, info.value.code) == (status, code)
    assert reply.error_message in info.value.message
    assert info.value.body == {"code": code, "message": info.value.body["message"]}
    for name, value in reply.headers.items():
        assert info.value.response.headers[name] == value


def test_missing_or_bad_key_gets_401(fake: FakeOpenAI) -> None:
    response = httpx.post(fake.base_url + "/chat/completions", json={"messages": []})
    assert response.status_code == 401 and response.json()["error"]["code"] == "1001"
    with pytest.raises(openai.AuthenticationError) as info:
        client(fake, api_key="bad-key").chat.completions.create(
            model="glm-4v", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "1000"
    assert len(fake.requests) == 2  # rejected requests are recorded too


def test_strict_mode_rejects_unknown_fields_like_a_strict_proxy() -> None:
    with FakeOpenAI(strict=True) as strict:
        with pytest.raises(openai.BadRequestError, match="stream_options"):
            ask(strict, stream_options={"include_usage": True})
        with pytest.raises(openai.BadRequestError, match="thinking"):
            ask(strict, extra_body={"thinking": {"type": "enabled"}})
        assert content_of(list(ask(strict, "ok"))).startswith("Echo: ok")
        assert strict.requests[0].json["stream_options"] == {"include_usage": True}


# --- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_drop_before_is_a_connection_error(fake: FakeOpenAI, stream: bool) -> None:
    fake.script(Reply(fault="drop_before"))
    with pytest.raises(openai.APIConnectionError) as info:
        ask(fake, stream=stream)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert fake.requests[-1].last_user_text() == "hello there"  # recorded before the drop


def test_drop_mid_raises_connection_error_after_some_chunks(fake: FakeOpenAI) -> None:
    fake.script(Reply(WORDS, fault="drop_mid"))
    received = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in ask(fake):
            received.append(chunk)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert content_of(received) == "one two "  # no final chunk
    assert "incomplete" in str(info.value.__cause__)  # httpx2.RemoteProtocolError


def test_drop_mid_without_stream_is_a_connection_error(fake: FakeOpenAI) -> None:
    fake.script(Reply(fault="drop_mid"))
    with pytest.raises(openai.APIConnectionError):
        ask(fake, stream=False)


def test_stall_mid_hits_the_sdk_read_timeout(fake: FakeOpenAI) -> None:
    fake.script(Reply(WORDS, fault="stall_mid", stall=60))
    stream = client(fake, timeout=httpx.Timeout(2, read=0.5)).chat.completions.create(
        model="glm-4v", messages=[{"role": "user", "content": "hello there"}], stream=True)
    received = []
    with pytest.raises(openai.APITimeoutError):
        for chunk in stream:
            received.append(chunk)
    assert content_of(received) == "one two "
    fake.wait_idle()  # the 60 s stall ended as soon as the client hung up


def test_error_event_raises_api_error_without_status(fake: FakeOpenAI) -> None:
    fake.script(Reply(WORDS, fault="error_event", error_code="1234", error_message="网络错误"))
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in ask(fake):
            received.append(chunk)
    assert not isinstance(info.value, openai.APIStatusError | openai.APIConnectionError)
    assert (info.value.code, info.value.message) == ("1234", "网络错误")
    assert content_of(received) == "one two "


def test_malformed_chunk_raises_json_decode_error(fake: FakeOpenAI) -> None:
    fake.script(Reply(WORDS, fault="malformed_chunk"))
    received = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in ask(fake):
            received.append(chunk)
    assert content_of(received) == "one two "


def test_no_choices_sends_chunks_with_empty_choices(fake: FakeOpenAI) -> None:
    fake.script(Reply(fault="no_choices"))
    chunks = list(ask(fake))
    assert chunks and all(c.choices == [] for c in chunks)
    assert chunks[-1].usage is not None


def test_no_done_just_ends_the_stream(fake: FakeOpenAI) -> None:
    fake.script(Reply(text="complete answer", finish_reason="sensitive", fault="no_done"))
    chunks = list(ask(fake))
    assert content_of(chunks) == "complete answer"
    assert chunks[-1].choices[0].finish_reason == "sensitive"


def test_unknown_fault_is_rejected_early() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Reply(fault="drop_middle")


def test_closed_port_refuses_connections() -> None:
    api = OpenAI(base_url=closed_port_url(), api_key="test", max_retries=0)
    with pytest.raises(openai.APIConnectionError) as info:
        api.chat.completions.create(model="glm-4v", messages=[{"role": "user", "content": "hi"}])
    assert not isinstance(info.value, openai.APITimeoutError)


def test_client_hanging_up_mid_stream_is_quiet(
        fake: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script(Reply(tokens=100_000, tps=2000))
    stream = ask(fake)
    next(iter(stream))
    stream.close()
    fake.wait_idle()
    assert content_of(list(ask(fake, "still here"))).startswith("Echo: still here")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_stop_returns_promptly_during_a_stall() -> None:
    fake = FakeOpenAI().start()
    fake.script(Reply(fault="stall_mid", stall=600))
    stream = ask(fake)
    next(iter(stream))
    fake.stop()  # pytest-timeout fails the test if this waits for the stall
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    fake.stop()


def test_runs_standalone_and_prints_its_base_url() -> None:
    command = [sys.executable, "-m", "tests.fake_openai", "--port", "0", "--tokens", "20",
               "--tps", "2000"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
            api = OpenAI(base_url=url, api_key="test", max_retries=0)
            chunks = list(api.chat.completions.create(
                model="glm-4v", messages=[{"role": "user", "content": "hi"}], stream=True))
            assert len(chunks) == 21 and content_of(chunks).startswith("Echo: hi | images: 0")
        finally:
            proc.terminate()
    assert proc.returncode == 0  # SIGTERM ends it cleanly
