"""The endpoint's answer body read as server-sent events, and each chunk's events (no network
here: `chunks` reads whatever gives its bytes, `events` reads one chunk)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ui.endpoint.request import Event, Finish, ReasoningDelta, Skipped, TextDelta, Usage

# The longest line, event or non-streamed body read from the endpoint. A real chunk is a few
# hundred bytes and a whole 32k-token completion well under 1 MB; more is an endpoint gone wrong.
MAX_EVENT_BYTES = 4 * 1024 * 1024


class TooLarge(Exception):
    """A line, an event or a whole body longer than MAX_EVENT_BYTES."""


class FrameError(Exception):
    """An {"error": ...} object sent inside the event stream."""

    def __init__(self, body: object) -> None:
        super().__init__("error frame")
        self.body = body


async def chunks(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON object of each server-sent event's `data`, up to `[DONE]`.

    A body that is not an event stream (a proxy that ignored stream=true) is read as one
    whole completion and comes out as one chunk in the streaming shape. Each byte is looked at
    once however the body is cut into pieces, and a line, an event or a whole body longer than
    MAX_EVENT_BYTES ends the answer (TooLarge): a hostile endpoint's endless line once took 31 s
    of the event loop, which every other visitor shares.
    """
    if "text/event-stream" not in response.headers.get("content-type", "text/event-stream"):
        body = bytearray()
        async for piece in response.aiter_bytes():
            body += piece
            if len(body) > MAX_EVENT_BYTES:
                raise TooLarge
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
            raise TooLarge
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
                size += len(data[-1])
                if size > MAX_EVENT_BYTES:
                    raise TooLarge
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
        raise FrameError(chunk["error"])
    return chunk


def events(chunk: dict[str, Any]) -> list[Event]:
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
