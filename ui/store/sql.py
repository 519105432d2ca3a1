"""The Store (ui/store/api.py) on SQLite or PostgreSQL: the same SQL for both, through db.py.

Every write is its own transaction, committed before the method returns: a cell's answer is kept
the moment save_answer returns, whatever happens to the process after. Pages of cells are cut in
SQL (LIMIT / OFFSET) and each_cell reads in batches, so no call loads a whole large run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ui.choices import Choices
from ui.records import AnswerRecord, now_iso
from ui.store.api import CellFilter, RunInfo
from ui.store.chatratings import ChatRatingStore
from ui.store.db import Database
from ui.store.schema import upgrade
from ui.store.testsets import TestSetStore
from ui.store.votes import VoteStore
from ui.testing.cells import REASONS, Cell, Item, Rating, Run, RunStatus, Variant, fingerprint

BATCH = 500  # cells per read of each_cell
RUN_STATUSES = ("ready", "running", "stopped", "done")
CELL_STATUSES = ("pending", "done", "failed")
CELL_COLUMNS = ("c.id, c.run_id, c.row, c.variant, c.status, c.answer, c.thinking, c.record, c.error, "
                "c.error_params, c.attempts, r.verdict, r.reasons, r.note, r.who, r.at")
CELLS_FROM = "FROM cells c LEFT JOIN ratings r ON r.cell_id = c.id"
RUN_COLUMNS = "id, title, owner, created, status, items, variants"
INPUTS_KEPT = 16  # runs whose parsed items and variants run() keeps: they never change


class SqlStore(VoteStore, ChatRatingStore, TestSetStore):
    """Runs, cells, ratings, images, votes, the Chat's ratings and saved test sets in one SQL
    database; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # (id, created) → a run's items and variants, parsed: every page of a 5,000-cell run's grid
        # needs its run, and parsing its items took ~60 ms, longer than the page itself
        self._inputs: dict[tuple[int, str], tuple[tuple[Item, ...], tuple[Variant, ...]]] = {}
        self._inputs_lock = threading.Lock()
        upgrade(db)

    # Images
    def put_image(self, data: bytes, name: str, thumbnail: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self.db.write() as tx:
            tx.run("INSERT INTO images (sha256, name, bytes, thumbnail, created) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (sha256) DO NOTHING", (digest, name, data, thumbnail, now_iso()))
        return digest

    def image(self, digest: str) -> bytes | None:
        return self._blob("bytes", digest)

    def thumbnail(self, digest: str) -> bytes | None:
        return self._blob("thumbnail", digest)

    def _blob(self, column: str, digest: str) -> bytes | None:
        with self.db.read() as tx:
            row = tx.one(f"SELECT {column} FROM images WHERE sha256 = ?", (digest,))
        return bytes(row[0]) if row else None

    # Runs
    def create_run(self, title: str, owner: str, items: Sequence[Item], variants: Sequence[Variant]) -> Run:
        items, variants = tuple(items), tuple(variants)
        created = now_iso()
        with self.db.write() as tx:
            run_id = tx.one("INSERT INTO runs (title, owner, created, status, size, fingerprint, items, "
                            "variants) VALUES (?, ?, ?, 'ready', ?, ?, ?, ?) RETURNING id",
                            (title, owner, created, len(items) * len(variants), fingerprint(items, variants),
                             _items_json(items), _variants_json(variants)))[0]
            cells = [(run_id, row, variant, created)
                     for row in range(len(items)) for variant in range(len(variants))]
            if cells:  # an empty run is allowed: it is finished at once
                tx.many("INSERT INTO cells (run_id, row, variant, updated) VALUES (?, ?, ?, ?)", cells)
        return Run(int(run_id), title, owner, created, items, variants, "ready")

    def run(self, run_id: int) -> Run | None:
        with self.db.read() as tx:
            head = tx.one("SELECT id, title, owner, created, status FROM runs WHERE id = ?", (run_id,))
            if head is None:
                return None
            key = (int(head[0]), str(head[3]))
            with self._inputs_lock:
                inputs = self._inputs.get(key)
            if inputs is None:
                items, variants = tx.one("SELECT items, variants FROM runs WHERE id = ?", (run_id,))
                inputs = _inputs(items, variants)
                with self._inputs_lock:
                    while len(self._inputs) >= INPUTS_KEPT:
                        self._inputs.pop(next(iter(self._inputs)))
                    self._inputs[key] = inputs
        return Run(key[0], head[1], head[2], head[3], *inputs, head[4])

    def runs(self, owner: str | None = None, limit: int = 50) -> list[RunInfo]:
        mine, params = ("WHERE owner = ?", [owner]) if owner is not None else ("", [])
        # each count a range of an index (cells_by_status, ratings_by_run): no cell is read
        counted = " ".join(f"(SELECT COUNT(*) FROM cells c WHERE c.run_id = u.id AND c.status = '{s}'),"
                           for s in ("done", "failed"))
        with self.db.read() as tx:
            rows = tx.all(f"SELECT u.id, u.title, u.owner, u.created, u.status, u.size, {counted} "
                          "(SELECT COUNT(*) FROM ratings r WHERE r.run_id = u.id) "
                          f"FROM runs u {mine} ORDER BY u.id DESC LIMIT ?", [*params, max(0, limit)])
        return [RunInfo(int(i), t, o, c, s, int(n), int(d), int(f), int(r))
                for i, t, o, c, s, n, d, f, r in rows]

    def find_unfinished(self, fingerprint: str, owner: str) -> Run | None:
        with self.db.read() as tx:
            row = tx.one(f"SELECT {RUN_COLUMNS} FROM runs WHERE fingerprint = ? AND owner = ? "
                         "AND status <> 'done' ORDER BY id DESC LIMIT 1", (fingerprint, owner))
        return _run(row) if row else None

    def set_status(self, run_id: int, status: RunStatus) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        with self.db.write() as tx:
            _found(tx.run("UPDATE runs SET status = ? WHERE id = ?", (status, run_id)), "run", run_id)

    def stop_running(self, now: str) -> int:
        with self.db.write() as tx:  # a run running without a lease (before version 5): '' < now
            return int(tx.run("UPDATE runs SET status = 'stopped', lease_holder = '', lease_until = '' "
                              "WHERE status = 'running' AND lease_until < ?", (now,)).rowcount)

    # Leases
    def claim_run(self, run_id: int, holder: str, now: str, until: str, *, over: str = "") -> bool:
        with self.db.write() as tx:
            return tx.run("UPDATE runs SET status = 'running', lease_holder = ?, lease_until = ? "
                          "WHERE id = ? AND (status <> 'running' OR lease_until < ? "
                          "OR lease_holder IN (?, ?))",
                          (holder, until, run_id, now, holder, over or holder)).rowcount == 1

    def renew_run(self, run_id: int, holder: str, until: str) -> bool:
        with self.db.write() as tx:
            return tx.run("UPDATE runs SET lease_until = ? WHERE id = ? AND status = 'running' "
                          "AND lease_holder = ?", (until, run_id, holder)).rowcount == 1

    def release_run(self, run_id: int, holder: str, status: RunStatus) -> bool:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        with self.db.write() as tx:
            return tx.run("UPDATE runs SET status = ?, lease_holder = '', lease_until = '' "
                          "WHERE id = ? AND lease_holder = ?", (status, run_id, holder)).rowcount == 1

    def run_lease(self, run_id: int) -> tuple[str, str] | None:
        with self.db.read() as tx:
            row = tx.one("SELECT lease_holder, lease_until FROM runs WHERE id = ? AND status = 'running'",
                         (run_id,))
        return (str(row[0]), str(row[1])) if row else None

    # Cells
    def todo(self, run_id: int, *, retry_failed: bool = False) -> list[Cell]:
        statuses = ("pending", "failed") if retry_failed else ("pending",)
        marks = ", ".join("?" * len(statuses))
        with self.db.read() as tx:
            rows = tx.all(f"SELECT {CELL_COLUMNS} {CELLS_FROM} WHERE c.run_id = ? AND c.status IN ({marks}) "
                          "ORDER BY c.row, c.variant", (run_id, *statuses))
        return [_cell(row) for row in rows]

    def save_answer(self, cell_id: int, answer: str, thinking: str, record: AnswerRecord) -> None:
        with self.db.write() as tx:
            _found(tx.run("UPDATE cells SET status = 'done', answer = ?, thinking = ?, record = ?, "
                          "error = '', error_params = '{}', attempts = attempts + 1, updated = ? "
                          "WHERE id = ?", (answer, thinking, _json(record.as_json()), now_iso(), cell_id)),
                   "cell", cell_id)

    def save_failure(self, cell_id: int, error: str, params: dict[str, Any],
                     record: AnswerRecord | None) -> None:
        with self.db.write() as tx:
            _found(tx.run("UPDATE cells SET status = 'failed', error = ?, error_params = ?, record = ?, "
                          "attempts = attempts + 1, updated = ? WHERE id = ?",
                          (error, _json(params), _json(record.as_json()) if record else None, now_iso(),
                           cell_id)), "cell", cell_id)

    def cells(self, run_id: int, where: CellFilter | None = None, *, offset: int = 0,
              limit: int = 50) -> list[Cell]:
        matching, params = _where(run_id, where)
        with self.db.read() as tx:  # the page's ids first (an index walk), then only their cells
            rows = tx.all(f"SELECT {CELL_COLUMNS} {CELLS_FROM} WHERE c.id IN (SELECT c.id {matching} "
                          "ORDER BY c.row, c.variant LIMIT ? OFFSET ?) ORDER BY c.row, c.variant",
                          (*params, max(0, limit), max(0, offset)))
        return [_cell(row) for row in rows]

    def count(self, run_id: int, where: CellFilter | None = None) -> int:
        matching, params = _where(run_id, where)
        with self.db.read() as tx:
            return int(tx.one(f"SELECT COUNT(*) {matching}", params)[0])

    def changes(self, run_id: int) -> tuple[Any, ...]:
        # counts from the indexes (cells_by_status, ratings_by_run); only failed cells and ratings
        # are read, not the answers: a few ms for a 5,000-cell run where its summary takes ~80
        with self.db.read() as tx:
            row = tx.one("SELECT (SELECT COUNT(*) FROM cells c WHERE c.run_id = ? AND c.status = 'done'), "
                         "(SELECT COUNT(*) FROM cells c WHERE c.run_id = ? AND c.status = 'failed'), "
                         "(SELECT SUM(c.attempts) FROM cells c WHERE c.run_id = ? AND c.status = 'failed'), "
                         "(SELECT COUNT(*) FROM ratings r WHERE r.run_id = ?), "
                         "(SELECT SUM(r.verdict) FROM ratings r WHERE r.run_id = ?), "
                         "(SELECT MAX(r.at) FROM ratings r WHERE r.run_id = ?)", (run_id,) * 6)
        return tuple(row)

    def each_cell(self, run_id: int) -> Iterator[Cell]:
        after = (-1, -1)
        while True:  # by (row, variant) from the last one read: each batch is an index range
            with self.db.read() as tx:
                rows = tx.all(f"SELECT {CELL_COLUMNS} {CELLS_FROM} WHERE c.run_id = ? "
                              "AND (c.row > ? OR (c.row = ? AND c.variant > ?)) "
                              "ORDER BY c.row, c.variant LIMIT ?",
                              (run_id, after[0], after[0], after[1], BATCH))
            for row in rows:
                yield _cell(row)
            if len(rows) < BATCH:
                return
            after = (rows[-1][2], rows[-1][3])

    def rate(self, cell_id: int, rating: Rating | None) -> None:
        with self.db.write() as tx:
            if rating is None:
                tx.run("DELETE FROM ratings WHERE cell_id = ?", (cell_id,))
                return
            if rating.verdict not in (1, -1):
                raise ValueError(f"a verdict is +1 or -1, not {rating.verdict!r}")
            unknown = [r for r in rating.reasons if r not in REASONS]
            if unknown:
                raise ValueError(f"unknown reasons {unknown}")
            found = tx.one("SELECT run_id FROM cells WHERE id = ?", (cell_id,))
            if found is None:
                raise KeyError(f"no cell {cell_id}")
            tx.run("INSERT INTO ratings (cell_id, run_id, verdict, reasons, note, who, at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cell_id) DO UPDATE SET "
                   "verdict = excluded.verdict, reasons = excluded.reasons, note = excluded.note, "
                   "who = excluded.who, at = excluded.at",
                   (cell_id, found[0], rating.verdict, _json(list(rating.reasons)), rating.note, rating.who,
                    rating.at or now_iso()))

    def close(self) -> None:
        self.db.close()


def _where(run_id: int, where: CellFilter | None) -> tuple[str, list[Any]]:
    """`FROM ... WHERE ...` of the run's cells that pass the filter, and its parameters."""
    joins, parts, params = "", ["c.run_id = ?"], list[Any]([run_id])
    where = where or CellFilter()
    if where.variant is not None:
        parts.append("c.variant = ?")
        params.append(where.variant)
    if where.status is not None:
        parts.append("c.status = ?")
        params.append(where.status)
    if where.verdict == 0:
        parts.append("NOT EXISTS (SELECT 1 FROM ratings n WHERE n.cell_id = c.id)")
    if where.verdict in (1, -1) or where.reason is not None:
        joins = "JOIN ratings r ON r.cell_id = c.id "
        parts.append("r.run_id = ?")  # lets the database start from the run's ratings
        params.append(run_id)
    if where.verdict in (1, -1):
        parts.append("r.verdict = ?")
        params.append(where.verdict)
    if where.reason is not None:  # a JSON list of names: the name in quotes, LIKE's marks escaped
        quoted = json.dumps(where.reason).replace("!", "!!").replace("%", "!%").replace("_", "!_")
        parts.append("r.reasons LIKE ? ESCAPE '!'")
        params.append(f"%{quoted}%")
    return f"FROM cells c {joins}WHERE {' AND '.join(parts)}", params


def _found(cursor: Any, what: str, key: int) -> None:
    if cursor.rowcount == 0:
        raise KeyError(f"no {what} {key}")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)  # never fails a save


def _items_json(items: Sequence[Item]) -> str:
    return _json([{"image": i.image, "name": i.name, "question": i.question, "expected": i.expected}
                  for i in items])


def _variants_json(variants: Sequence[Variant]) -> str:
    return _json([{"label": v.label, "choices": {n: getattr(v.choices, n) for n in Choices.names()}}
                  for v in variants])


def _variant(data: dict[str, Any]) -> Variant:
    known = {k: v for k, v in dict(data.get("choices") or {}).items() if k in Choices.names()}
    return Variant(Choices(**known), str(data.get("label") or ""))


def _run(row: Sequence[Any]) -> Run:
    run_id, title, owner, created, status, items, variants = row
    return Run(int(run_id), title, owner, created, *_inputs(items, variants), status)


def _inputs(items: str, variants: str) -> tuple[tuple[Item, ...], tuple[Variant, ...]]:
    return tuple(Item(**i) for i in json.loads(items)), tuple(_variant(v) for v in json.loads(variants))


def _cell(row: Sequence[Any]) -> Cell:
    (cell_id, run_id, index, variant, status, answer, thinking, record, error, params, attempts,
     verdict, reasons, note, who, at) = row
    return Cell(int(cell_id), int(run_id), int(index), int(variant), status, answer, thinking,
                AnswerRecord.from_json(json.loads(record)) if record else None, error,
                json.loads(params or "{}"), int(attempts),
                Rating(int(verdict), tuple(json.loads(reasons or "[]")), note, who, at)
                if verdict is not None else None)
