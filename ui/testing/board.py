"""The Leaderboard page's view model, without gradio: which votes a viewer may count, and from
them the ranking (Bradley–Terry with bootstrap intervals, ui/testing/leaderboard.py), the win-rate
matrix model × model and the reasons given against each model. The page's HTML is
ui/testing/board_html.py; the downloads ui/testing/board_exports.py.

A vote's reasons count against the model that lost it; for "both bad" against both, and for a tie
(no loser) against both too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from ui.testing.leaderboard import Standing, standings
from ui.testing.votes import OUTCOMES, Outcome

CLI = "cli"  # runs of `glm-vision-chat batch`: the operator's, on every viewer's pages
TEAM = "user:"  # owners signed in with GLM_USERS
ROUNDS = 200  # bootstrap rounds of the intervals


def sees(owner: str, viewer: str) -> bool:
    """Whether what `owner` made (a vote, a run) counts for `viewer`: their own, the operator's
    command-line runs, and with sign-in every signed-in team member's."""
    return owner in (viewer, CLI) or (viewer.startswith(TEAM) and owner.startswith(TEAM))


@dataclass(frozen=True)
class Pair:
    """The row model's record against the column model: its share of wins (ties half)."""

    share: float
    wins: float
    votes: int


@dataclass(frozen=True)
class Board:
    """Everything the page shows for one viewer and one set of filters."""

    votes: int  # counted (after every filter)
    standings: tuple[Standing, ...]  # best first
    matrix: tuple[tuple[Pair | None, ...], ...]  # rows and columns in the standings' order
    reasons: tuple[tuple[str, dict[str, int]], ...]  # (model, reason → count), standings' order
    test_sets: tuple[str, ...]  # the test sets among the viewer's votes (before that filter)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(s.model for s in self.standings)


def build(outcomes: Iterable[Outcome], viewer: str, test_set: str | None = None,
          rounds: int = ROUNDS) -> Board:
    """The board of the votes `viewer` may see, of one test set if given ("" = asked on the
    Compare page, not from a test set)."""
    mine = [o for o in outcomes if sees(o.owner, viewer) and o.outcome in OUTCOMES
            and o.model_a != o.model_b]
    sets = tuple(sorted({o.test_set for o in mine}))
    counted = mine if test_set is None else [o for o in mine if o.test_set == test_set]
    rows = tuple(standings([(o.model_a, o.model_b, o.outcome) for o in counted], rounds=rounds))
    order = {s.model: i for i, s in enumerate(rows)}
    size = len(rows)
    wins = [[0.0] * size for _ in range(size)]
    met = [[0] * size for _ in range(size)]
    against: list[dict[str, int]] = [{} for _ in range(size)]
    for o in counted:
        a, b = order[o.model_a], order[o.model_b]
        met[a][b] += 1
        met[b][a] += 1
        won = 1.0 if o.outcome == "a" else 0.0 if o.outcome == "b" else 0.5
        wins[a][b] += won
        wins[b][a] += 1.0 - won
        losers = (b,) if o.outcome == "a" else (a,) if o.outcome == "b" else (a, b)
        for loser in losers:
            for reason in o.reasons:
                against[loser][reason] = against[loser].get(reason, 0) + 1
    matrix = tuple(tuple(Pair(wins[i][j] / met[i][j], wins[i][j], met[i][j]) if met[i][j] else None
                         for j in range(size)) for i in range(size))
    reasons = tuple((s.model, against[i]) for i, s in enumerate(rows))
    return Board(len(counted), rows, matrix, reasons, sets)


class BadDate(ValueError):
    """A date filter that is not a date: .which is "from" or "to"."""

    def __init__(self, which: str, value: str) -> None:
        super().__init__(f"{which}: {value!r}")
        self.which, self.value = which, value


def period(since: str | float | None, until: str | float | None) -> tuple[str, str]:
    """The date filters (YYYY-MM-DD, both days included, UTC; a time after the day is ignored)
    as the store's bounds since ≤ at < until; "" where none was given."""
    start, end = _day(since, "from"), _day(until, "to")
    if start and end and end < start:
        start, end = end, start  # from and to swapped: the reader meant the days between
    return (start.isoformat() if start else "",
            (end + dt.timedelta(days=1)).isoformat() if end else "")


def _day(value: str | float | None, which: str) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise BadDate(which, str(value))
    if isinstance(value, int | float):  # a timestamp, as gr.DateTime may send it
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC).date()
        except (OverflowError, OSError, ValueError):
            raise BadDate(which, str(value)) from None
    if not isinstance(value, str):
        raise BadDate(which, repr(value))
    text = value.strip()
    if len(text) > 10 and text[10] not in " T":  # "2026-11-27 00:00:00" is a day; "2026-11-270" not
        raise BadDate(which, text[:40])
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise BadDate(which, text[:40]) from None
