"""Running a test: every cell still to ask, through the one answer loop, as many at once as the
endpoint takes, each saved the moment it ends.

- Each cell is asked fresh: one user turn (its image and question), no history from other cells.
- Concurrency adapts (`Limit`, ui/testing/limits.py): it halves when the endpoint says "rate
  limited" (429, GLM 1302, 1303, 1305) and grows by one after as many answers in a row as it
  allows without one; a refused step up goes back one step, and the next try waits longer.
- A cell refused for the rate limit is not retried in its place (the answer loop is told not to:
  it would sleep there, holding a slot while the endpoint idles): it goes back to the head of the
  line at once, up to REQUEUES times, and the line waits as a whole (`Hold`: the endpoint's
  Retry-After, or a backoff for refusals in a row). Any other failure is saved with its error
  key, to rerun with retry_failed.
- Resume is the same call again: only cells the store still calls pending (and failed ones, when
  asked) are sent; a finished cell is never sent twice. Stop (the `stop` event) cancels the cells in
  flight: they stay pending, nothing half-answered is saved.
- One process at a time asks a run: it holds the run's lease (ui/testing/lease.py) from before the
  first cell is read until the final status is written, renewed by a timer task. A run another
  live process holds is not started (HeldElsewhere), and a run whose lease was taken meanwhile
  (this process stalled past its end) stops at once and writes nothing more of its status.
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
from ui.errors import ChatError, EndpointError, InputError
from ui.markup import split_think
from ui.records import AnswerRecord, record_of
from ui.store.api import CellFilter, Store
from ui.testing.cells import Cell, Run, RunStatus
from ui.testing.lease import HeldElsewhere, Lease
from ui.testing.limits import Hold, Limit

__all__ = ["REQUEUES", "Hold", "Limit", "Progress", "Runner"]

log = logging.getLogger("glmchat")
RATE_LIMITED = "rate_limited"
REQUEUES = 20  # a cell refused for the rate limit goes back in line at most this often


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

    async def run(self, run: Run, *, retry_failed: bool = False, stop: asyncio.Event | None = None,
                  lease: Lease | None = None) -> AsyncGenerator[Progress, None]:
        """Ask every cell still to ask; a Progress after each one that ends. `lease`: the run's,
        claimed by the caller; else the runner claims it, and raises HeldElsewhere (nothing asked)
        when another live process holds it."""
        stop = stop or asyncio.Event()
        if lease is None:
            lease = Lease(self.store, run.id)
            if not await asyncio.to_thread(lease.claim):
                raise HeldElsewhere(run.id)
        lost: list[bool] = []  # the lease was taken by another process: its status is theirs
        keeper = asyncio.ensure_future(self._keep(lease, stop, lost))
        total, done, failed = run.size, 0, 0
        limit = Limit(self.start, self.most)
        running: dict[asyncio.Future[Any], Cell] = {}
        try:
            todo = await asyncio.to_thread(self.store.todo, run.id, retry_failed=retry_failed)
            done = await asyncio.to_thread(self._count, run.id, "done")
            failed = 0 if retry_failed else await asyncio.to_thread(self._count, run.id, "failed")
            hold = Hold(self.answerer.settings.retry_backoff)
            line = list(todo)
            requeued: dict[int, int] = {}
            began, ended = time.monotonic(), 0
            yield Progress(total, done, failed, 0, limit.value, None)
            while line or running:
                held = hold.wait()
                while line and len(running) < limit.value and not stop.is_set() and not held:
                    cell = line.pop(0)
                    again = requeued.get(cell.id, 0) < REQUEUES
                    running[asyncio.ensure_future(self._ask(run, cell, limit, hold, again))] = cell
                if not running and (stop.is_set() or not held):
                    break  # stopped with nothing in flight
                stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
                waits = {*running, stopping}
                if held and line and len(running) < limit.value:  # until the line may go on
                    waits.add(asyncio.ensure_future(asyncio.sleep(held)))
                finished, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits - set(running):
                    waiting.cancel()
                for ended_task in finished & set(running):  # counted even when Stop came with them
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
                if stop.is_set():
                    break
        finally:
            keeper.cancel()
            for flying in running:
                flying.cancel()
            for flying in running:  # a cell whose answer was being saved ends saved: it counts
                with contextlib.suppress(BaseException):
                    cell, again = await flying
                    if not again:
                        done, failed = (done + 1, failed) if cell.status == "done" else (done, failed + 1)
            with contextlib.suppress(BaseException):
                await keeper
            # every cell ended (a Stop that came with the last ones had nothing left to stop): done
            status: RunStatus = "done" if done + failed >= total else "stopped"
            if not lost:
                await asyncio.to_thread(lease.release, status)
        yield Progress(total, done, failed, 0, limit.value, 0.0 if status == "done" else None,
                       finished=True, stopped=status == "stopped")

    async def _keep(self, lease: Lease, stop: asyncio.Event, lost: list[bool]) -> None:
        """Renew the lease every lease.every seconds while the run goes (cells never wait for
        it); when it was taken by another process, stop: the cells are theirs to ask now."""
        while True:
            await asyncio.sleep(lease.every)
            try:
                kept = await asyncio.to_thread(lease.renew)
            except Exception as error:  # the store out of reach for a moment: again at the next turn
                log.warning("test run %s: its lease was not renewed: %s", lease.run_id, error)
                continue
            if not kept:
                log.warning("test run %s: another process took its lease; stopping here", lease.run_id)
                lost.append(True)
                stop.set()
                return

    def _count(self, run_id: int, status: str) -> int:
        return self.store.count(run_id, CellFilter(status=status))

    async def _ask(self, run: Run, cell: Cell, limit: Limit, hold: Hold,
                   requeue: bool) -> tuple[Cell, bool]:
        """Ask one cell and save how it went; (cell, whether to ask it again later: only when it
        was refused for the rate limit and `requeue` allows, else a failure is saved)."""
        item, variant = run.items[cell.row], run.variants[cell.variant]
        choices = variant.choices
        epoch, started = limit.epoch, hold.clock()
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
        events = self.answerer.start(built, choices, self.api_key, retry_rate_limits=False)
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
                limit.rate_limited(epoch)
                hold.refused(started, final.error.retry_after
                             if isinstance(final.error, EndpointError) else None)
                if requeue:
                    return cell, True
            return await self._failed(cell, final.error, record), False
        limit.answered()
        hold.answered()
        tagged, text = split_think(final.answer.raw)
        thinking = "\n\n".join(t for t in (final.answer.reasoning, tagged) if t)
        assert record is not None  # a request went out and ended: its record is in the history
        await _whole(self.store.save_answer, cell.id, text, thinking, record)
        cell.status, cell.answer, cell.thinking, cell.record = "done", text, thinking, record
        return cell, False

    async def _failed(self, cell: Cell, error: ChatError, record: AnswerRecord | None) -> Cell:
        params = {k: v for k, v in error.params.items() if isinstance(v, str | int | float)}
        await _whole(self.store.save_failure, cell.id, error.key, params, record)
        cell.status, cell.error, cell.error_params, cell.record = "failed", error.key, params, record
        log.info("test cell %s failed: %s", cell.id, error.key)
        return cell


async def _whole(save: Callable[..., Any], *args: Any) -> None:
    """A cell's ending saved in a worker thread, to the end even when Stop cancels the cell
    meanwhile (the thread would save it anyway): the cell then ends as saved, and is counted."""
    saving = asyncio.ensure_future(asyncio.to_thread(save, *args))
    try:
        await asyncio.shield(saving)
    except asyncio.CancelledError:
        await saving
