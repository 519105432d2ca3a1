"""Running a test: every cell still to ask, through the one answer loop, as many at once as the
endpoint takes, each saved the moment it ends.

- Each cell is asked fresh: one user turn (its image and question), no history from other cells.
- Concurrency adapts (`Limit`): it halves when the endpoint says "rate limited" (429, GLM 1302,
  1303, 1305; the answer loop already waited as Retry-After asked) and grows by one after as many
  answers in a row as it allows without one; a refused step up goes back one step, and the next
  try waits longer. A cell that ran into the rate limit to the end goes
  back in line; any other failure is saved with its error key, to rerun with retry_failed.
- Resume is the same call again: only cells the store still calls pending (and failed ones, when
  asked) are sent; a finished cell is never sent twice. Stop (the `stop` event) cancels the cells in
  flight: they stay pending, nothing half-answered is saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from ui.answer import Answerer
from ui.conversation import user_message
from ui.endpoint import Retrying
from ui.errors import ChatError, InputError
from ui.markup import split_think
from ui.records import AnswerRecord, record_of
from ui.store.api import CellFilter, Store
from ui.testing.cells import Cell, Run, RunStatus

log = logging.getLogger("glmchat")
RATE_LIMITED = "rate_limited"
REQUEUES = 5  # a cell rate-limited to the end goes back in line at most this often


class Limit:
    """How many cells may be asked at once: starts at `start`, never below 1 or above `most`.

    - A rate limit halves it (at most once per wave: a burst of refusals from cells that started
      before the cut counts once), and forgets what was known to work.
    - `value` answers in a row without one prove the value works; it then grows by one (a probe).
    - A probe refused (one above a value that was proven) steps back to that value, not to half:
      the endpoint's limit is found. The next probe then waits 4× longer (up to 64× `value`
      answers), so a run that has found the limit spends almost nothing on asking above it.
    - Refused at a proven value, it steps down by one: the endpoint counts requests at once a little
      differently from us (a cell preparing or saving is ours, not its), so its limit is near.
    """

    PROBE_WAIT_MOST = 3  # probes wait value × 4^k answers, k at most this

    def __init__(self, start: int, most: int) -> None:
        self.most = max(1, most)
        self.value = max(1, min(start, self.most))
        self.epoch = 0  # cuts so far: a refusal from a cell started before the last cut is old news
        self._streak = 0
        self._proven = 0  # the largest value that answered `value` times in a row since the last cut
        self._refused_probes = 0

    def rate_limited(self, started_in: int) -> None:
        if started_in == self.epoch:
            if self._proven and self.value == self._proven + 1:  # a probe: the limit is found
                self.value = self._proven
                self._refused_probes = min(self._refused_probes + 1, self.PROBE_WAIT_MOST)
            elif self._proven and self.value <= self._proven:  # near the limit: one step down
                self.value = max(1, self.value - 1)
                self._proven = self.value
            else:
                self.value = max(1, self.value // 2)
                self._proven = 0
            self.epoch += 1
        self._streak = 0

    def answered(self) -> None:
        self._streak += 1
        if self._streak >= self.value:
            self._proven = max(self._proven, self.value)
        if self._streak >= self.value * 4 ** self._refused_probes and self.value < self.most:
            self.value += 1
            self._streak = 0


@dataclass(frozen=True)
class Progress:
    """Where a run stands, after each cell that ended (cell) or when it starts or stops."""

    total: int
    done: int
    failed: int
    running: int
    concurrency: int
    eta_s: float | None  # None until the first cell of this session ended
    cell: Cell | None = None
    finished: bool = False  # the last progress of this call (all asked, or stopped)
    stopped: bool = False

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed


class Runner:
    """Asks a run's cells with one Answerer and saves them in one Store."""

    def __init__(self, answerer: Answerer, store: Store, image_path: Callable[[str], str], *,
                 api_key: str = "", start: int = 4, most: int | None = None) -> None:
        self.answerer, self.store, self.image_path = answerer, store, image_path
        self.api_key = api_key
        self.start, self.most = start, most or answerer.settings.per_visitor

    async def run(self, run: Run, *, retry_failed: bool = False,
                  stop: asyncio.Event | None = None) -> AsyncGenerator[Progress, None]:
        """Ask every cell still to ask; a Progress after each one that ends."""
        stop = stop or asyncio.Event()
        todo = await asyncio.to_thread(self.store.todo, run.id, retry_failed=retry_failed)
        total = run.size
        done = await asyncio.to_thread(self._count, run.id, "done")
        failed = 0 if retry_failed else await asyncio.to_thread(self._count, run.id, "failed")
        limit = Limit(self.start, self.most)
        line = list(todo)
        requeued: dict[int, int] = {}
        running: dict[asyncio.Future[Any], Cell] = {}
        began, ended = time.monotonic(), 0
        await asyncio.to_thread(self.store.set_status, run.id, "running")
        yield Progress(total, done, failed, 0, limit.value, None)
        try:
            while line or running:
                while line and len(running) < limit.value and not stop.is_set():
                    cell = line.pop(0)
                    again = requeued.get(cell.id, 0) < REQUEUES
                    running[asyncio.ensure_future(self._ask(run, cell, limit, again))] = cell
                if not running:
                    break  # stopped with nothing in flight
                stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
                finished, _ = await asyncio.wait({*running, stopping},
                                                  return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if stop.is_set():
                    break
                for ended_task in finished - {stopping}:
                    running.pop(ended_task)
                    cell, again = ended_task.result()
                    if again:
                        requeued[cell.id] = requeued.get(cell.id, 0) + 1
                        line.insert(0, cell)
                        continue
                    ended += 1
                    if cell.status == "done":
                        done += 1
                    else:
                        failed += 1
                    rate = ended / max(time.monotonic() - began, 1e-6)
                    left = total - done - failed
                    yield Progress(total, done, failed, len(running), limit.value,
                                   left / rate if rate else None, cell)
        finally:
            for flying in running:
                flying.cancel()
            for flying in running:
                with contextlib.suppress(BaseException):
                    await flying
            status: RunStatus = "done" if not stop.is_set() and done + failed >= total else "stopped"
            await asyncio.to_thread(self.store.set_status, run.id, status)
        yield Progress(total, done, failed, 0, limit.value, 0.0 if status == "done" else None,
                       finished=True, stopped=status == "stopped")

    def _count(self, run_id: int, status: str) -> int:
        return self.store.count(run_id, CellFilter(status=status))

    async def _ask(self, run: Run, cell: Cell, limit: Limit, requeue: bool) -> tuple[Cell, bool]:
        """Ask one cell and save how it went; (cell, whether to ask it again later: only when it
        was rate-limited to the end and `requeue` allows, else a failure is saved)."""
        item, variant = run.items[cell.row], run.variants[cell.variant]
        choices = variant.choices
        epoch = limit.epoch
        limited = False

        def watch(event: Any) -> None:
            nonlocal limited
            if isinstance(event, Retrying) and event.error.key == RATE_LIMITED and not limited:
                limited = True
                limit.rate_limited(epoch)

        history = [user_message(item.question, [self.image_path(item.image)])]
        try:
            self.answerer.check_request(item.question, choices.model, choices.system_prompt,
                                        self.api_key)
            built = await self.answerer.prepare_messages(history, choices)
        except (InputError, ChatError) as error:
            if "name" in error.params or "path" in error.params:  # the tester's name, not our file's
                error.params["name"] = item.name
                error.params.pop("path", None)
            return await self._failed(cell, error, None), False
        events = self.answerer.start(built, choices, self.api_key, watch)
        final = None
        try:
            async with contextlib.aclosing(self.answerer.run(history, built, choices, "en", events,
                                                             boxes=False)) as steps:
                async for step in steps:
                    final = step
        finally:
            if not isinstance(events, ChatError):
                await events.aclose()
        assert final is not None  # the loop always ends with a final step
        record = next((r for m in reversed(final.history) if (r := record_of(m))), None)
        if final.error is not None:
            if final.error.key == RATE_LIMITED:
                if not limited:
                    limit.rate_limited(epoch)
                if requeue:
                    return cell, True
            return await self._failed(cell, final.error, record), False
        limit.answered()
        tagged, text = split_think(final.answer.raw)
        thinking = "\n\n".join(t for t in (final.answer.reasoning, tagged) if t)
        assert record is not None  # a request went out and ended: its record is in the history
        await asyncio.to_thread(self.store.save_answer, cell.id, text, thinking, record)
        cell.status, cell.answer, cell.thinking, cell.record = "done", text, thinking, record
        return cell, False

    async def _failed(self, cell: Cell, error: ChatError, record: AnswerRecord | None) -> Cell:
        params = {k: v for k, v in error.params.items() if isinstance(v, str | int | float)}
        await asyncio.to_thread(self.store.save_failure, cell.id, error.key, params, record)
        cell.status, cell.error, cell.error_params, cell.record = "failed", error.key, params, record
        log.info("test cell %s failed: %s", cell.id, error.key)
        return cell
