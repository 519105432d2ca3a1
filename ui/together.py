"""Several answer loops read as one stream: Compare's panes answering at once. No gradio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

from ui.answer import Step


async def together(runs: Mapping[int, AsyncGenerator[Step, None]]) -> AsyncIterator[dict[int, Step]]:
    """The panes' steps as they come: each time, the newest step of every pane that moved (a
    pane's final step is never skipped: it is its newest). Every loop is closed at the end."""
    queue: asyncio.Queue[tuple[int, Step | None]] = asyncio.Queue()

    async def pump(pane: int, steps: AsyncGenerator[Step, None]) -> None:
        try:
            async with contextlib.aclosing(steps) as each:
                async for step in each:
                    await queue.put((pane, step))
        finally:
            await queue.put((pane, None))

    tasks = [asyncio.create_task(pump(i, steps)) for i, steps in runs.items()]
    try:
        alive = len(tasks)
        while alive:
            arrived = [await queue.get()]
            while not queue.empty():
                arrived.append(queue.get_nowait())
            moved: dict[int, Step] = {}
            for pane, step in arrived:
                if step is None:
                    alive -= 1
                else:
                    moved[pane] = step
            if moved:
                yield moved
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
