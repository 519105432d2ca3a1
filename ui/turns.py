"""A chat turn as a rating or a test set sees it: the question, its images, the answer shown and
the AnswerRecord of the model that wrote it, found in the chat history by the index of one of its
answer's messages (what Gradio's like event names). Pure: no gradio, nothing read from disk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ui.messages import is_ui_only, parts_of
from ui.records import AnswerRecord, record_of


@dataclass(frozen=True)
class Turn:
    """One question and the answer it has now (after Retry: the newest; earlier ones are folded)."""

    start: int  # index of the turn's first answer message in the history
    question: str
    images: tuple[str, ...]  # paths of the images attached to the question
    answer: str  # the answer's text as the model wrote it
    record: AnswerRecord  # who wrote it, with which choices

    @property
    def key(self) -> str:
        """The same answer gives the same key (after a reload too): rating it again replaces."""
        data = [self.record.as_json(), self.question, self.answer]
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def turn_at(history: Sequence[Any], index: Any) -> Turn | None:
    """The turn whose answer holds message `index`; None when that is no answered turn (a wrong
    index, a question, a notice with no model behind it)."""
    if not isinstance(history, list | tuple) or isinstance(index, bool) or not isinstance(index, int):
        return None
    if not 0 <= index < len(history) or _role(history[index]) != "assistant":
        return None
    start = index
    while start > 0 and _role(history[start - 1]) == "assistant":
        start -= 1
    return _turn(history, start)


def last_turn(history: Sequence[Any]) -> Turn | None:
    """The newest answered turn."""
    found = None
    for turn in turns(history):
        found = turn
    return found


def find(history: Sequence[Any], key: str) -> Turn | None:
    """The turn whose answer has this key, wherever it is now in the history."""
    return next((t for t in turns(history) if t.key == key), None)


def turns(history: Sequence[Any]) -> Iterator[Turn]:
    if not isinstance(history, list | tuple):
        return
    for i, message in enumerate(history):
        if _role(message) == "assistant" and (i == 0 or _role(history[i - 1]) != "assistant"):
            turn = _turn(history, i)
            if turn is not None:
                yield turn


def _turn(history: Sequence[Any], start: int) -> Turn | None:
    end = start
    while end < len(history) and _role(history[end]) == "assistant":
        end += 1
    answer = history[start:end]
    records = [r for m in answer if isinstance(m, dict) and (r := record_of(m)) is not None]
    if not records:
        return None
    texts = ["".join(v for kind, v in parts_of(m.get("content")) if kind == "text")
             for m in answer if isinstance(m, dict) and not is_ui_only(m)]
    first = start
    while first > 0 and _role(history[first - 1]) == "user":
        first -= 1
    question: list[str] = []
    images: list[str] = []
    for message in history[first:start]:
        for kind, value in parts_of(message.get("content")):
            (question if kind == "text" else images).append(value)
    return Turn(start, "\n".join(q for q in question if q), tuple(images),
                "\n\n".join(t for t in texts if t), records[-1])


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, dict) else ""
