"""When the screen is updated while an answer streams.

Every update makes Gradio postprocess, diff and send the whole conversation: ~0.8 ms for a new
chat, ~1.5 ms after 40 turns on the bench machine, and more on a busy server. `Pace` spaces updates out in
proportion to what they cost; `paced` makes sure an update held back still goes out when it is
due, even if the endpoint goes quiet. `Resends` spaces out /ask's updates for clients that get
the whole answer in each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

YIELD_EVERY = 0.04  # seconds between screen updates while streaming: smooth, and cheap on the server
UPDATE_SHARE = 10  # ... and at least 10× as long as Gradio took over the last updates

E = TypeVar("E")


class Pace:
    """When the next update may go out: YIELD_EVERY after the last one, or UPDATE_SHARE times as
    long as Gradio took over each of the last two, if that is later (one slow update, such as a
    garbage collection, does not count). A long chat gets fewer, larger updates, a busy server
    fewer still, and each streaming visitor keeps costing about the same. The first update is
    never held back.

    Use: `if pace.due(): pace.sending(); yield update; pace.sent()`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.next = self.started = self.took = 0.0
        self.held = False  # an update was not due and waits to be sent

    def due(self) -> bool:
        self.held = self.clock() < self.next
        return not self.held

    def wait(self) -> float | None:
        """Seconds until a held update is due (None if nothing is held)."""
        return max(0.0, self.next - self.clock()) if self.held else None

    def sending(self) -> None:
        """Right before yielding an update."""
        self.started, self.held = self.clock(), False

    def sent(self) -> None:
        """When Gradio asks for the next update (the generator is resumed): it is done with this one."""
        took = self.clock() - self.started
        self.next = self.started + max(YIELD_EVERY, UPDATE_SHARE * min(took, self.took))
        self.took = took


async def paced(events: AsyncIterator[E], pace: Pace, stop: asyncio.Event | None = None,
                ) -> AsyncGenerator[E | None, None]:
    """The events as they arrive, until `stop` is set (then the stream ends at once, even
    mid-wait), plus one None whenever an update `pace` holds back comes due before the next event
    arrives: the last words before the endpoint pauses are shown, not kept until it goes on.

    One task reads the events into a buffer; waiting for the next one costs a future, not a task.
    """
    loop = asyncio.get_running_loop()
    arrived: deque[E] = deque()
    ended: list[Exception | None] = []  # [None] when the events are over, [error] if they failed
    waiter: asyncio.Future[None] | None = None

    def wake(*_: object) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read() -> None:
        try:
            async for event in events:
                arrived.append(event)
                wake()
            ended.append(None)
        except Exception as e:  # raised to the reader's reader after the events before it
            ended.append(e)
        finally:
            wake()

    reader = loop.create_task(read())
    stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if stopped is not None:
        stopped.add_done_callback(wake)
    ticked = False  # a None went out since the last event
    try:
        while stopped is None or not stopped.done():
            if arrived:
                ticked = False
                yield arrived.popleft()
                continue
            if ended:
                if ended[0] is not None:
                    raise ended[0]
                return
            wait = None if ticked else pace.wait()
            if wait is not None and wait <= 0:
                ticked = True
                yield None
                continue
            waiter = loop.create_future()
            timer = loop.call_later(wait, wake) if wait is not None else None
            try:
                await waiter
            finally:
                waiter = None
                if timer is not None:
                    timer.cancel()
    finally:
        if stopped is not None:
            stopped.cancel()
        if not reader.done():  # stopped or closed mid-stream: end the read before anyone closes `events`
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader


class Resends:
    """When /ask's next update may go out, for a client that gets the whole answer in every update.

    Gradio's REST route (/gradio_api/call/ask, curl and plain HTTP) sends each update whole, so
    N updates of a growing answer cost about N times its length: a 16k-token answer (82 KB) once
    became 18.4 MB. Here an update goes out only while everything sent so far stays within
    SHARE × the answer's UTF-8 size + FREE bytes. Short answers still stream word by word; longer
    ones in steps that grow with them (each about 1/SHARE of what is there); and a client receives
    at most (SHARE + 2) × the final answer + FREE, the last update and Gradio's closing event
    each carrying it whole (twice that for Chinese, whose characters JSON escapes to 6 bytes).
    Sizes are measured on what was added since the last look, so each character is counted once.

    Use: `if final or resends.due(text): resends.sending(); yield text`.
    """

    SHARE = 5
    FREE = 32 * 1024
    FRAME = 40  # bytes of "event: generating\ndata: [...]\n\n" around each update

    def __init__(self) -> None:
        self.sent = 0  # bytes sent so far
        self._text = ""
        self._size = 0  # UTF-8 bytes of _text
        self._wire = 0  # its bytes as JSON

    def due(self, text: str) -> bool:
        self._measure(text)
        return self.sent + self._wire + self.FRAME <= self.SHARE * self._size + self.FREE

    def sending(self) -> None:
        """Right before the text last looked at goes out."""
        self.sent += self._wire + self.FRAME

    def _measure(self, text: str) -> None:
        if not text.startswith(self._text):
            self._text, self._size, self._wire = "", 0, 0
        added = text[len(self._text):]
        self._text = text
        self._size += len(added.encode("utf-8", "surrogatepass"))
        self._wire += len(json.dumps(added)) - 2
