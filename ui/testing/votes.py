"""A vote of the Compare page: two answers to one question, which was better, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ui.choices import Choices

OUTCOMES = ("a", "b", "tie", "both_bad")  # the leaderboard's too (ui/testing/leaderboard.py)


@dataclass(frozen=True)
class Vote:
    """One vote, with what it was about: the models and their choices, the question, the images
    (file name and SHA-256) and both answers. `blind`: the names were hidden until the vote."""

    model_a: str
    model_b: str
    outcome: str  # one of OUTCOMES
    choices_a: Choices
    choices_b: Choices
    question: str
    images: tuple[tuple[str, str], ...] = ()  # (file name, sha256)
    answer_a: str = ""
    answer_b: str = ""
    blind: bool = False
    reasons: tuple[str, ...] = ()  # REASONS of ui/testing/cells.py, for "both bad" or the loser
    note: str = ""
    owner: str = ""  # the browser or signed-in user, as Test runs have them
    who: str = ""  # the signed-in user's name, or ""
    at: str = ""  # ISO 8601 UTC
    test_set: str = ""  # the Test run it came from, if any
    id: int = 0

    def as_triple(self) -> tuple[str, str, str]:
        return self.model_a, self.model_b, self.outcome


class Outcome(NamedTuple):
    """What the leaderboard counts of a vote (the store reads only these columns: answers and
    choices of 10,000 votes would be most of its time)."""

    model_a: str
    model_b: str
    outcome: str
    reasons: tuple[str, ...]
    owner: str
    test_set: str
    blind: bool
    at: str
