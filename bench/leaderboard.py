"""The Leaderboard's server time (issue 17: ≤ 1 s for 10,000 votes): 10,000 votes among 8 models
in a store (SQLite; PostgreSQL too with GLM_TEST_DATABASE_URL), then the page's data as its
handler makes it: the votes read (store.outcomes), the Bradley–Terry standings with 200 bootstrap
rounds, the win-rate matrix and the reasons by model (board.build), and the three tables as HTML.
Also the votes CSV of all 10,000 (a download, for scale). Prints medians; writes nothing.

    .venv/bin/python bench/leaderboard.py
    GLM_TEST_DATABASE_URL=postgresql://glm:glm@127.0.0.1:5432/postgres .venv/bin/python bench/leaderboard.py
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.store import each_store
from ui.choices import Choices
from ui.page.leaderboard import Filters, LeaderboardPage
from ui.store import Store
from ui.testing import board_html
from ui.testing.board import build
from ui.testing.board_exports import export
from ui.testing.cells import REASONS
from ui.testing.votes import Vote

VOTES = 10_000
MODELS = {"glm-4.5v": 6.0, "glm-4.6v": 5.0, "GLM-4V-Plus": 3.0, "glm-4.1v-thinking-flash": 2.5,
          "glm-4v-plus-0111": 2.0, "GLM-4V": 1.5, "glm-4.6v-flash": 1.2, "glm-4v-flash": 1.0}
ANSWER = "A shelf with 12 red cups and 3 blue plates; the label reads 'SALE 30%'. " * 8  # ~600 chars
TEAM = [f"user:member{i}" for i in range(20)]


def fill(store: Store) -> float:
    """VOTES votes by 20 team members and one browser, 80 % blind, in three test sets or none;
    the seconds it took."""
    rng = random.Random(17)
    names = list(MODELS)
    start = time.perf_counter()
    for n in range(VOTES):
        a, b = rng.sample(names, 2)
        p = MODELS[a] / (MODELS[a] + MODELS[b])
        roll = rng.random()
        outcome = "tie" if roll < .08 else "both_bad" if roll < .12 else "a" if rng.random() < p else "b"
        reasons = tuple(rng.sample(REASONS, rng.randint(0, 2))) if outcome != "tie" else ()
        owner = "browser:bench" if n % 10 == 0 else rng.choice(TEAM)
        store.add_vote(Vote(a, b, outcome, Choices(model=a), Choices(model=b), "What is on the shelf?",
                            ((f"shelf{n % 500}.jpg", f"{n % 500:064x}"),), ANSWER, ANSWER,
                            rng.random() < .8, reasons, "", owner, owner.removeprefix("user:"),
                            f"2026-{1 + n % 11:02d}-{1 + n % 28:02d}T10:00:00Z",
                            rng.choice(["", "", "receipts", "shelves", "charts"])))
    return time.perf_counter() - start


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Medians of `repeats` calls, in ms: wall time, and this process's CPU time (on a shared
    machine the wall time also holds the time other processes had the cores)."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def page_data(page: LeaderboardPage, viewer: str, filters: Filters) -> int:
    """What the page's `show` computes (less gradio): the board and its three tables."""
    board = page.board(viewer, filters)
    html = board_html.ranking(board, "en") + board_html.matrix(board, "en") + board_html.reasons(board, "en")
    return board.votes + len(html)


def measure(name: str, store: Store, folder: Path, repeats: int) -> None:
    print(f"\n{name}: {VOTES:,} votes stored in {fill(store):.1f} s")
    page = LeaderboardPage(store)
    cases = [("team, blind only (default)", "user:member0", Filters(True, None, None, "all", "en")),
             ("team, every vote", "user:member0", Filters(False, None, None, "all", "en")),
             ("team, one test set", "user:member0", Filters(True, None, None, "set:receipts", "en")),
             ("team, three months", "user:member0", Filters(True, "2026-03-01", "2026-05-31", "all", "en")),
             ("one browser's own", "browser:bench", Filters(True, None, None, "all", "en"))]
    print(f"{'page data (ms, wall / CPU)':30} {'votes':>6} {'read':>11} {'board':>11} "
          f"{'tables':>7} {'total':>11}")
    for label, viewer, filters in cases:
        outcomes = page._outcomes(viewer, filters)
        read = timed(lambda v=viewer, f=filters: page._outcomes(v, f), repeats)
        board = build(outcomes, viewer, filters.test_set)
        fit = timed(lambda o=outcomes, v=viewer, f=filters: build(o, v, f.test_set), repeats)
        tables = timed(lambda b=board: (board_html.ranking(b, "en"), board_html.matrix(b, "en"),
                                        board_html.reasons(b, "en")), repeats)
        total = timed(lambda v=viewer, f=filters: page_data(page, v, f), repeats)
        print(f"{label:30} {board.votes:6,} {read[0]:4.0f} / {read[1]:4.0f} {fit[0]:4.0f} / {fit[1]:4.0f} "
              f"{tables[1]:7.1f} {total[0]:4.0f} / {total[1]:4.0f}")
    every = Filters(False, None, None, "all", "en")
    out = folder / "votes.csv"
    wall, cpu = timed(lambda: export(out, "votes", page.votes("user:member0", every), "en"), 3)
    print(f"votes CSV of all {VOTES:,} votes: {wall:.0f} ms wall, {cpu:.0f} ms CPU, "
          f"{out.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    repeats = int(os.environ.get("BENCH_REPEATS", "7"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        for label, store in each_store(Path(folder)):
            measure(label, store, Path(folder), repeats)


if __name__ == "__main__":
    main()
