"""The store's ratings of Chat answers (schema version 4): one per owner and answer, replaced when
the answer is rated again, removed when the rating is taken back."""

from __future__ import annotations

import json
from typing import Any

from ui.choices import Choices
from ui.records import now_iso
from ui.store.db import Database
from ui.testing.cells import REASONS
from ui.testing.chatratings import MAX_NOTE, ChatRating

RATING_COLUMNS = ("id, owner, answer_key, who, at, model, choices, question, images, answer, verdict, "
                  "reasons, note")


class ChatRatingStore:
    """add_chat_rating / remove_chat_rating / chat_ratings (SqlStore inherits this)."""

    db: Database

    def add_chat_rating(self, rating: ChatRating) -> int:
        """Keep a rating (committed on return), replacing this owner's earlier one of the same
        answer; its id. Refuses what the page never sends (ValueError)."""
        if rating.verdict not in (1, -1) or not rating.answer_key or not rating.model:
            raise ValueError("a chat rating is +1 or -1 on a named answer of a named model")
        unknown = [r for r in rating.reasons if r not in REASONS]
        if unknown or len(rating.note) > MAX_NOTE:
            raise ValueError(f"unknown reasons {unknown} or a note over {MAX_NOTE} characters")
        values = (rating.owner, rating.answer_key, rating.who, rating.at or now_iso(), rating.model,
                  json.dumps({n: getattr(rating.choices, n) for n in Choices.names()}, ensure_ascii=False),
                  rating.question, json.dumps([list(i) for i in rating.images], ensure_ascii=False),
                  rating.answer, rating.verdict, json.dumps(list(rating.reasons)), rating.note)
        updated = ", ".join(f"{c} = excluded.{c}" for c in RATING_COLUMNS.split(", ")[3:])
        with self.db.write() as tx:
            return int(tx.one(
                f"INSERT INTO chat_ratings ({RATING_COLUMNS.removeprefix('id, ')}) VALUES "
                f"({', '.join('?' * len(values))}) ON CONFLICT (owner, answer_key) DO UPDATE SET "
                f"{updated} RETURNING id", values)[0])

    def remove_chat_rating(self, owner: str, answer_key: str) -> bool:
        """Take back this owner's rating of the answer; whether there was one."""
        with self.db.write() as tx:
            cursor = tx.run("DELETE FROM chat_ratings WHERE owner = ? AND answer_key = ?",
                            (owner, answer_key))
            return bool(cursor.rowcount)

    def chat_ratings(self, *, owner: str | None = None, since: str = "", until: str = "",
                     limit: int = 1_000_000) -> list[ChatRating]:
        """Ratings in time order (since ≤ at < until, ISO 8601); owner None: everyone's."""
        parts: list[str] = ["1 = 1"]
        params: list[Any] = []
        for condition, value in (("owner = ?", owner), ("at >= ?", since or None),
                                 ("at < ?", until or None)):
            if value is not None:
                parts.append(condition)
                params.append(value)
        with self.db.read() as tx:
            rows = tx.all(f"SELECT {RATING_COLUMNS} FROM chat_ratings WHERE {' AND '.join(parts)} "
                          "ORDER BY at, id LIMIT ?", [*params, max(0, limit)])
        return [_rating(row) for row in rows]


def _rating(row: Any) -> ChatRating:
    (rating_id, owner, key, who, at, model, choices, question, images, answer, verdict, reasons,
     note) = row
    data = json.loads(choices or "{}")
    return ChatRating(model, Choices(**{k: v for k, v in data.items() if k in Choices.names()}),
                      question, answer, int(verdict),
                      tuple(tuple(i) for i in json.loads(images or "[]")),
                      tuple(json.loads(reasons or "[]")), note, owner, who, at, key, int(rating_id))
