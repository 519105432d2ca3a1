"""Every endpoint fault a user can meet, through the chat's own handler and through `/ask`.

For each one: the question and its image stay in the conversation, whatever streamed before the
fault stays visible and is marked "Interrupted", one sentence says what happened and what to do,
no traceback reaches the page, and Retry (the same turn sent again) then gets the answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.conftest import TEST_KEY, AppProcess, Browser, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI, Reply, closed_port_url
from ui.conversation import for_retry, user_message
from ui.endpoint import ChatRequest, Endpoint, Retrying, TextDelta, stream_chat
from ui.errors import EndpointError
from ui.page.chat import Chat
from ui.settings import Settings

WORDS = "one two three four"  # mid-stream faults cut after half: "one two " stays visible
PARTIAL = "one two "
NGINX_413 = ("<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
             "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>"
             "\r\n</body>\r\n</html>\r\n")
TRACEBACK_MARKS = ("Traceback", 'File "', "openai.", "httpx", "Error(", "Exception")

LOOP = asyncio.new_event_loop()  # one loop for the module: the SDK's connection pool lives in it


@pytest.fixture(autouse=True, scope="module")
def _close_loop():
    yield
    LOOP.close()




ZH = Browser({"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})


def settings_for(base_url: str, **overrides: str) -> Settings:
    values = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": TEST_KEY,
              "GLM_MODELS": "glm-4.5v,GLM-4V-Plus", "GLM_RETRIES": "3",
              "GLM_RETRY_BACKOFF": "0.001"}  # the real schedule (1 s, 2 s, 4 s), shrunk
    values.update(overrides)
    return Settings.from_env(values)


def respond(chat: Chat, history: list[dict[str, Any]], browser: Browser | None = None,
            max_tokens: int = 512) -> list[tuple[list[dict[str, Any]], str]]:
    """Every (history, stats) pair the page would receive for one answer."""

    async def run() -> list[tuple[list[dict[str, Any]], str]]:
        updates = []
        async for shown, stats in chat.respond(history, "glm-4.5v", 0.7, max_tokens, "", 1.0,
                                               "balanced", "all", False, "", browser or Browser()):
            updates.append(([dict(m) for m in shown], stats))
        return updates

    return LOOP.run_until_complete(run())


def notices(history: list[dict[str, Any]]) -> list[str]:
    return [m["metadata"]["title"] for m in history
            if str((m.get("metadata") or {}).get("title", "")).startswith("⚠️")]


def answers(history: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in history if m["role"] == "assistant" and not m.get("metadata")]


@dataclass(frozen=True)
class Fault:
    """One scripted failure and what the person should read afterwards."""

    replies: tuple[Reply, ...]
    words: tuple[str, ...]  # must all appear in the notice (English)
    partial: bool = False  # something streamed before the fault
    requests: int = 1  # chat requests the fault costs (retries included)
    settings: tuple[tuple[str, str], ...] = ()


def _times(reply: Reply, n: int) -> tuple[Reply, ...]:
    return (reply,) * n


FAULTS: dict[str, Fault] = {
    "401 code 1000": Fault((Reply(status=401, error_code="1000", error_message="身份验证失败。"),),
                           ("API key", "refused", "OPENAI_API_KEY")),
    "401 code 1004": Fault((Reply(status=401, error_code="1004", error_message="令牌已过期"),),
                           ("API key", "refused")),
    "401 from a proxy, no code": Fault(
        (Reply(status=401, body='{"error":{"message":"Invalid token","type":"auth_error"}}'),),
        ("API key", "refused")),
    "404 model not found": Fault((Reply(status=404),), ("does not know the model", "glm-4.5v")),
    "400 code 1211": Fault((Reply(status=400, error_code="1211", error_message="模型不存在"),),
                           ("does not know the model", "GLM_MODELS")),
    "403 code 1220 no access to the model": Fault(
        (Reply(status=403, error_code="1220", error_message="您无权访问该模型"),),
        ("may not use the model", "pick another model")),
    "400 code 1210 bad image": Fault(
        (Reply(status=400, error_code="1210", error_message="图片输入格式/解析错误"),),
        ("rejected the request", "image")),
    "400 code 1214": Fault((Reply(status=400, error_code="1214", error_message="messages 参数非法"),),
                           ("conversation format", "clear")),
    "400 code 1261 prompt too long": Fault(
        (Reply(status=400, error_code="1261", error_message="Prompt 超长"),),
        ("too long", "clear", "fewer images")),
    "400 code 1301 sensitive": Fault(
        (Reply(status=400, error_code="1301", error_message="系统检测到输入或生成内容可能包含敏感内容"),),
        ("content filter", "rephrase")),
    "413 from a proxy's body limit": Fault((Reply(status=413, body=NGINX_413),),
                                           ("too large", "fewer images", "Fast")),
    "429 code 1113 no balance": Fault((Reply(status=429, error_code="1113", error_message="余额不足"),),
                                      ("no balance", "top it up")),
    "429 code 1302 after 3 retries": Fault(_times(Reply(status=429, error_code="1302"), 4),
                                           ("busy", "Retry"), requests=4),
    "429 code 1305 after 3 retries": Fault(_times(Reply(status=429, error_code="1305"), 4),
                                           ("busy", "Retry"), requests=4),
    "500 after 3 retries": Fault(_times(Reply(status=500), 4), ("internal error", "Retry"), requests=4),
    "503 proxy page after 3 retries": Fault(
        _times(Reply(status=503, body="<html><body>503 Service Unavailable</body></html>"), 4),
        ("internal error", "Retry"), requests=4),
    "connection refused": Fault((), ("Cannot reach", "127.0.0.1", "OPENAI_BASE_URL"), requests=0,
                                settings=(("OPENAI_BASE_URL", "closed"),)),
    "closed before any response": Fault((Reply(fault="drop_before"),), ("Cannot reach",)),
    "timeout before the first token": Fault((Reply(ttft=30),), ("did not start answering", "Retry"),
                                            settings=(("GLM_READ_TIMEOUT", "0.3"),)),
    # A read timeout long enough that a busy CI machine gets the first words in before it.
    "stall mid-stream": Fault((Reply(WORDS, fault="stall_mid", stall=30),),
                              ("stopped arriving", "1.5 s", "Retry"), partial=True,
                              settings=(("GLM_READ_TIMEOUT", "1.5"),)),
    "connection dropped mid-stream": Fault((Reply(WORDS, fault="drop_mid"),),
                                           ("connection", "lost", "Retry"), partial=True),
    "malformed chunk": Fault((Reply(WORDS, fault="malformed_chunk"),),
                             ("could not be read", "Retry"), partial=True),
    "error event with Zhipu code": Fault(
        (Reply(WORDS, fault="error_event", error_code="1234", error_message="网络错误"),),
        ("internal error", "Retry"), partial=True),
    "error event from a proxy": Fault(
        (Reply(WORDS, fault="error_event", error_code="upstream_error",
               error_message="upstream connect error or disconnect/reset before headers"),),
        ("reported an error mid-answer", "Retry"), partial=True),
    "stream with no choices": Fault((Reply(WORDS, fault="no_choices"),), ("no answer", "Retry")),
}


def _settings(fake: FakeOpenAI, fault: Fault) -> Settings:
    extra = dict(fault.settings)
    base = closed_port_url() if extra.pop("OPENAI_BASE_URL", "") == "closed" else fake.base_url
    return settings_for(base, **extra)


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_keeps_the_turn_says_one_sentence_and_retry_answers(name: str, fake: FakeOpenAI,
                                                                   tmp_path) -> None:
    fault = FAULTS[name]
    fake.script(*fault.replies)
    chat = Chat(_settings(fake, fault))
    image = make_image(tmp_path / "photo.png", (40, 30))
    history = [user_message("What is in this photo?", [str(image)])]

    updates = respond(chat, history)
    final, stats = updates[-1]

    assert final[0] == history[0]  # the question and its image stay
    [notice] = notices(final)
    for word in fault.words:
        assert word in notice, f"{word!r} not in {notice!r}"
    assert "\n" not in notice and len(notice) < 300  # one sentence, not a dump
    shown = str(final) + stats
    for mark in TRACEBACK_MARKS:
        assert mark not in shown
    if fault.partial:
        assert answers(final) == [PARTIAL]  # what streamed stays visible...
        assert notice.startswith("⚠️ Interrupted:")  # ...and is marked as cut short
        assert any(answers(h) and PARTIAL.startswith(answers(h)[0])  # and was seen live
                   for h, _ in updates[:-1])
    else:
        assert answers(final) == [] and "Interrupted" not in notice
    assert fake.request_count == fault.requests

    # Retry: the same turn again, with the endpoint healthy (refused: the port is closed for good)
    if fault.requests == 0:
        chat = Chat(settings_for(fake.base_url))
    fake.script(Reply(text="A red rectangle."))
    retried = respond(chat, for_retry(final))[-1][0]
    assert retried[0] == history[0]
    assert answers(retried) == ["A red rectangle."] and notices(retried) == []
    again = fake.requests[-1]
    assert again.last_user_text() == "What is in this photo?" and len(again.images()) == 1


@pytest.mark.parametrize(("reason", "words"), [
    ("length", ("cut off", "Max answer length", "continue")),
    ("sensitive", ("content filter",)),
    ("content_filter", ("content filter",)),
    ("network_error", ("network error", "Retry")),
])
def test_finish_reason_keeps_the_answer_and_says_why_it_ended(reason: str, words: tuple[str, ...],
                                                              fake: FakeOpenAI) -> None:
    fake.script(Reply(WORDS, finish_reason=reason))
    chat = Chat(settings_for(fake.base_url))
    history = [user_message("Describe it", [])]
    final, stats = respond(chat, history)[-1]
    assert final[0] == history[0]
    assert answers(final) == [WORDS]  # the whole answer arrived: kept, not "interrupted"
    [notice] = notices(final)
    assert all(word in notice for word in words), notice
    assert "Interrupted" not in notice and "tokens" in stats

    fake.script(Reply(text="Fine."))
    assert answers(respond(chat, for_retry(final))[-1][0]) == ["Fine."]


def test_rate_limit_is_retried_and_the_user_sees_retrying(fake: FakeOpenAI) -> None:
    fake.script(Reply(status=429, error_code="1302"), Reply(status=503), Reply(text="Got it."))
    chat = Chat(settings_for(fake.base_url))
    updates = respond(chat, [user_message("hi", [])])
    statuses = [stats for _, stats in updates]
    assert "Endpoint busy, retrying 1/3…" in statuses
    assert "Endpoint busy, retrying 2/3…" in statuses
    final, stats = updates[-1]
    assert answers(final) == ["Got it."] and notices(final) == []
    assert "retrying" not in stats  # cleared once the answer came
    assert fake.request_count == 3


def test_retrying_is_said_in_chinese_for_a_chinese_browser(fake: FakeOpenAI) -> None:
    fake.script(Reply(status=429, error_code="1305"), Reply(text="好的。"))
    updates = respond(Chat(settings_for(fake.base_url)), [user_message("你好", [])], ZH)
    assert "接口繁忙，正在重试 1/3……" in [stats for _, stats in updates]


def test_fault_sentence_is_chinese_for_a_chinese_browser(fake: FakeOpenAI) -> None:
    fake.script(Reply(WORDS, fault="drop_mid"))
    final = respond(Chat(settings_for(fake.base_url)), [user_message("这是什么？", [])], ZH)[-1][0]
    [notice] = notices(final)
    assert notice.startswith("⚠️ 已中断：") or notice.startswith("⚠️ 已中断:")
    assert "连接断开" in notice and "重试" in notice
    assert answers(final) == [PARTIAL]


def test_no_balance_is_never_retried(fake: FakeOpenAI) -> None:
    fake.script(*_times(Reply(status=429, error_code="1113"), 4))
    updates = respond(Chat(settings_for(fake.base_url)), [user_message("hi", [])])
    assert fake.request_count == 1
    assert not any("retrying" in stats for _, stats in updates)


def test_a_fault_after_the_first_token_is_not_retried(fake: FakeOpenAI) -> None:
    # Sending again would repeat (and bill) the part the user already reads: leave it to Retry.
    fake.script(Reply(WORDS, fault="error_event", error_code="1234"), Reply(text="unused"))
    respond(Chat(settings_for(fake.base_url)), [user_message("hi", [])])
    assert fake.request_count == 1


def _events(fake: FakeOpenAI, *, backoff: float = 0.001, retries: int = 3) -> list[Any]:
    client = Endpoint(settings_for(fake.base_url)).client()
    request = ChatRequest(model="glm-4.5v", messages=[{"role": "user", "content": "hi"}],
                          max_tokens=16)

    async def run() -> list[Any]:
        events: list[Any] = []
        try:
            async for event in stream_chat(client, request, retries=retries, backoff=backoff):
                events.append(event)
        except EndpointError as error:
            events.append(error)
        return events

    return LOOP.run_until_complete(run())


def test_backoff_doubles_with_a_little_jitter(fake: FakeOpenAI) -> None:
    fake.script(*_times(Reply(status=500), 3), Reply(text="ok"))
    events = _events(fake, backoff=0.004)
    delays = [e.delay for e in events if isinstance(e, Retrying)]
    assert len(delays) == 3
    for n, delay in enumerate(delays):
        assert 0.004 * 2**n <= delay <= 0.004 * 2**n * 1.25
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["ok"]


def test_retry_after_from_the_endpoint_sets_the_wait(fake: FakeOpenAI) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "0.02"}),
                Reply(status=429, headers={"retry-after-ms": "5"}), Reply(text="ok"))
    delays = [e.delay for e in _events(fake, backoff=50) if isinstance(e, Retrying)]
    assert delays == [pytest.approx(0.02), pytest.approx(0.005)]


def test_a_long_retry_after_goes_to_the_user_instead_of_a_silent_wait(fake: FakeOpenAI) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "120"}))
    [error] = _events(fake)
    assert isinstance(error, EndpointError) and error.key == "rate_limited"
    assert fake.request_count == 1


def test_retries_zero_sends_once(fake: FakeOpenAI) -> None:
    fake.script(Reply(status=500))
    [error] = _events(fake, retries=0)
    assert isinstance(error, EndpointError) and error.key == "server_error"
    assert fake.request_count == 1


# --- the same faults through /ask, as a script meets them ------------------------------------


@pytest.fixture
def ask_client(app: AppProcess, module_fake: FakeOpenAI) -> Client:
    module_fake.reset()
    return Client(app.url, verbose=False)


ASK_FAULTS = {
    "401": (Reply(status=401, error_code="1002"), "API key was refused"),
    "1261": (Reply(status=400, error_code="1261"), "too long for the model: clear it or send fewer"),
    "413": (Reply(status=413, body=NGINX_413), "too large for the endpoint"),
    "1113": (Reply(status=429, error_code="1113"), "no balance left"),
    "1301": (Reply(status=400, error_code="1301"), "content filter refused"),
    "no choices": (Reply(WORDS, fault="no_choices"), "sent no answer"),
}


@pytest.mark.parametrize("name", list(ASK_FAULTS))
def test_ask_api_fault_arrives_as_one_sentence(name: str, ask_client: Client, module_fake: FakeOpenAI,
                                               tmp_path) -> None:
    reply, sentence = ASK_FAULTS[name]
    module_fake.script(reply)
    image = make_image(tmp_path / "a.png")
    with pytest.raises(AppError) as info:
        ask_client.predict([handle_file(str(image))], "What is this?", "glm-4.5v", api_name="/ask")
    message = str(info.value)
    assert sentence in message
    assert not any(mark in message for mark in TRACEBACK_MARKS)
    assert module_fake.request_count == 1
    assert ask_client.predict([], "still there?", api_name="/ask").startswith("Echo: still there?")


@pytest.mark.parametrize(("fault", "sentence"), [
    ("drop_mid", "connection to the endpoint was lost"),
    ("malformed_chunk", "could not be read"),
    ("error_event", "internal error"),
])
def test_ask_api_streams_the_partial_answer_then_the_sentence(fault: str, sentence: str,
                                                              ask_client: Client,
                                                              module_fake: FakeOpenAI) -> None:
    module_fake.script(Reply(WORDS, fault=fault))
    job = ask_client.submit([], "hi", api_name="/ask")
    seen = []
    with pytest.raises(AppError, match=sentence):
        for output in job:
            seen.append(output)
        job.result()
    assert seen and seen[-1] == PARTIAL


def test_ask_api_rate_limit_is_retried_then_answers(ask_client: Client,
                                                    module_fake: FakeOpenAI) -> None:
    # The app's own backoff is a second: Retry-After from the endpoint keeps this test quick.
    module_fake.script(Reply(status=429, error_code="1302", headers={"Retry-After": "0.05"}),
                       Reply(status=500, headers={"Retry-After": "0.05"}))
    assert ask_client.predict([], "busy?", api_name="/ask").startswith("Echo: busy?")
    assert module_fake.request_count == 3


def test_ask_api_length_finish_says_how_to_get_more(ask_client: Client,
                                                    module_fake: FakeOpenAI) -> None:
    module_fake.script(Reply(WORDS, finish_reason="length"))
    answer = ask_client.predict([], "long story", api_name="/ask")
    assert answer.startswith(WORDS) and "cut off" in answer and "Max answer length" in answer


@pytest.fixture(scope="module")
def impatient_app(module_fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory):
    """The app with a short read timeout, so timeouts happen within the test."""
    running = start_app({"OPENAI_BASE_URL": module_fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                         "GLM_READ_TIMEOUT": "0.5"}, tmp_path_factory.mktemp("impatient"))
    try:
        yield running
    finally:
        stop_app(running)


def test_ask_api_timeouts_and_refused_connection(impatient_app: AppProcess,
                                                 module_fake: FakeOpenAI) -> None:
    module_fake.reset()
    client = Client(impatient_app.url, verbose=False)
    module_fake.script(Reply(ttft=30))
    with pytest.raises(AppError, match="did not start answering in time"):
        client.predict([], "slow?", api_name="/ask")
    module_fake.script(Reply(WORDS, fault="stall_mid"))
    with pytest.raises(AppError, match=r"no data for 0\.5 s"):
        client.predict([], "stalls?", api_name="/ask")
    module_fake.wait_idle()

    module_fake.stop()  # the endpoint goes away: its port now refuses connections
    try:
        with pytest.raises(AppError, match=r"Cannot reach the endpoint at http://127\.0\.0\.1"):
            client.predict([], "anyone?", api_name="/ask")
    finally:
        module_fake.start()
    assert client.predict([], "back?", api_name="/ask").startswith("Echo: back?")


def test_expected_faults_leave_one_log_line_not_a_traceback(impatient_app: AppProcess,
                                                            module_fake: FakeOpenAI) -> None:
    module_fake.reset()
    module_fake.script(Reply(status=429, error_code="1113"))
    start = len(impatient_app.output)
    with pytest.raises(AppError, match="no balance"):
        Client(impatient_app.url, verbose=False).predict([], "hi", api_name="/ask")
    log = wait_for_log(impatient_app, "endpoint error quota status=429 code=1113", start)
    assert "Traceback" not in log


def wait_for_log(app: AppProcess, text: str, start: int = 0, timeout: float = 10.0) -> str:
    """The app's output since line `start`, once `text` shows up in it (its pipe lags a little)."""
    deadline = time.monotonic() + timeout
    while True:
        log = "".join(app.output[start:])
        if text in log or time.monotonic() > deadline:
            assert text in log
            return log
        time.sleep(0.02)
