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
    ReasoningDelta,
    Retrying,
    TextDelta,
)
from ui.endpoint.sse import MAX_EVENT_BYTES, FrameError, TooLarge, chunks, events
from ui.errors import EndpointError, classify_http
from ui.settings import Settings

if TYPE_CHECKING:
    from openai import AsyncOpenAI

log = logging.getLogger("glmchat")

MAX_RETRY_WAIT = 30.0  # a longer Retry-After is not waited out silently: the user is told instead


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
                      backoff: float = 1.0, log_content: bool = False,
                      retry_rate_limits: bool = True) -> AsyncIterator[Event]:
    """Stream one answer as events; retry rate limits and 5xx before the first token.

    The wait before retry n is the endpoint's Retry-After if it sent one, else
    backoff · 2^(n-1) seconds plus up to 25% jitter. retry_rate_limits False: a rate limit ends
    the stream at once (the error, with its Retry-After), for a caller that schedules its own
    retries (a test run puts the cell back in line instead of waiting in its place).
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
            if error.key == "rate_limited" and not retry_rate_limits:
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
            async for chunk in chunks(response.http_response):
                for event in events(chunk):
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
    except FrameError as e:  # an {"error": ...} frame inside the stream (no status)
        _, code, message = _error_fields(e.body, "An error occurred during streaming")
        error = classify_http(None, code, message)
        if error.key == "unknown":
            error = EndpointError("stream_error", code=code, detail=error.params["detail"])
    except TooLarge:  # an endless line (or event, or body): stop reading, keep what arrived
        error = EndpointError("oversized", limit=MAX_EVENT_BYTES // (1024 * 1024))
    except (ValueError, TypeError, AttributeError, LookupError):  # a broken line or chunk
        error = EndpointError("malformed")
    else:
        return
    _scrub(error, str(client.api_key or ""))
    log.warning("endpoint error %s status=%s code=%s after_output=%s detail=%s", error.key,
                error.status, error.code, started, error.params.get("detail", ""))
    raise error


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
