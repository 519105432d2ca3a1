"""The store's votes (schema version 3): the Compare page's, kept with what they were about."""

from __future__ import annotations

import json
from typing import Any

from ui.choices import Choices
from ui.records import now_iso
from ui.store.db import Database
from ui.testing.cells import REASONS
from ui.testing.votes import OUTCOMES, Outcome, Vote

VOTE_COLUMNS = ("id, at, owner, who, blind, model_a, model_b, choices_a, choices_b, outcome, "
                "reasons, note, question, images, answer_a, answer_b, test_set")


class VoteStore:
    """add_vote / votes, on the same database as the runs (SqlStore inherits this)."""

    db: Database

    def add_vote(self, vote: Vote) -> int:
        """Keep a vote (committed on return); its id."""
        if vote.outcome not in OUTCOMES or vote.model_a == vote.model_b:
            raise ValueError("a vote is a, b, tie or both_bad between two different models")
        reasons = [r for r in vote.reasons if r in REASONS]
        with self.db.write() as tx:
            return int(tx.one(
                f"INSERT INTO votes ({VOTE_COLUMNS.removeprefix('id, ')}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (vote.at or now_iso(), vote.owner, vote.who, int(vote.blind), vote.model_a,
                 vote.model_b, _choices(vote.choices_a), _choices(vote.choices_b), vote.outcome,
                 json.dumps(reasons), vote.note, vote.question,
                 json.dumps([list(i) for i in vote.images], ensure_ascii=False), vote.answer_a,
                 vote.answer_b, vote.test_set))[0])

    def votes(self, *, since: str = "", until: str = "", blind_only: bool = False,
              test_set: str | None = None, limit: int = 1_000_000) -> list[Vote]:
        """Votes in time order (since ≤ at < until, ISO 8601), the blind ones only if asked."""
        parts, params = _where(since, until, blind_only, test_set)
        with self.db.read() as tx:
            rows = tx.all(f"SELECT {VOTE_COLUMNS} FROM votes WHERE {' AND '.join(parts)} "
                          "ORDER BY at, id LIMIT ?", [*params, max(0, limit)])
        return [_vote(row) for row in rows]

    def outcomes(self, *, since: str = "", until: str = "", blind_only: bool = False,
                 owner: str | None = None) -> list[Outcome]:
        """What the leaderboard counts of the votes (since ≤ at < until), one owner's only if
        given, in time order."""
        parts, params = _where(since, until, blind_only, None)
        if owner is not None:
            parts.append("owner = ?")
            params.append(owner)
        with self.db.read() as tx:
            rows = tx.all("SELECT model_a, model_b, outcome, reasons, owner, test_set, blind, at "
                          f"FROM votes WHERE {' AND '.join(parts)} ORDER BY at, id", params)
        return [Outcome(a, b, outcome, tuple(json.loads(reasons)) if reasons != "[]" else (), who,
                        test_set, bool(blind), at)
                for a, b, outcome, reasons, who, test_set, blind, at in rows]


def _where(since: str, until: str, blind_only: bool, test_set: str | None) -> tuple[list[str], list[Any]]:
    parts: list[str] = ["1 = 1"]
    params: list[Any] = []
    if since:
        parts.append("at >= ?")
        params.append(since)
    if until:
        parts.append("at < ?")
        params.append(until)
    if blind_only:
        parts.append("blind = 1")
    if test_set is not None:
        parts.append("test_set = ?")
        params.append(test_set)
    return parts, params


def _choices(choices: Choices) -> str:
    return json.dumps({n: getattr(choices, n) for n in Choices.names()}, ensure_ascii=False)


def _vote(row: Any) -> Vote:
    (vote_id, at, owner, who, blind, model_a, model_b, choices_a, choices_b, outcome, reasons, note,
     question, images, answer_a, answer_b, test_set) = row

    def choices(text: str) -> Choices:
        data = json.loads(text or "{}")
        return Choices(**{k: v for k, v in data.items() if k in Choices.names()})

    return Vote(model_a, model_b, outcome, choices(choices_a), choices(choices_b), question,
                tuple(tuple(i) for i in json.loads(images or "[]")), answer_a, answer_b,
                bool(blind), tuple(json.loads(reasons or "[]")), note, owner, who, at, test_set,
                int(vote_id))
