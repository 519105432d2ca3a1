"""The chat history as the page shows it, and how one streamed answer is folded into it.

Plain data, no gradio: the history is a list of {"role", "content", "metadata"?} dicts in the
shape gr.Chatbot accepts. Every function returns a new list; the caller's history is untouched.
Every text put in it goes through ui/sanitize.py: it holds what the page may show (no HTML, no
images); ui.messages.parts_of reads the texts back as they were written. The notes about a
question's images (what the model saw, the boxes drawn) are ui/image_notes.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ui.endpoint import Event, Finish, ReasoningDelta, Retrying, Skipped, TextDelta, Usage
from ui.i18n import say
from ui.image_notes import SEEN_ICON
from ui.markup import Box, render_boxes, split_think
from ui.messages import is_ui_only, parts_of
from ui.records import PROVENANCE_ICON, records_after
from ui.sanitize import Growing, sanitize

History = list[dict[str, Any]]
RATE_SPAN = 0.1  # seconds: a shorter answer gets no tokens-per-second figure

THINKING_TITLE = "💭 Thinking"
EARLIER_ICON = "↩️"
NOTICE_ICON = "⚠️"


def user_message(text: str, files: Sequence[str]) -> dict[str, Any]:
    """One user turn: the images first (as thumbnails), then the question."""
    content: list[Any] = [{"path": f} for f in files]
    if text:
        content.append(sanitize(text))
    return {"role": "user", "content": content}


def last_user_index(history: Sequence[dict[str, Any]]) -> int:
    """Index of the last user message, or -1."""
    return max((i for i, m in enumerate(history) if m.get("role") == "user"), default=-1)


def up_to_last_question(history: Sequence[dict[str, Any]]) -> History:
    """The history up to and including the last user turn (its answer removed)."""
    i = last_user_index(history)
    return list(history[: i + 1]) if i >= 0 else list(history)


def for_retry(history: Sequence[dict[str, Any]], lang: str = "en") -> History:
    """The history for asking the last question again; the new answer comes after it.

    Each earlier attempt that got an answer stays, folded into a note titled with the model that
    wrote it (UI-only: never sent to a model again), its thinking and provenance note beside it
    and its notices (cut off, stopped, ...) inside it. Attempts that got no answer at all (an
    error before the first word) go, as does each attempt's "what the model saw" note: the new
    attempt shows its own.
    """
    i = last_user_index(history)
    if i < 0:
        return list(history)
    kept: History = list(history[: i + 1])
    for attempt in _attempts(history[i + 1:]):
        if all((_title(m) or "").startswith((NOTICE_ICON, SEEN_ICON, PROVENANCE_ICON))
               for m in attempt):
            continue  # nothing was answered: nothing to keep
        records = records_after(attempt, 0)
        title = f"{EARLIER_ICON} " + say(lang, "earlier_answer",
                                         {"model": records[-1].model if records else "?"})
        notes = [str((m.get("metadata") or {}).get("title", "")) for m in attempt
                 if (_title(m) or "").startswith(NOTICE_ICON)]
        for m in attempt:
            if (_title(m) or "").startswith((NOTICE_ICON, SEEN_ICON)):
                continue
            if m.get("role") == "assistant" and _title(m) is None:
                text = "".join(v for kind, v in parts_of(m.get("content")) if kind == "text")
                # parts_of gives the text as written: inert again for the page (notes are so).
                m = {"role": "assistant", "content": "\n\n".join([sanitize(text), *notes]),
                     "metadata": {"title": title, "status": "done"}}
            kept.append(m)
    return kept


def _title(message: dict[str, Any]) -> str | None:
    title = (message.get("metadata") or {}).get("title")
    return str(title) if title else None


def _attempts(messages: Sequence[dict[str, Any]]) -> list[History]:
    """The answers given to one question, one list each: an attempt opens with its "what the
    model saw" note or its provenance note (the first after a seen note belongs to it)."""
    attempts: list[History] = []
    for m in messages:
        title = _title(m) or ""
        opens = title.startswith((SEEN_ICON, PROVENANCE_ICON))
        after_seen = bool(attempts) and len(attempts[-1]) == 1 and \
            (_title(attempts[-1][0]) or "").startswith(SEEN_ICON) and title.startswith(PROVENANCE_ICON)
        if not attempts or (opens and not after_seen):
            attempts.append([m])
        else:
            attempts[-1].append(m)
    return attempts


def pop_last_turn(history: Sequence[dict[str, Any]]) -> tuple[History, str, list[str]]:
    """Remove the last user turn and its answer; return its text and files for the input box."""
    i = last_user_index(history)
    if i < 0:
        return list(history), "", []
    texts: list[str] = []
    files: list[str] = []
    for kind, value in parts_of(history[i]["content"]):
        (texts if kind == "text" else files).append(value)
    return list(history[:i]), "\n".join(texts), files


@dataclass
class Answer:
    """Folds client events into a copy of the history while one answer streams.

    Events only accumulate; `view()` renders the history (think tags, box markers, sanitizing)
    when the page is about to be updated, so the work per token stays constant however long the
    answer gets; the sanitizers keep what they did for the finished parts of the texts.
    """

    history: History
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    thinking_ended: float | None = None
    usage: Usage | None = None
    finish: str | None = None
    raw: str = ""  # content as streamed, markup included
    reasoning: str = ""  # reasoning_content as streamed
    text: str = ""  # the answer as shown
    boxes: list[Box] = field(default_factory=list)
    status: str = ""  # "1/3" while retrying, until the first token
    skipped: int = 0  # parts of deltas that were not text, left out
    closed: bool = False
    _answer_at: int | None = None
    _thinking_at: int | None = None
    _shown_text: Growing = field(default_factory=Growing, repr=False)
    _shown_thinking: Growing = field(default_factory=Growing, repr=False)

    @classmethod
    def start(cls, history: Sequence[dict[str, Any]]) -> Answer:
        return cls(history=[dict(m) for m in history])

    def apply(self, event: Event) -> None:
        """Take one event from the stream."""
        if isinstance(event, TextDelta | ReasoningDelta) and self.first_token is None:
            self.first_token = time.monotonic()
            self.status = ""
        if isinstance(event, ReasoningDelta):
            self.reasoning += event.text
        elif isinstance(event, TextDelta):
            self.raw += event.text
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish):
            self.finish = event.reason
        elif isinstance(event, Retrying):
            self.status = f"{event.attempt}/{event.total}"
        elif isinstance(event, Skipped):
            self.skipped += event.count

    def view(self) -> History:
        """The history with the answer so far rendered into it."""
        final = self.closed  # nothing more will come: half markers and open boxes show as text
        tag_reasoning, answer = split_think(self.raw, final) if "<" in self.raw else ("", self.raw)
        self.text, self.boxes = render_boxes(answer, final) if "<|" in answer else (answer, [])
        thinking = "\n\n".join(t for t in (self.reasoning, tag_reasoning) if t)
        if thinking:
            done = bool(self.text) or self.closed
            if done and self.thinking_ended is None:
                self.thinking_ended = time.monotonic()
            self._put("_thinking_at", {"role": "assistant", "content": self._shown_thinking(thinking),
                                       "metadata": self._thinking_metadata(done)})
        if self.text:
            self._put("_answer_at", {"role": "assistant", "content": self._shown_text(self.text)})
        return self.history

    def close(self) -> History:
        """The stream ended (normally or not): nothing stays 'pending'."""
        self.closed = True
        return self.view()

    def notice(self, sentence: str, detail: str = "") -> None:
        """A UI-only line under the answer (never sent to the model)."""
        self.close()
        self.history.append({"role": "assistant", "content": sanitize(detail or sentence),
                             "metadata": {"title": f"{NOTICE_ICON} {sanitize(sentence)}", "status": "done"}})

    @property
    def interrupted(self) -> bool:
        """Something was streamed before the failure."""
        return bool(self.raw or self.reasoning)

    def timings(self) -> tuple[float, float | None, float]:
        """(time to first token, tokens per second, total seconds). No rate when the answer came
        in one go (under RATE_SPAN seconds from first token to last): any figure would be made up
        (two answers read at once in Compare showed "302305 tokens/s")."""
        now = time.monotonic()
        ttft = (self.first_token or now) - self.started
        gen = now - (self.first_token or now)
        tokens = self.usage.completion_tokens if self.usage else 0
        return ttft, tokens / gen if tokens and gen >= RATE_SPAN else None, now - self.started

    def _thinking_metadata(self, done: bool) -> dict[str, Any]:
        metadata: dict[str, Any] = {"title": THINKING_TITLE, "status": "done" if done else "pending"}
        if done and self.first_token is not None and self.thinking_ended is not None:
            metadata["duration"] = round(self.thinking_ended - self.first_token, 1)
        return metadata

    def _put(self, slot: str, message: dict[str, Any]) -> None:
        index = getattr(self, slot)
        if index is None:
            setattr(self, slot, len(self.history))
            self.history.append(message)
        else:
            self.history[index] = message


def last_image_path(history: Sequence[dict[str, Any]]) -> str | None:
    """The most recent uploaded image in the conversation (what "where is X?" refers to)."""
    for message in reversed(history):
        if message.get("role") == "user" and not is_ui_only(message):
            files = [v for kind, v in parts_of(message["content"]) if kind == "file"]
            if files:
                return files[-1]
    return None


def answer_text(history: Sequence[dict[str, Any]]) -> str:
    """The text of the last answer (UI-only messages skipped)."""
    for message in reversed(history):
        if message.get("role") == "user":
            break
        if message.get("role") == "assistant" and not is_ui_only(message):
            return "".join(v for kind, v in parts_of(message["content"]) if kind == "text")
    return ""
