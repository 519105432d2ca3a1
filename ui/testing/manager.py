"""Test runs that go on while nobody watches: each runs as a task of the server's event loop, not
of a browser's request, so closing the tab does not stop it; the page asks for its progress.
A server that stopped mid-run finds it "running" in the store and calls it stopped (`recover`);
Resume continues it, and no finished cell is sent again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ui.answer import Answerer
from ui.store.api import Store
from ui.testing.runner import Progress, Runner

log = logging.getLogger("glmchat")


@dataclass
class _Going:
    task: asyncio.Task[None]
    stop: asyncio.Event
    progress: Progress | None = None
    changed: int = 0  # bumped with every progress, so the page knows when to redraw
    errors: list[str] = field(default_factory=list)


class Runs:
    """The runs this process is asking right now, by run id."""

    def __init__(self, answerer: Answerer, store: Store, image_path: Callable[[str], str]) -> None:
        self.answerer, self.store, self.image_path = answerer, store, image_path
        self._going: dict[int, _Going] = {}

    def recover(self) -> int:
        """Runs left "running" by a server that stopped: now "stopped", to resume. How many."""
        stale = [info.id for info in self.store.runs(None, limit=10_000) if info.status == "running"]
        for run_id in stale:
            self.store.set_status(run_id, "stopped")
        return len(stale)

    def start(self, run_id: int, *, retry_failed: bool = False, api_key: str = "") -> bool:
        """Start asking the run's cells still to ask; False if it is running already."""
        if self.running(run_id):
            return False
        run = self.store.run(run_id)
        if run is None:
            return False
        runner = Runner(self.answerer, self.store, self.image_path, api_key=api_key)
        stop = asyncio.Event()
        going = _Going(asyncio.get_running_loop().create_task(self._drive(runner, run_id, retry_failed,
                                                                          stop)), stop)
        self._going[run_id] = going
        return True

    async def _drive(self, runner: Runner, run_id: int, retry_failed: bool,
                     stop: asyncio.Event) -> None:
        run = await asyncio.to_thread(self.store.run, run_id)
        assert run is not None
        going = self._going[run_id]
        try:
            async with contextlib.aclosing(runner.run(run, retry_failed=retry_failed,
                                                      stop=stop)) as progress:
                async for p in progress:
                    going.progress, going.changed = p, going.changed + 1
        except Exception:  # a bug of ours or the store out of reach: the run can be resumed
            log.exception("test run %s stopped by an error", run_id)
            going.errors.append("run_failed")
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.set_status, run_id, "stopped")

    def stop(self, run_id: int) -> None:
        going = self._going.get(run_id)
        if going is not None:
            going.stop.set()

    def running(self, run_id: int) -> bool:
        going = self._going.get(run_id)
        return going is not None and not going.task.done()

    def progress(self, run_id: int) -> tuple[Progress | None, int]:
        """The latest progress of a run this process asked (None: not since start-up), and a
        counter that changes with it."""
        going = self._going.get(run_id)
        return (going.progress, going.changed) if going else (None, 0)

    async def wait(self, run_id: int) -> None:
        """Until the run's task ended (tests, shutdown)."""
        going = self._going.get(run_id)
        if going is not None:
            await asyncio.shield(going.task)
