"""The store's share of a large test run (issue 16), on SQLite and, with GLM_TEST_DATABASE_URL, on
PostgreSQL: create a 5,000-cell run, save every answer from 16 threads, read pages of results and
every cell, all beside the same for a 50-cell run. Prints medians and ratios; writes nothing.

    .venv/bin/python bench/store.py
    GLM_TEST_DATABASE_URL=postgresql://glm:glm@127.0.0.1:5432/postgres .venv/bin/python bench/store.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui.choices import Choices
from ui.records import AnswerRecord
from ui.store import CellFilter, Store, open_store
from ui.testing.cells import Item, Rating, Variant

ANSWER = "A shelf with 12 red cups and 3 blue plates; the label reads 'SALE 30%'. " * 8  # ~600 chars
RECORD = AnswerRecord("glm-4.6v", Choices(model="glm-4.6v"), 812, 150, 0.4, 1.7, "stop", None,
                      "2026-11-27T10:00:00Z")
VARIANTS = [Variant(Choices(model="glm-4.6v")), Variant(Choices(model="glm-4v-flash"))]


def median_ms(fn: Callable[[], object], repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def fill(store: Store, cells: int) -> tuple[int, float, float]:
    """A run of `cells` cells, every answer saved from 16 threads, a tenth rated: its id, the
    seconds create_run took and the answers saved per second."""
    items = [Item(f"{i:064x}", f"img{i}.jpg", "What is on the shelf?") for i in range(cells // 2)]
    start = time.perf_counter()
    run = store.create_run("bench", "bench", items, VARIANTS)
    created = time.perf_counter() - start
    todo = store.todo(run.id)
    start = time.perf_counter()

    def work(mine: list) -> None:
        for cell in mine:
            store.save_answer(cell.id, ANSWER, "", RECORD)

    threads = [threading.Thread(target=work, args=(todo[i::16],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = len(todo) / (time.perf_counter() - start)
    for cell in todo[::10]:
        store.rate(cell.id, Rating(-1, ("wrong_count",)))
    return run.id, created, rate


def measure(name: str, store: Store) -> None:
    small, _, _ = fill(store, 50)
    large, created, rate = fill(store, 5000)
    print(f"\n{name}: create_run(5000 cells) {created * 1000:.0f} ms; save_answer from 16 threads "
          f"{rate:.0f} answers/s")
    rows = [
        ("first page (50 cells)", lambda r: store.cells(r, limit=50)),
        ("last page", lambda r: store.cells(r, offset=store.count(r) - 50, limit=50)),
        ("👎 filter, first page", lambda r: store.cells(r, CellFilter(verdict=-1), limit=50)),
        ("count of the filter", lambda r: store.count(r, CellFilter(verdict=-1))),
        ("runs() list", lambda r: store.runs()),
    ]
    print(f"{'':28} {'50 cells':>10} {'5000 cells':>11} {'ratio':>6}")
    for label, fn in rows:
        a, b = median_ms(lambda fn=fn: fn(small)), median_ms(lambda fn=fn: fn(large))
        print(f"{label:28} {a:8.2f} ms {b:8.2f} ms {b / a:6.2f}")
    whole = median_ms(lambda: sum(1 for _ in store.each_cell(large)), repeats=3)
    print(f"each_cell over 5000 cells     {whole:.0f} ms")


def each_store(folder: Path) -> Iterator[tuple[str, Store]]:
    """A fresh SQLite store in `folder`, then, with GLM_TEST_DATABASE_URL, one in a scratch
    PostgreSQL database of that server (dropped after); each closed after its turn."""
    store = open_store(folder, None)
    try:
        yield "SQLite", store
    finally:
        store.close()
    admin = os.environ.get("GLM_TEST_DATABASE_URL", "")
    if not admin:
        print("\nPostgreSQL: set GLM_TEST_DATABASE_URL to measure it too")
        return
    import psycopg

    name = f"glm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        store = open_store(folder, urlunsplit(urlsplit(admin)._replace(path=f"/{name}")))
        try:
            yield "PostgreSQL", store
        finally:
            store.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for label, store in each_store(Path(folder)):
            measure(label, store)


if __name__ == "__main__":
    main()
