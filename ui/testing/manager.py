"""Test runs that go on while nobody watches: each runs as a task of the server's event loop, not
of a browser's request, so closing the tab does not stop it; the page asks for its progress.
A server that stopped mid-run finds it "running" in the store, its lease run out, and calls it
stopped (`recover`); Resume continues it, and no finished cell is sent again. A run that another
live process asks (a replica on the same database, a `batch` command) holds a live lease
(ui/testing/lease.py): it is neither stopped nor started here; its progress is read from the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ui.answer import Answerer
from ui.imaging.thumbs import thumbnail
from ui.store.api import Store
from ui.testing.cells import Run, Variant
from ui.testing.lease import HOLDER, LEASE_SECONDS, RENEW_EVERY, Lease, iso, release_quietly, utc_now
from ui.testing.runner import Progress, Runner
from ui.testing.testset import TestSet

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

    def __init__(self, answerer: Answerer, store: Store, image_path: Callable[[str], str], *,
                 holder: str = HOLDER, clock: Callable[[], datetime] = utc_now,
                 lease_seconds: float = LEASE_SECONDS, renew_every: float = RENEW_EVERY) -> None:
        self.answerer, self.store, self.image_path = answerer, store, image_path
        self.holder, self.clock = holder, clock  # this process as a lease holder, and its clock
        self.lease_seconds, self.renew_every = lease_seconds, renew_every
        self._going: dict[int, _Going] = {}

    def lease(self, run_id: int) -> Lease:
        return Lease(self.store, run_id, self.holder, self.lease_seconds, self.renew_every, self.clock)

    def recover(self) -> int:
        """Runs left "running" by a process that was killed (their lease has run out): now
        "stopped", to resume. How many. One statement over the runs table: no run is listed and no
        cell is counted (start-up of a server with many finished runs used to count every run's
        cells). A run another live process is asking keeps running."""
        return self.store.stop_running(iso(self.clock()))

    def start(self, run_id: int, *, retry_failed: bool = False, api_key: str = "") -> bool:
        """Start asking the run's cells still to ask; False if it is running here already, or
        another live process is asking it (held_elsewhere), or there is no such run."""
        if self.running(run_id):
            return False
        run = self.store.run(run_id)
        if run is None:
            return False
        lease = self.lease(run_id)
        if not lease.claim():  # one UPDATE: two processes pressing Resume together, one wins
            return False
        runner = Runner(self.answerer, self.store, self.image_path, api_key=api_key)
        stop = asyncio.Event()
        going = _Going(asyncio.get_running_loop().create_task(self._drive(runner, run_id, retry_failed,
                                                                          stop, lease)), stop)
        self._going[run_id] = going
        return True

    def held_elsewhere(self, run_id: int) -> bool:
        """Whether another live process (a replica, a `batch` command) is asking the run now."""
        return not self.running(run_id) and self.lease(run_id).elsewhere()

    async def _drive(self, runner: Runner, run_id: int, retry_failed: bool,
                     stop: asyncio.Event, lease: Lease) -> None:
        going = self._going[run_id]
        try:
            run = await asyncio.to_thread(self.store.run, run_id)
            assert run is not None
            async with contextlib.aclosing(runner.run(run, retry_failed=retry_failed, stop=stop,
                                                      lease=lease)) as progress:
                async for p in progress:
                    going.progress, going.changed = p, going.changed + 1
        except Exception:  # a bug of ours or the store out of reach: the run can be resumed
            log.exception("test run %s stopped by an error", run_id)
            going.errors.append("run_failed")
            await asyncio.to_thread(release_quietly, lease, "stopped")

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


_DIGEST = re.compile(r"[0-9a-f]{64}")


def new_run(store: Store, found: TestSet, variants: list[Variant], owner: str, title: str) -> Run:
    """A run of this test set: each image stored once (with its thumbnail), one cell per item ×
    variant, all pending."""
    names = {item.image: item.name for item in reversed(found.items)}  # the first name given
    try:
        for digest, name in names.items():
            data = found.images[digest]
            store.put_image(data, name, thumbnail(data) or b"")
    finally:
        found.images.close()  # the last .zip read from
    return store.create_run(title, owner, found.items, variants)


def image_files(store: Store, folder: Path) -> Callable[[str], str]:
    """digest → a file holding that image, which the answer loop can prepare: written from the
    store once (the store may be a database other servers share), then reused."""

    def path_of(digest: str) -> str:
        if not _DIGEST.fullmatch(digest):
            raise ValueError("not an image digest")
        path = folder / digest[:2] / digest
        if not path.exists():
            data = store.image(digest)
            if data is None:
                return str(path)  # gone: the cell fails with "image missing", the run goes on
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{digest}.{os.getpid()}.part")
            partial.write_bytes(data)
            os.replace(partial, path)
        return str(path)

    return path_of
