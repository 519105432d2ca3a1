"""A 👍 / 👎 on an answer in the Chat, kept with what it was about (the Leaderboard's download
reads these rows), and a test set saved from the Chat for the Test page."""

from __future__ import annotations

from dataclasses import dataclass

from ui.choices import Choices

MAX_NOTE = 2000  # characters of a rating's note (the Test page's too)
MAX_SET_NAME = 100  # characters of a test set's name


@dataclass(frozen=True)
class ChatRating:
    """One person's verdict on one answer of the Chat: the model and choices that wrote it (from
    its AnswerRecord), the question, the images (file name, SHA-256), the answer as shown."""

    model: str
    choices: Choices
    question: str
    answer: str
    verdict: int  # +1 or -1
    images: tuple[tuple[str, str], ...] = ()  # (file name, sha256); "" when the file was gone
    reasons: tuple[str, ...] = ()  # REASONS of ui/testing/cells.py (for a 👎)
    note: str = ""
    owner: str = ""  # the browser or signed-in user, as Test runs have them
    who: str = ""  # the signed-in user's name, or ""
    at: str = ""  # ISO 8601 UTC, when it was rated
    answer_key: str = ""  # which answer (ui/turns.py Turn.key): rated again, its rating replaced
    id: int = 0


@dataclass(frozen=True)
class SavedSet:
    """A named test set kept in the store (rows of an image and a question, with an optional
    expected answer), filled from the Chat's "Add to a test set"."""

    id: int
    name: str
    owner: str
    created: str
    size: int = 0  # rows
