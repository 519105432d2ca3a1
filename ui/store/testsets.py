"""The store's test sets saved from the Chat (schema version 4): a name per owner, and rows of an
image (kept in `images` by its SHA-256) and a question, each once per set."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from ui.records import now_iso
from ui.store.db import Database
from ui.testing.cells import Item
from ui.testing.chatratings import MAX_SET_NAME, SavedSet

SET_COLUMNS = ("s.id, s.name, s.owner, s.created, "
               "(SELECT COUNT(*) FROM test_set_rows r WHERE r.set_id = s.id)")


class TestSetStore:
    """test_sets / test_set / create_test_set / add_test_rows / test_set_items (SqlStore inherits)."""

    __test__ = False  # not a pytest class
    db: Database

    def test_sets(self, owner: str | None = None) -> list[SavedSet]:
        """Newest first; owner None: everyone's (a team's server with sign-in)."""
        mine, params = ("WHERE s.owner = ?", (owner,)) if owner is not None else ("", ())
        with self.db.read() as tx:
            rows = tx.all(f"SELECT {SET_COLUMNS} FROM test_sets s {mine} ORDER BY s.id DESC", params)
        return [SavedSet(int(i), n, o, c, int(k)) for i, n, o, c, k in rows]

    def test_set(self, set_id: int) -> SavedSet | None:
        with self.db.read() as tx:
            row = tx.one(f"SELECT {SET_COLUMNS} FROM test_sets s WHERE s.id = ?", (set_id,))
        return SavedSet(int(row[0]), row[1], row[2], row[3], int(row[4])) if row else None

    def create_test_set(self, name: str, owner: str) -> SavedSet:
        """This owner's set of that name, made if it is new."""
        name = name.strip()
        if not name or len(name) > MAX_SET_NAME:
            raise ValueError(f"a test set's name has 1 to {MAX_SET_NAME} characters")
        with self.db.write() as tx:
            tx.run("INSERT INTO test_sets (name, owner, created) VALUES (?, ?, ?) "
                   "ON CONFLICT (owner, name) DO NOTHING", (name, owner, now_iso()))
            set_id = tx.one("SELECT id FROM test_sets WHERE owner = ? AND name = ?", (owner, name))[0]
        found = self.test_set(int(set_id))
        assert found is not None
        return found

    def add_test_rows(self, set_id: int, items: Sequence[Item], who: str = "") -> int:
        """Add rows to a set; a row whose image and question are there already gets the new
        expected answer if one is given. How many rows are new."""
        at = now_iso()
        added = 0
        with self.db.write() as tx:
            if tx.one("SELECT id FROM test_sets WHERE id = ?", (set_id,)) is None:
                raise KeyError(f"no test set {set_id}")
            for item in items:
                key = _row_key(item)
                if tx.one("SELECT id FROM test_set_rows WHERE set_id = ? AND row_key = ?",
                          (set_id, key)) is not None:
                    if item.expected:
                        tx.run("UPDATE test_set_rows SET expected = ?, who = ?, at = ? "
                               "WHERE set_id = ? AND row_key = ?", (item.expected, who, at, set_id, key))
                    continue
                tx.run("INSERT INTO test_set_rows (set_id, row_key, image, name, question, expected, "
                       "who, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (set_id, key, item.image, item.name, item.question, item.expected, who, at))
                added += 1
        return added

    def test_set_items(self, set_id: int) -> list[Item]:
        """The set's rows in the order they were added."""
        with self.db.read() as tx:
            rows = tx.all("SELECT image, name, question, expected FROM test_set_rows WHERE set_id = ? "
                          "ORDER BY id", (set_id,))
        return [Item(*row) for row in rows]


def _row_key(item: Item) -> str:
    text = json.dumps([item.image, item.question], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
