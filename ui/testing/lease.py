"""Who is asking a run right now: a lease in the runs table (ui/store/schema.py version 5).

A process asking a run's cells holds its lease: it claims it in one UPDATE (which succeeds only
when the run is not running, its lease has ended, or it is this holder's already), renews it every
RENEW_EVERY seconds from a timer task of the runner (no write per cell), and gives it up with the
run's final status. Another process (a replica on the same PostgreSQL, a `batch` command beside
the app) cannot start the run meanwhile, and a server starting up stops only runs whose lease has
ended (left by a killed process), not one that another live process is asking.

Times are UTC ISO 8601 strings to the microsecond, of one width, so they compare as text in SQL.
Each process reads its own clock: the holder writes "its now + LEASE_SECONDS", another process
compares that with its own now. Right after a renewal the lease reaches LEASE_SECONDS ahead, just
before the next one LEASE_SECONDS - RENEW_EVERY = 45 s ahead: servers whose clocks differ by less
than 45 s never take a live lease (NTP keeps them within milliseconds); a clock more than 45 s fast
could take it just before a renewal, and the holder then finds it lost at that renewal and stops.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ui.store.api import Store
from ui.testing.cells import RunStatus

LEASE_SECONDS = 60.0
RENEW_EVERY = 15.0
# This process, as a lease holder: host and pid (to tell a holder of this machine that was killed)
# and a random part (two processes of two containers may have the same pid and host name).
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HeldElsewhere(Exception):
    """Another live process is asking this run: it was not started here."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"run {run_id} is being asked by another process")
        self.run_id = run_id


def gone(holder: str) -> bool:
    """Whether a holder was a process of this machine that has ended (killed: it could not give
    its lease up), so its lease may be taken before it runs out. Another machine's holder, or one
    whose process is found (or cannot be looked at), is taken for alive until its lease ends."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) in (os.getpid(), 0):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # not ours to signal: it exists
        return False
    return False


@dataclass
class Lease:
    """One run's lease as one holder sees it. Every method is one or two statements of the store,
    synchronous (callers in the event loop use asyncio.to_thread)."""

    store: Store
    run_id: int
    holder: str = HOLDER
    seconds: float = LEASE_SECONDS
    every: float = RENEW_EVERY  # how often the runner renews it
    clock: Callable[[], datetime] = field(default=utc_now)

    def _until(self) -> tuple[str, str]:
        now = self.clock()
        return iso(now), iso(now + timedelta(seconds=self.seconds))

    def claim(self) -> bool:
        """Mark the run "running" as this holder's; False if another live process holds it."""
        now, until = self._until()
        if self.store.claim_run(self.run_id, self.holder, now, until):
            return True
        held = self.store.run_lease(self.run_id)
        # a killed process of this machine: its lease is taken over, only if still that holder's
        return held is not None and gone(held[0]) and self.store.claim_run(
            self.run_id, self.holder, now, until, over=held[0])

    def renew(self) -> bool:
        """Extend it; False when it is no longer this holder's (taken after it ran out)."""
        return self.store.renew_run(self.run_id, self.holder, self._until()[1])

    def release(self, status: RunStatus) -> bool:
        """The run's final status (done, stopped), the lease given up; only if still held."""
        return self.store.release_run(self.run_id, self.holder, status)

    def elsewhere(self) -> bool:
        """Whether another live process holds the run's lease now (it is asking the run)."""
        held = self.store.run_lease(self.run_id)
        if held is None:
            return False
        holder, until = held
        return holder != self.holder and until >= iso(self.clock()) and not gone(holder)


def release_quietly(lease: Lease, status: RunStatus) -> None:
    """Give the lease up when the store may be out of reach (it then runs out on its own)."""
    with contextlib.suppress(Exception):
        lease.release(status)
