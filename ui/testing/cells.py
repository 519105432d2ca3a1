"""The values a test run is made of: its rows (an image and a question), its variants (a model with
its choices), its cells (one row asked of one variant) and the ratings people give them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from ui.choices import Choices
from ui.records import AnswerRecord

# Why an answer about an image was wrong: the one-click reasons of the Test and Compare pages
# (their sentences are ui/i18n.py "reason_<key>").
REASONS = ("misread_text", "wrong_count", "wrong_attribute", "wrong_position", "invented_object",
           "missed_object", "misread_chart", "refused", "other")

CellStatus = Literal["pending", "done", "failed"]
RunStatus = Literal["ready", "running", "stopped", "done"]


@dataclass(frozen=True)
class Item:
    """One row of a test set: an image (by the SHA-256 of its original bytes) and a question."""

    image: str  # sha256 hex of the file as uploaded; the store holds its bytes once
    name: str  # the file name as the tester gave it (shown, exported)
    question: str
    expected: str = ""  # an expected answer or a note for the rater, optional


@dataclass(frozen=True)
class Variant:
    """One column: a model with its choices. Two variants may share a model (other choices)."""

    choices: Choices
    label: str = ""  # what the page shows; "" = the model's name

    @property
    def name(self) -> str:
        return self.label or self.choices.model


@dataclass(frozen=True)
class Rating:
    """A person's verdict on one cell: good (+1) or bad (-1), with reasons from REASONS and a note."""

    verdict: int  # +1 or -1
    reasons: tuple[str, ...] = ()
    note: str = ""
    who: str = ""  # the signed-in user, or "" without sign-in
    at: str = ""  # ISO 8601 UTC


@dataclass
class Cell:
    """One row asked of one variant, and how it went."""

    id: int
    run_id: int
    row: int  # index into Run.items
    variant: int  # index into Run.variants
    status: CellStatus = "pending"
    answer: str = ""  # the answer text as the model wrote it (raw, not sanitized)
    thinking: str = ""
    record: AnswerRecord | None = None  # model, choices sent, tokens, times, finish, error key
    error: str = ""  # the error key (ui/i18n.py) when status is "failed"
    error_params: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0  # requests sent for this cell (a rerun of a failed cell adds one)
    rating: Rating | None = None


@dataclass(frozen=True)
class Run:
    """A test run: its rows and variants; its cells live in the store."""

    id: int
    title: str
    owner: str  # the signed-in user, or the browser's own id on a public server; "cli" from batch
    created: str  # ISO 8601 UTC
    items: tuple[Item, ...]
    variants: tuple[Variant, ...]
    status: RunStatus = "ready"

    @property
    def size(self) -> int:
        return len(self.items) * len(self.variants)

    def fingerprint(self) -> str:
        """The same inputs give the same fingerprint: how `batch --resume` finds its run."""
        return fingerprint(self.items, self.variants)


def fingerprint(items: tuple[Item, ...] | list[Item], variants: tuple[Variant, ...] | list[Variant]) -> str:
    data = {"items": [[i.image, i.question, i.expected] for i in items],
            "variants": [[v.label, _choices_json(v.choices)] for v in variants]}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()  # a typed lone surrogate too


def _choices_json(choices: Choices) -> dict[str, Any]:
    return {name: getattr(choices, name) for name in Choices.names()}
