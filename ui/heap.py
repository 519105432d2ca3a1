"""What the process keeps of the memory it no longer uses (glibc only; elsewhere nothing happens).

Two settings, measured in bench/internals/memory.py (RSS after the bench's crowd phases, MB):
the app as it was 494, gr.load_chat 256; with both of these 280 (1.09 × the peer).

- At most two malloc arenas (`M_ARENA_MAX`). glibc gives each thread that meets a locked arena
  its own, up to 8 per core, and each keeps the memory freed into it: after the crowds, 16 arenas
  held ~200 MB free. The GIL serialises almost all allocation here, so two arenas lose nothing.
  A MALLOC_ARENA_MAX in the environment wins.
- `trim()` hands the free pages of every heap back to the OS (a few ms). Image preparation calls
  it after big work (ui/imaging/memory.py); `Busy` calls it once no answer has run for a second,
  after a garbage collection (the answers' reference cycles, freed while nobody waits).
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's mallopt parameter number
IDLE_SECONDS = 1.0


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc, else None."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
        return ctypes.CDLL(None)
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), no such name (macOS, musl)
        return None


_libc = _glibc()
if _libc is not None and "MALLOC_ARENA_MAX" not in os.environ:
    # Imported before the server starts its worker threads (ui/asking.py, ui/imaging/payload.py).
    _libc.mallopt(M_ARENA_MAX, 2)


def trim() -> None:
    """Hand freed heap memory back to the OS."""
    if _libc is not None:
        _libc.malloc_trim(0)


class Busy:
    """Counts the answers running; IDLE_SECONDS after the last one ends, trims (in a timer thread,
    and not if another answer started meanwhile or a later trim already ran)."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS,
                 on_idle: Callable[[], None] | None = None) -> None:
        self.idle_seconds, self.on_idle = idle_seconds, on_idle  # on_idle: after each such trim
        self.running = 0
        self.trims = 0
        self._lock = threading.Lock()
        self._last_trim = 0.0

    def __enter__(self) -> None:
        with self._lock:
            self.running += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.running -= 1
            idle = self.running == 0
        if idle and _libc is not None:
            timer = threading.Timer(self.idle_seconds, self._trim_if_idle, args=(time.monotonic(),))
            timer.daemon = True
            timer.start()

    def _trim_if_idle(self, since: float) -> None:
        with self._lock:
            if self.running or self._last_trim > since:
                return
            self._last_trim = time.monotonic()
            self.trims += 1
        gc.collect()  # cycles left by the answers (~60 ms once, when nobody waits), then trim
        trim()
        if self.on_idle is not None:
            self.on_idle()
