"""How fast a test run asks: how many cells at once (`Limit`) and when the next may start after
rate limits (`Hold`). Plain bookkeeping, no I/O: ui/testing/runner.py asks them before each start
and tells them how each cell ended."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

HOLD_MOST = 30.0  # seconds the line waits at most after one refusal (Retry-After or backoff)


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


class Hold:
    """A pause the whole line keeps after rate limits: no cell starts before `until`.

    A refused cell goes back in line at once (it does not sleep in its place, holding a slot);
    the line as a whole waits instead:
    - as long as the endpoint's Retry-After says (at most HOLD_MOST s), whenever it sends one;
    - without one, the first refusal in a row holds nothing: the Limit's cut is the back-off
      (an endpoint that counts requests at once takes more as soon as the cells in flight end);
      the n-th in a row holds the line for backoff · 2^(n-2) s (+ up to 25 % jitter), at most
      HOLD_MOST s: an endpoint that counts requests per minute is given its minute.
    - A refusal is another "in a row" only from a cell that started after the last one counted
      (so after that one's hold ended): a wave of cells refused together counts once. Counting
      each of them doubled the backoff eight times over, to 30 s, for one wave of 8.
    - Any answer ends the row (the hold in force runs out as it was).
    """

    def __init__(self, backoff: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.backoff, self.clock = max(0.0, backoff), clock
        self.until = 0.0
        self.row = 0  # refusals in a row (counted as above)
        self._counted = -math.inf  # when the last counted refusal arrived

    def refused(self, started: float, retry_after: float | None = None) -> None:
        """A cell that started at `started` (this clock) was refused for the rate limit."""
        now = self.clock()
        if retry_after is not None and math.isfinite(retry_after):
            self.until = max(self.until, now + min(max(retry_after, 0.0), HOLD_MOST))
        if started < self._counted:
            return  # sent before the last refusal was known: the same wave
        self._counted = now
        self.row += 1
        if self.row >= 2 and retry_after is None:
            wait = self.backoff * 2 ** min(self.row - 2, 16) * (1 + random.random() / 4)
            self.until = max(self.until, now + min(wait, HOLD_MOST))

    def answered(self) -> None:
        self.row = 0

    def wait(self) -> float:
        """Seconds until a cell may start (0: now)."""
        return max(0.0, self.until - self.clock())
