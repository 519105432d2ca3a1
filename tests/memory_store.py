"""A hand-written in-memory Store (ui/store/api.py) for the runner's tests: the same contract as
the SQL store, so a runner test states what the runner does, not what a database does."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ui.records import AnswerRecord
from ui.store.api import CellFilter, RunInfo
from ui.testing.cells import Cell, Item, Rating, Run, RunStatus, Variant


class MemoryStore:
    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.runs_: dict[int, Run] = {}
        self.cells_: dict[int, Cell] = {}
        self.statuses: list[tuple[int, str]] = []
        self.leases: dict[int, tuple[str, str]] = {}  # run → (holder, until)
        self.claims: list[tuple[int, str, str]] = []  # (run, holder, until) of each claim and
        self.renewals: list[tuple[int, str, str]] = []  # renewal that succeeded
        self._lock = threading.Lock()

    def put_image(self, data: bytes, name: str, thumbnail: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.images.setdefault(digest, data)
        return digest

    def image(self, digest: str) -> bytes | None:
        return self.images.get(digest)

    def thumbnail(self, digest: str) -> bytes | None:
        return None

    def create_run(self, title: str, owner: str, items: Sequence[Item],
                   variants: Sequence[Variant]) -> Run:
        with self._lock:
            run = Run(len(self.runs_) + 1, title, owner, "2026-11-27T00:00:00Z", tuple(items),
                      tuple(variants))
            self.runs_[run.id] = run
            for row in range(len(items)):
                for variant in range(len(variants)):
                    cell_id = len(self.cells_) + 1
                    self.cells_[cell_id] = Cell(cell_id, run.id, row, variant)
            return run

    def run(self, run_id: int) -> Run | None:
        return self.runs_.get(run_id)

    def runs(self, owner: str | None = None, limit: int = 50) -> list[RunInfo]:
        infos = []
        for run in reversed(self.runs_.values()):
            if owner is None or run.owner == owner:
                cells = self._of(run.id)
                infos.append(RunInfo(run.id, run.title, run.owner, run.created, run.status,
                                     len(cells), sum(c.status == "done" for c in cells),
                                     sum(c.status == "failed" for c in cells),
                                     sum(c.rating is not None for c in cells)))
        return infos[:limit]

    def find_unfinished(self, fingerprint: str, owner: str) -> Run | None:
        return next((r for r in reversed(self.runs_.values()) if r.owner == owner
                     and r.status != "done" and r.fingerprint() == fingerprint), None)

    def set_status(self, run_id: int, status: RunStatus) -> None:
        self.runs_[run_id] = dataclasses.replace(self.runs_[run_id], status=status)
        self.statuses.append((run_id, status))

    def stop_running(self, now: str) -> int:
        running = [i for i, run in self.runs_.items()
                   if run.status == "running" and self.leases.get(i, ("", ""))[1] < now]
        for run_id in running:
            self.set_status(run_id, "stopped")
            self.leases.pop(run_id, None)
        return len(running)

    def claim_run(self, run_id: int, holder: str, now: str, until: str, *, over: str = "") -> bool:
        with self._lock:
            run = self.runs_.get(run_id)
            held, ends = self.leases.get(run_id, ("", ""))
            taken = run is not None and run.status == "running" and ends >= now
            if run is None or (taken and held not in (holder, over or holder)):
                return False
            self.set_status(run_id, "running")
            self.leases[run_id] = (holder, until)
            self.claims.append((run_id, holder, until))
            return True

    def renew_run(self, run_id: int, holder: str, until: str) -> bool:
        with self._lock:
            run = self.runs_.get(run_id)
            if run is None or run.status != "running" or self.leases.get(run_id, ("", ""))[0] != holder:
                return False
            self.leases[run_id] = (holder, until)
            self.renewals.append((run_id, holder, until))
            return True

    def release_run(self, run_id: int, holder: str, status: RunStatus) -> bool:
        with self._lock:
            if run_id not in self.runs_ or self.leases.get(run_id, ("", ""))[0] != holder:
                return False
            self.set_status(run_id, status)
            self.leases.pop(run_id, None)
            return True

    def run_lease(self, run_id: int) -> tuple[str, str] | None:
        run = self.runs_.get(run_id)
        if run is None or run.status != "running":
            return None
        return self.leases.get(run_id, ("", ""))

    def todo(self, run_id: int, *, retry_failed: bool = False) -> list[Cell]:
        wanted = {"pending", "failed"} if retry_failed else {"pending"}
        return [dataclasses.replace(c) for c in self._of(run_id) if c.status in wanted]

    def save_answer(self, cell_id: int, answer: str, thinking: str, record: AnswerRecord) -> None:
        with self._lock:
            cell = self.cells_[cell_id]
            cell.status, cell.answer, cell.thinking, cell.record = "done", answer, thinking, record
            cell.error, cell.error_params = "", {}
            cell.attempts += 1

    def save_failure(self, cell_id: int, error: str, params: dict[str, Any],
                     record: AnswerRecord | None) -> None:
        with self._lock:
            cell = self.cells_[cell_id]
            cell.status, cell.error, cell.error_params, cell.record = "failed", error, params, record
            cell.attempts += 1

    def cells(self, run_id: int, where: CellFilter | None = None, *, offset: int = 0,
              limit: int = 50) -> list[Cell]:
        return [c for c in self._of(run_id) if _matches(c, where)][offset:offset + limit]

    def count(self, run_id: int, where: CellFilter | None = None) -> int:
        return sum(_matches(c, where) for c in self._of(run_id))

    def changes(self, run_id: int) -> tuple[Any, ...]:
        cells = self._of(run_id)
        return (tuple((c.status, c.attempts) for c in cells),
                tuple(c.rating for c in cells if c.rating is not None))

    def each_cell(self, run_id: int) -> Iterator[Cell]:
        yield from self._of(run_id)

    def rate(self, cell_id: int, rating: Rating | None) -> None:
        self.cells_[cell_id].rating = rating

    def close(self) -> None:
        pass

    def _of(self, run_id: int) -> list[Cell]:
        return sorted((c for c in self.cells_.values() if c.run_id == run_id),
                      key=lambda c: (c.row, c.variant))


def _matches(cell: Cell, where: CellFilter | None) -> bool:
    if where is None:
        return True
    return (where.variant is None or cell.variant == where.variant) and (
        where.status is None or cell.status == where.status)
