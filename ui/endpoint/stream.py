"""Talk to the OpenAI-compatible endpoint: one streaming chat request in, typed events out.

The only module that imports openai, and only when the first client is made (`Endpoint.client`
or `warm_up`): the SDK takes ~0.2 s to import, which the page should not wait for at start-up.
No UI here: errors leave as ui.errors.EndpointError. Retries are ours, not the SDK's
(max_retries=0): the SDK would retry 1113 (no balance) too, and we want to tell the user
"retrying 1/3…" while it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import threading
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ui.endpoint.redact import describe, mask_secrets, summary
from ui.endpoint.request import (
    ChatRequest,
    Event,
    Finish,
    ReasoningDelta,
    Retrying,
    Skipped,
    TextDelta,
    Usage,
)
from ui.errors import EndpointError, classify_http
from ui.settings import Settings

if TYPE_CHECKING:
    from openai import AsyncOpenAI

log = logging.getLogger("glmchat")

MAX_RETRY_WAIT = 30.0  # a longer Retry-After is not waited out silently: the user is told instead
# The longest line, event or non-streamed body read from the endpoint. A real chunk is a few
# hundred bytes and a whole 32k-token completion well under 1 MB; more is an endpoint gone wrong.
MAX_EVENT_BYTES = 4 * 1024 * 1024


class Endpoint:
    """Owns the AsyncOpenAI client: one connection pool for every user and key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: AsyncOpenAI | None = None
        self._lock = threading.Lock()  # warm_up() may run in another thread than the first request
        _endpoints.add(self)

    def client(self, api_key: str | None = None) -> AsyncOpenAI:
        """The shared client, or a copy with a visitor's own key (same pool, same base URL)."""
        with self._lock:
            if self._client is None:
                import httpx2
                from openai import AsyncOpenAI, DefaultAsyncHttpxClient

                s = self.settings
                timeout = httpx2.Timeout(s.read_timeout, connect=s.connect_timeout)
                self._client = AsyncOpenAI(
                    api_key=s.api_key or "no-key", base_url=s.base_url,
                    timeout=timeout, max_retries=0,
                    http_client=DefaultAsyncHttpxClient(timeout=timeout),
                )
        if api_key:
            return self._client.with_options(api_key=api_key)
        return self._client


_endpoints: weakref.WeakSet[Endpoint] = weakref.WeakSet()


def warm_up() -> None:
    """Import the SDK and make every endpoint's client now (~0.3 s), so that the first question
    does not pay for it. app.py calls this once the page is already being served."""
    for endpoint in list(_endpoints):
        endpoint.client()


class Started:
    """A chat stream whose request is already on its way: its first event is being fetched.

    Made before the page is updated with the question, so the endpoint starts working while
    Gradio renders; iterate it like stream_chat(); always `aclose()` it (Stop cancels the request).
    """

    def __init__(self, events: AsyncIterator[Event]) -> None:
        self._events = events
        self._first: asyncio.Future[Event] | None = asyncio.ensure_future(anext(events))

    def __aiter__(self) -> Started:
        return self

    async def __anext__(self) -> Event:
        if self._first is not None:
            first, self._first = self._first, None
            return await first
        return await anext(self._events)

    async def aclose(self) -> None:
        if self._first is not None:  # never read (the visitor pressed Stop): stop the request
            self._first.cancel()
            with contextlib.suppress(BaseException):
                await self._first
        await self._events.aclose()  # type: ignore[attr-defined]


async def stream_chat(client: AsyncOpenAI, request: ChatRequest, *, retries: int = 3,
                      backoff: float = 1.0, log_content: bool = False) -> AsyncIterator[Event]:
    """Stream one answer as events; retry rate limits and 5xx before the first token.

    The wait before retry n is the endpoint's Retry-After if it sent one, else
    backoff · 2^(n-1) seconds plus up to 25% jitter.
    """
    attempt = 0
    while True:
        got_output = False
        try:
            async for event in _stream_once(client, request, log_content):
                if isinstance(event, TextDelta | ReasoningDelta):
                    got_output = True
                yield event
            return
        except EndpointError as error:
            if request.include_usage and _rejects_stream_options(error):
                # A strict proxy: ask again without the optional field.
                request = ChatRequest(**{**request.__dict__, "include_usage": False})
                continue
            if got_output or not error.retryable or attempt >= retries:
                raise
            if error.retry_after is not None and error.retry_after > MAX_RETRY_WAIT:
                raise  # the endpoint asks for a long pause: let the person decide when
            attempt += 1
            delay = error.retry_after if error.retry_after is not None else (
                backoff * 2 ** (attempt - 1) * (1 + random.random() / 4))
            yield Retrying(attempt, retries, delay, error)
            await asyncio.sleep(delay)


async def _stream_once(client: AsyncOpenAI, request: ChatRequest,
                       log_content: bool = False) -> AsyncIterator[Event]:
    """One HTTP request; every SDK or transport failure becomes an EndpointError.

    The SDK sends the request and turns error statuses into its exceptions (pinned by
    tests/test_fake_openai.py); the streamed body is read here, as plain JSON per event. The
    SDK's typed chunk objects cost ~0.3 ms of CPU per token, most of a busy server's time.
    """
    import anyio
    import httpx2
    import openai  # already loaded by Endpoint.client

    log.info("request %s", describe(request) if log_content else summary(request))
    opened = started = False  # response headers arrived / answer text arrived
    try:
        create = client.chat.completions.with_streaming_response.create
        async with create(**request.body(), stream=True) as response:
            opened = True
            async for chunk in _chunks(response.http_response):
                for event in _events(chunk):
                    started = started or isinstance(event, TextDelta | ReasoningDelta)
                    yield event
    except openai.APIStatusError as e:  # an HTTP error status before the stream
        error = _from_status(e)
    except (openai.APITimeoutError, httpx2.TimeoutException):  # no data for the read timeout
        error = EndpointError("stalled" if started else "timeout_first",
                              seconds=_read_timeout(client))
    except (openai.APIConnectionError, httpx2.RequestError, httpx2.StreamError, OSError,
            anyio.EndOfStream):  # refused / reset before the response, or dropped mid-body
        error = EndpointError("dropped" if opened else "connect")
    except _FrameError as e:  # an {"error": ...} frame inside the stream (no status)
        _, code, message = _error_fields(e.body, "An error occurred during streaming")
        error = classify_http(None, code, message)
        if error.key == "unknown":
            error = EndpointError("stream_error", code=code, detail=error.params["detail"])
    except _TooLarge:  # an endless line (or event, or body): stop reading, keep what arrived
        error = EndpointError("oversized", limit=MAX_EVENT_BYTES // (1024 * 1024))
    except (ValueError, TypeError, AttributeError, LookupError):  # a broken line or chunk
        error = EndpointError("malformed")
    else:
        return
    _scrub(error, str(client.api_key or ""))
    log.warning("endpoint error %s status=%s code=%s after_output=%s detail=%s", error.key,
                error.status, error.code, started, error.params.get("detail", ""))
    raise error


class _TooLarge(Exception):
    """A line, an event or a whole body longer than MAX_EVENT_BYTES."""


class _FrameError(Exception):
    """An {"error": ...} object sent inside the event stream."""

    def __init__(self, body: object) -> None:
        super().__init__("error frame")
        self.body = body


async def _chunks(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON object of each server-sent event's `data`, up to `[DONE]`.

    A body that is not an event stream (a proxy that ignored stream=true) is read as one
    whole completion and comes out as one chunk in the streaming shape. Each byte is looked at
    once however the body is cut into pieces, and a line, an event or a whole body longer than
    MAX_EVENT_BYTES ends the answer (_TooLarge): a hostile endpoint's endless line once took 31 s
    of the event loop, which every other visitor shares.
    """
    if "text/event-stream" not in response.headers.get("content-type", "text/event-stream"):
        body = bytearray()
        async for piece in response.aiter_bytes():
            body += piece
            if len(body) > MAX_EVENT_BYTES:
                raise _TooLarge
        whole = json.loads(body)
        for choice in whole.get("choices") or []:
            choice["delta"] = choice.pop("message", None) or {}
        yield _checked(whole)
        return
    done = False
    data: list[bytes] = []
    size = 0  # bytes in `data`
    partial = bytearray()  # a line whose end has not arrived yet
    async for piece in response.aiter_bytes():
        if done:  # read on to the end, so the connection can be reused, but not for ever
            size += len(piece)
            if size > MAX_EVENT_BYTES:
                return
            continue
        *lines, rest = piece.split(b"\n")
        if lines and partial:  # the line that was waiting for its end
            partial += lines[0]
            lines[0] = bytes(partial)
            partial.clear()
        partial += rest
        if len(partial) > MAX_EVENT_BYTES:
            raise _TooLarge
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
                size += len(data[-1])
                if size > MAX_EVENT_BYTES:
                    raise _TooLarge
            elif not line and data:  # a blank line ends the event
                payload, data, size = b"\n".join(data), [], 0
                if payload.startswith(b"[DONE]"):
                    done = True
                    break
                yield _checked(json.loads(payload))
    if data and not done and not (payload := b"\n".join(data)).startswith(b"[DONE]"):
        yield _checked(json.loads(payload))  # the last event, without its blank line


def _checked(chunk: Any) -> dict[str, Any]:
    if not isinstance(chunk, dict):
        raise ValueError("chunk is not an object")
    if chunk.get("error"):
        raise _FrameError(chunk["error"])
    return chunk


def _events(chunk: dict[str, Any]) -> list[Event]:
    """What one chunk says: usage, thinking, answer text, finish reason."""
    events: list[Event] = []
    usage = chunk.get("usage")
    if usage:
        events.append(Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0))
    choices = chunk.get("choices")
    if not choices:
        return events
    choice = choices[0]
    delta = choice.get("delta") or {}
    skipped = 0
    for field, kind in (("reasoning_content", ReasoningDelta), ("content", TextDelta)):
        text, left_out = _as_text(delta.get(field))
        skipped += left_out
        if text:
            events.append(kind(text))
    if skipped:
        events.append(Skipped(skipped))
    if reason := choice.get("finish_reason"):
        events.append(Finish(str(reason)))
    return events


def _as_text(value: Any) -> tuple[str, int]:
    """A delta's content as text, and how many parts of it are not text and were left out.

    A string is itself; OpenAI-style content parts (`[{"type": "text", "text": ...}]`, or one
    such part alone) give their text; a number or true/false its JSON spelling. Anything else (an
    image part, some other object) is nothing a chat can show, never its Python repr.
    """
    if value is None or isinstance(value, str):
        return value or "", 0
    if isinstance(value, bool | int | float):
        return json.dumps(value), 0
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str) and value.get("type", "text") in ("text", "output_text"):
            return text, 0
        return "", 1
    if isinstance(value, list):
        texts, left_out = [], 0
        for part in value:
            text, skipped = _as_text(part) if not isinstance(part, list) else ("", 1)
            texts.append(text)
            left_out += skipped
        return "".join(texts), left_out
    return "", 1


def _from_status(e: Any) -> EndpointError:  # an openai.APIStatusError
    _, code, message = _error_fields(e.body, e.message)
    error = classify_http(e.status_code, code, message)
    error.retry_after = _retry_after(e.response.headers)
    return error


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the endpoint asked us to wait (Retry-After / OpenAI's retry-after-ms), if any."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) / scale
        except ValueError:
            continue  # absent, or an HTTP date: fall back to our own backoff
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _read_timeout(client: AsyncOpenAI) -> str:
    """The read timeout as people write it: "60", "0.5"."""
    timeout = client.timeout
    seconds = getattr(timeout, "read", timeout)  # an httpx Timeout, or plain seconds
    return f"{seconds:g}" if isinstance(seconds, int | float) else "?"


def _scrub(error: EndpointError, key: str) -> None:
    """Some proxies echo the key they were given in their error text (as is, lower-cased,
    URL-encoded, spaced out): never pass it, or anything else shaped like a key, on."""
    detail = error.params.get("detail")
    if isinstance(detail, str):
        error.params["detail"] = mask_secrets(detail, key)


def _error_fields(body: object, fallback: str) -> tuple[int | None, str | None, str]:
    """Pull Zhipu's {"code", "message"} out of an error body in any of its shapes."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        code = body.get("code")
        message = body.get("message") or fallback
        status = body.get("status") if isinstance(body.get("status"), int) else None
        return status, (str(code) if code not in (None, "") else None), str(message)
    return None, None, str(body) if isinstance(body, str) and body else fallback


def _rejects_stream_options(error: EndpointError) -> bool:
    return error.status in (400, 422) and "stream_options" in str(error.params.get("detail", ""))
