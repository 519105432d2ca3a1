"""A local OpenAI-compatible chat server for tests: Zhipu-style SSE, scripted replies and faults.

Real HTTP/1.1 on 127.0.0.1, served by plain asyncio (stdlib only) in a background thread with its
own event loop, so the code under test talks to it exactly as to GLM: through the openai SDK, over
a socket. Raw asyncio rather than an ASGI stack because the faults need the socket itself (close
it before any response, abort it mid-body) and because the load test and the benchmark need it
cheap.

    with FakeOpenAI() as fake:
        fake.script(Reply(text="a cat"), Reply(status=429, error_code="1113"))
        client = OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        ...
        assert fake.requests[-1].images() == ["data:image/png;base64,..."]

Without a script every chat call gets the echo reply
`Echo: <last user text> | images: <image parts in the request> | turn: <user messages>`,
streamed word by word, so concurrent sessions can be told apart and history can be checked.

Standalone, for browser tests, the load test and the benchmark (prints its base URL, then serves):

    python -m tests.fake_openai --port 8011 --ttft 0.3 --tps 500 --tokens 4000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http
import itertools
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

FAULTS = frozenset({
    "drop_before",      # close the socket after reading the request, without any response
    "drop_mid",         # after half the chunks, abort the connection (no final chunk, no [DONE])
    "stall_mid",        # after half the chunks, send nothing for `stall` seconds, then abort
    "malformed_chunk",  # after half the chunks, a `data: {not json` line, then carry on
    "error_event",      # after half the chunks, a `data: {"error": {...}}` frame, then end the body
    "endless_line",     # after half the chunks, a data line of ENDLESS_LINE bytes that never ends
    "no_choices",       # every chunk has "choices": [] (the last one still carries usage)
    "no_done",          # a complete stream that ends without `data: [DONE]`
    # Not faults, but wire formats real servers use and clients must read:
    "sse_variants",     # CRLF line ends, `: keep-alive` comments, event/id fields, split data lines
    "ignore_stream",    # stream=true answered with one whole JSON completion (some proxies)
})
_MID_FAULTS = frozenset({"drop_mid", "stall_mid", "malformed_chunk", "error_event", "endless_line"})
ENDLESS_LINE = 64 * 1024 * 1024  # bytes of the endless_line fault's line, sent 64 KB at a time

MODELS = ("glm-4v-plus-0111", "glm-4v-plus", "glm-4v-flash", "glm-4.1v-thinking-flash",
          "glm-4.5v", "glm-4.6v")

# What a strict OpenAI-style proxy knows; others (stream_options, thinking, do_sample) get a 400.
STRICT_FIELDS = frozenset({
    "model", "messages", "stream", "temperature", "top_p", "max_tokens", "stop", "n", "user",
    "seed", "presence_penalty", "frequency_penalty", "logit_bias", "response_format", "tools",
    "tool_choice",
})

# Zhipu's code and message for each status when a Reply names only the status.
_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("1210", "API 调用参数有误，请检查文档。"),
    401: ("1000", "身份验证失败。"),
    403: ("1220", "您无权访问该模型。"),
    404: ("1211", "模型不存在，请检查模型代码。"),
    413: ("1261", "Prompt 超长。"),
    429: ("1302", "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"),
    500: ("1234", "网络错误，请联系客服。"),
    503: ("1305", "当前API请求过多，请稍后重试。"),
}

_TICK = 0.01  # paced streams send what is due at most every 10 ms: exact to 100 tok/s, cheap above
_BATCH = 64  # unpaced streams: frames per write before letting other streams run
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
_TOKEN_RE = re.compile(rf"[{_CJK}]\s*|[^\s{_CJK}]+\s*|\s+")
_FILLER = _TOKEN_RE.findall(
    "The image shows a small grey cat sitting on a wooden table next to a window. 图中有一只猫，"
    "它正在看窗外。Soft light falls across the **table** and a cup of tea stands near the edge.\n\n"
)


@dataclass(frozen=True)
class Reply:
    """One scripted response to a /chat/completions call."""

    text: str | None = None  # None -> the echo reply
    contents: tuple[Any, ...] | None = None  # instead of text: each chunk's delta.content, any JSON
    reasoning: str = ""  # streamed first, as delta.reasoning_content
    ttft: float = 0.0  # seconds before anything is sent back, status line included
    tps: float | None = None  # tokens (chunks of ~1 word or CJK char) per second; None = flat out
    tokens: int | None = None  # exactly this many answer tokens: the text, then filler words
    finish_reason: str = "stop"  # stop, length, sensitive, content_filter, network_error, ...
    usage: bool = True  # usage {prompt_tokens, completion_tokens, total_tokens} in the last chunk
    status: int = 200  # non-200 -> JSON error body {"error": {"code", "message"}}, no stream
    error_code: str | None = None  # Zhipu code for the error body or error_event frame
    error_message: str = ""
    body: str | None = None  # with status != 200: this body as is (a proxy's HTML or JSON page)
    fault: str | None = None  # one of FAULTS
    stall: float = 30.0  # seconds of silence for stall_mid (cut short by disconnect or stop())
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (Retry-After)

    def __post_init__(self) -> None:
        """Reject typos in fault names and impossible pacing early."""
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; choose one of {sorted(FAULTS)}")
        if self.tps is not None and self.tps <= 0:
            raise ValueError("tps must be positive, or None for no pacing")


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # lowercase names
    json: Any  # the parsed body; None without a body or when it is not JSON

    def messages(self) -> list[dict[str, Any]]:
        """The request's messages (empty when absent or malformed)."""
        return _messages(self.json)

    def last_user_text(self) -> str:
        """Text of the last user message, text parts joined by spaces."""
        users = [m for m in self.messages() if m.get("role") == "user"]
        return _text_of(users[-1].get("content")) if users else ""

    def images(self) -> list[str]:
        """Every image_url url in the request, history included, in order."""
        return _image_urls(self.json)


class FakeOpenAI:
    """An OpenAI-compatible chat server on a free loopback port, run in a background thread."""

    def __init__(
        self,
        *,
        strict: bool = False,
        known_fields: Collection[str] = STRICT_FIELDS,
        keep_requests: bool = True,
        default: Reply | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_concurrent: int | None = None,
    ) -> None:
        self.strict = strict  # 400 for top-level request fields outside known_fields
        self.known_fields = frozenset(known_fields)
        self.keep_requests = keep_requests  # False: count requests only (load tests, bench)
        self.default = default or Reply()  # used when the script is empty
        # Like GLM's concurrency limit: a chat call while this many are answered gets 429 / 1302.
        self.max_concurrent = max_concurrent
        self.refused = 0  # calls refused by max_concurrent
        self.host = host
        self.port = port
        self.base_url = ""
        self._cond = threading.Condition()
        self._script: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._count = 0
        self._active = 0
        self._peak = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- control, from the test's thread ---------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Bind, start serving in a daemon thread and return once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI already started")
        self._ready.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"FakeOpenAI could not start: {self._failure}") from self._failure
        return self

    def stop(self) -> None:
        """Abort open connections (stalls included) and stop; start() again reuses the port."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next /chat/completions calls, in order."""
        with self._cond:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget the script, the recorded requests and the counters."""
        with self._cond:
            self._script.clear()
            self._requests.clear()
            self._count = 0
            self._peak = self._active

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far (empty with keep_requests=False)."""
        with self._cond:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many requests arrived, recorded or not."""
        with self._cond:
            return self._count

    @property
    def peak_concurrency(self) -> int:
        """The most chat completions answered at the same time since start or reset()."""
        with self._cond:
            return self._peak

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until `count` requests arrived; return the snapshot or raise TimeoutError."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._count >= count, timeout):
                raise TimeoutError(f"{self._count} requests arrived, expected {count}")
            return list(self._requests)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no chat completion is being answered, or raise TimeoutError."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._active == 0, timeout):
                raise TimeoutError(f"{self._active} responses still in progress")

    # --- the server, in its own thread and loop -------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # report a failed bind to start()
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}/v1"
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            conn = _Conn(reader, writer)
            while await conn.next_request():
                await self._dispatch(conn)
                if not conn.keep_alive:
                    break
        except asyncio.CancelledError:
            # stop(): end quietly. Not re-raised: Python 3.11's start_server callback would log
            # a traceback for a cancelled handler task, and nothing awaits this task but stop().
            writer.transport.abort()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-request or mid-response: nothing to report
        except Exception:
            log.exception("fake_openai: request handler failed")
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _dispatch(self, conn: _Conn) -> None:
        try:
            parsed = json.loads(conn.body) if conn.body else None
        except ValueError:
            parsed = None
        self._record(RecordedRequest(conn.method, conn.path, conn.headers, parsed))
        if conn.path.endswith("/chat/completions"):
            if conn.method != "POST":
                await conn.send_error(405, "1214", f"{conn.method} not allowed, use POST")
            else:
                await self._chat(conn, parsed)
        elif conn.path.endswith("/models") and conn.method == "GET":
            if not await self._authorized(conn):
                return
            data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "zhipuai"}
                    for m in MODELS]
            await conn.send_json(200, {"object": "list", "data": data})
        else:
            await conn.send_error(404, "404", f"no route for {conn.method} {conn.path}")

    async def _authorized(self, conn: _Conn) -> bool:
        auth = conn.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            await conn.send_error(401, "1001",
                                  "Header中未收到Authentication参数，无法进行身份验证。")
            return False
        if key.strip() == "bad-key":
            await conn.send_error(401, "1000", "身份验证失败。")
            return False
        return True

    async def _chat(self, conn: _Conn, body: Any) -> None:
        if not await self._authorized(conn):
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            await conn.send_error(400, "1214", "messages 参数非法。请检查文档。")
            return
        unknown = sorted(set(body) - self.known_fields) if self.strict else []
        if unknown:
            await conn.send_error(400, "1210", "Unrecognized request argument supplied: "
                                  + ", ".join(unknown))
            return
        with self._cond:
            busy = self.max_concurrent is not None and self._active >= self.max_concurrent
            self.refused += busy
        if busy:
            await conn.send_error(429, "1302",
                                  "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。")
            return
        reply = self._next_reply()
        with self._cond:
            self._active += 1
            self._peak = max(self._peak, self._active)
        try:
            await self._answer(conn, reply, body)
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    async def _answer(self, conn: _Conn, reply: Reply, body: dict[str, Any]) -> None:
        if not await conn.pause(reply.ttft):
            return
        if reply.fault == "drop_before":
            conn.abort()
            return
        if reply.status != 200 and reply.body is not None:
            html = reply.body.lstrip().startswith("<")
            await conn.send_raw(reply.status, reply.body.encode(), reply.headers,
                                "text/html; charset=utf-8" if html else "application/json")
            return
        if reply.status != 200:
            code, message = _DEFAULT_ERRORS.get(reply.status, (str(reply.status), "error"))
            await conn.send_error(reply.status, reply.error_code or code,
                                  reply.error_message or message, reply.headers)
            return
        model = str(body.get("model") or "glm-4v")
        text = reply.text if reply.text is not None else _echo(body)
        content: list[Any] = split_tokens(text) if reply.contents is None else list(reply.contents)
        if reply.tokens is not None:
            if content and not content[-1][-1].isspace():
                content[-1] += "\n\n"  # the filler starts a new paragraph
            content = (content + _filler(reply.tokens - len(content)))[: reply.tokens]
        reasoning = split_tokens(reply.reasoning)
        usage = _usage(body, len(reasoning) + len(content)) if reply.usage else None
        answer = _Answer(reply, model, reasoning, content, usage)
        if body.get("stream") is True and reply.fault != "ignore_stream":
            await self._stream(conn, answer)
        else:
            await self._complete(conn, answer)

    async def _stream(self, conn: _Conn, answer: _Answer) -> None:
        reply, n = answer.reply, answer.count
        cut = n // 2 if reply.fault in _MID_FAULTS else n
        await conn.start_stream(reply.headers)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await _send_paced(conn, answer.frame, 0, cut, t0, reply.tps)
        if reply.fault == "drop_mid":
            conn.abort()
            return
        if reply.fault == "stall_mid":
            await conn.pause(reply.stall)
            conn.abort()
            return
        if reply.fault == "error_event":
            error = {"error": {"code": reply.error_code or "1234",
                               "message": reply.error_message or "网络错误，请联系客服。"}}
            await conn.send(b"data: " + _dumps(error) + b"\n\n")
            await conn.end()
            return
        if reply.fault == "endless_line":
            await conn.send(b'data: {"choices":[{"index":0,"delta":{"content":"')
            piece = b"x" * 65536
            for _ in range(ENDLESS_LINE // len(piece)):
                await conn.send(piece)
            conn.abort()
            return
        if reply.fault == "malformed_chunk":
            await conn.send(b"data: {not json\n\n")
        await _send_paced(conn, answer.frame, cut, n, t0, reply.tps)
        done = b"" if reply.fault == "no_done" else b"data: [DONE]\n\n"
        await conn.send(answer.last_frame() + done)
        await conn.end()

    async def _complete(self, conn: _Conn, answer: _Answer) -> None:
        reply = answer.reply
        if reply.tps is not None and not await conn.pause(answer.count / reply.tps):
            return
        if reply.fault == "malformed_chunk":
            await conn.send_raw(200, b"{not json", reply.headers)
            return
        if reply.fault == "error_event":
            error = {"code": reply.error_code or "1234", "message": reply.error_message or "网络错误"}
            await conn.send_json(200, {"error": error}, reply.headers)
            return
        message: dict[str, Any] = {"role": "assistant", "content": "".join(map(str, answer.content))}
        if answer.reasoning:
            message["reasoning_content"] = "".join(answer.reasoning)
        choices = [] if reply.fault == "no_choices" else [
            {"index": 0, "finish_reason": reply.finish_reason, "message": message}]
        result: dict[str, Any] = {"id": answer.id, "created": answer.created,
                                  "model": answer.model, "choices": choices}
        if answer.usage is not None:
            result["usage"] = answer.usage
        data = _dumps(result)
        if reply.fault in ("drop_mid", "stall_mid"):
            await conn.send_head(200, "application/json", len(data), reply.headers)
            await conn.send(data[: len(data) // 2])
            if reply.fault == "stall_mid":
                await conn.pause(reply.stall)
            conn.abort()
            return
        await conn.send_raw(200, data, reply.headers)

    # --- bookkeeping ----------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._count += 1
            if self.keep_requests:
                self._requests.append(request)
            self._cond.notify_all()

    def _next_reply(self) -> Reply:
        with self._cond:
            return self._script.popleft() if self._script else self.default


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    return f"http://127.0.0.1:{_reserved_socket().getsockname()[1]}/v1"


@functools.cache
def _reserved_socket() -> socket.socket:
    # Bound but never listening: the port stays ours, and connections get an immediate RST.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def split_tokens(text: str) -> list[str]:
    """Split text into stream tokens: words with their trailing spaces, CJK chars one by one."""
    return _TOKEN_RE.findall(text)


# --- HTTP plumbing ------------------------------------------------------------------------


class _Conn:
    """One keep-alive HTTP/1.1 connection: reads requests, writes (streamed) responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.method = self.path = ""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.keep_alive = True
        self._http11 = True
        self.chunked = False  # this response's body uses chunked transfer encoding

    async def next_request(self) -> bool:
        """Read the next request; False when the client hung up or sent something unparseable."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            self.method, target, version = request_line.split(" ", 2)
            self.path = target.split("?", 1)[0]
            self.headers = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    self.headers[name.strip().lower()] = value.strip()
            self._http11 = version.strip() == "HTTP/1.1"
            self.keep_alive = self._http11 and self.headers.get("connection", "").lower() != "close"
            self.chunked = False
            if self.headers.get("expect", "").lower() == "100-continue":
                self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                self.body = await self._read_chunked()
            else:
                length = int(self.headers.get("content-length", 0))
                self.body = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ValueError):
            return False
        return True

    async def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def send_head(self, status: int, content_type: str, length: int | None,
                        extra: dict[str, str]) -> None:
        """Status line and headers; length None means a streamed body."""
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}", f"Content-Type: {content_type}"]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        elif self._http11:
            self.chunked = True
            lines += ["Transfer-Encoding: chunked", "Cache-Control: no-cache"]
        else:
            self.keep_alive = False  # HTTP/1.0 stream: the body ends when the socket closes
        lines.append("Connection: keep-alive" if self.keep_alive else "Connection: close")
        lines += [f"{k}: {v}" for k, v in extra.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()

    async def send(self, data: bytes) -> None:
        """Write body bytes (chunk-framed if streaming) and wait for the socket to take them."""
        if not data:
            return
        if self.writer.is_closing():
            raise ConnectionResetError("client went away")
        if self.chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        self.writer.write(data)
        await self.writer.drain()

    async def end(self) -> None:
        """Finish a streamed body."""
        if self.chunked:
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()
        if not self.keep_alive:
            self.writer.close()

    async def send_raw(self, status: int, data: bytes, extra: dict[str, str] | None = None,
                       content_type: str = "application/json") -> None:
        """A whole response with a Content-Length body."""
        await self.send_head(status, content_type, len(data), extra or {})
        await self.send(data)

    async def send_json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        """A whole JSON response."""
        await self.send_raw(status, _dumps(obj), extra)

    async def send_error(self, status: int, code: str, message: str,
                         extra: dict[str, str] | None = None) -> None:
        """A Zhipu-shaped error body: {"error": {"code": "1210", "message": "..."}}."""
        await self.send_json(status, {"error": {"code": code, "message": message}}, extra)

    async def start_stream(self, extra: dict[str, str]) -> None:
        """Headers of an SSE response."""
        await self.send_head(200, "text/event-stream; charset=utf-8", None, extra)

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the client hangs up; True if it is still there."""
        if seconds <= 0:
            return True
        try:
            # The client sends nothing while awaiting a response, so a read only ends on EOF.
            await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return True
        self.keep_alive = False
        return False

    def abort(self) -> None:
        """Drop the connection at once, mid-response if need be."""
        self.keep_alive = False
        self.writer.transport.abort()


@dataclass
class _Answer:
    """A resolved reply for one request: the tokens to send and how to frame them."""

    reply: Reply
    model: str
    reasoning: list[str]
    content: list[Any]  # str tokens, or any JSON values (Reply.contents)
    usage: dict[str, int] | None
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        head = _dumps({"id": self.id, "created": self.created, "model": self.model})[:-1]
        self._empty = b"data: " + head + b',"choices":[]}\n\n'
        delta = b',"choices":[{"index":0,"delta":{"role":"assistant","'
        self._prefix = b"data: " + head + delta
        self._head = head

    @property
    def count(self) -> int:
        """Number of token chunks before the last one."""
        return len(self.reasoning) + len(self.content)

    def frame(self, i: int) -> bytes:
        """The SSE frame for token i (reasoning tokens first)."""
        if self.reply.fault == "no_choices":
            return self._empty
        if i < len(self.reasoning):
            key, token = b"reasoning_content", self.reasoning[i]
        else:
            key, token = b"content", self.content[i - len(self.reasoning)]
        frame = self._prefix + key + b'":' + _dumps(token) + b"}}]}\n\n"
        if self.reply.fault == "sse_variants":
            # One event's JSON over two `data:` lines (joined by a newline, still valid JSON).
            frame = frame.replace(b',"choices"', b',\ndata:"choices"', 1)
            frame = (b": keep-alive\n\nevent: message\nid: %d\n" % i + frame).replace(b"\n", b"\r\n")
        return frame

    def last_frame(self) -> bytes:
        """The final chunk: finish_reason and usage."""
        if self.reply.fault == "no_choices":
            chunk = self._head + b',"choices":[]'
        else:
            chunk = (self._head + b',"choices":[{"index":0,"finish_reason":'
                     + _dumps(self.reply.finish_reason)
                     + b',"delta":{"role":"assistant","content":""}}]')
        if self.usage is not None:
            chunk += b',"usage":' + _dumps(self.usage)
        return b"data: " + chunk + b"}\n\n"


async def _send_paced(conn: _Conn, frame: Callable[[int], bytes], start: int, end: int,
                      t0: float, tps: float | None) -> None:
    """Send frames start..end-1; token i is due at t0 + i/tps (all at once when tps is None)."""
    loop = asyncio.get_running_loop()
    i = start
    while i < end:
        if tps is None:
            j = min(end, i + _BATCH)
        else:
            wait = t0 + i / tps - loop.time()
            if wait > 0:
                await asyncio.sleep(max(wait, _TICK))
            j = min(end, max(i + 1, int((loop.time() - t0) * tps) + 1))
        await conn.send(b"".join(frame(k) for k in range(i, j)))
        i = j
        if tps is None and i < end:
            await asyncio.sleep(0)  # let the other streams have the loop


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _messages(body: Any) -> list[dict[str, Any]]:
    messages = body.get("messages") if isinstance(body, dict) else None
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content
                        if isinstance(p, dict) and p.get("type") == "text"
                        and isinstance(p.get("text"), str))
    return ""


def _image_urls(body: Any) -> list[str]:
    urls = []
    for message in _messages(body):
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                urls.append(str(url))
    return urls


def _echo(body: dict[str, Any]) -> str:
    users = [m for m in _messages(body) if m.get("role") == "user"]
    last = _text_of(users[-1].get("content")) if users else ""
    return f"Echo: {last} | images: {len(_image_urls(body))} | turn: {len(users)}"


def _usage(body: dict[str, Any], completion_tokens: int) -> dict[str, int]:
    # Rough but deterministic: ~4 chars per token, 256 tokens per image.
    chars = sum(len(_text_of(m.get("content"))) for m in _messages(body))
    prompt = chars // 4 + 1 + 256 * len(_image_urls(body))
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}


def _filler(count: int) -> list[str]:
    return list(itertools.islice(itertools.cycle(_FILLER), max(count, 0)))


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; print the base URL on the first line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before each response")
    parser.add_argument("--tps", type=float, default=None, help="tokens per second (default: max)")
    parser.add_argument("--tokens", type=int, default=None, help="answer length (default: echo)")
    parser.add_argument("--reasoning", default="", help="reasoning_content sent before answers")
    parser.add_argument("--strict", action="store_true", help="400 for unknown request fields")
    parser.add_argument("--keep-requests", action="store_true", help="record requests (memory)")
    args = parser.parse_args(argv)
    default = Reply(ttft=args.ttft, tps=args.tps, tokens=args.tokens, reasoning=args.reasoning)
    fake = FakeOpenAI(strict=args.strict, keep_requests=args.keep_requests, default=default,
                      host=args.host, port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with fake, contextlib.suppress(KeyboardInterrupt):
        print(fake.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
