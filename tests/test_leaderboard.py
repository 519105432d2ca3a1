"""ui/testing/leaderboard.py: the Bradley–Terry fit and its bootstrap intervals on known cases."""

from __future__ import annotations

import math

import pytest

from ui.testing.leaderboard import standings, win_rates


def votes_for(strengths: dict[str, float], per_pair: int) -> list[tuple[str, str, str]]:
    """Votes whose win counts are exactly what the strengths predict (p_i / (p_i + p_j))."""
    names = list(strengths)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            won = round(per_pair * strengths[a] / (strengths[a] + strengths[b]))
            out += [(a, b, "a")] * won + [(a, b, "b")] * (per_pair - won)
    return out


def test_two_models_three_to_one_are_400_log10_3_apart():
    rows = standings([("A", "B", "a")] * 300 + [("A", "B", "b")] * 100)
    a, b = rows
    assert (a.model, b.model) == ("A", "B")
    assert a.score - b.score == pytest.approx(400 * math.log10(3), abs=0.5)  # 190.8
    assert (a.score + b.score) / 2 == pytest.approx(1000)
    assert (a.votes, b.votes, a.wins, b.wins) == (400, 400, 300, 100)


def test_known_strengths_are_recovered_in_order():
    rows = standings(votes_for({"C": 1, "A": 4, "B": 2}, 1000))
    assert [r.model for r in rows] == ["A", "B", "C"]
    gap = 400 * math.log10(2)  # 120.4 between strengths 4, 2 and 1
    assert rows[0].score - rows[1].score == pytest.approx(gap, abs=1.0)
    assert rows[1].score - rows[2].score == pytest.approx(gap, abs=1.0)
    assert [r.rank for r in rows] == [1, 2, 3]  # the intervals do not overlap


def test_intervals_hold_the_estimate_and_narrow_with_more_votes():
    few = standings(votes_for({"A": 3, "B": 2}, 40))
    many = standings(votes_for({"A": 3, "B": 2}, 4000))
    for rows in (few, many):
        for r in rows:
            assert r.low <= r.score <= r.high
    width = lambda rows: rows[0].high - rows[0].low  # noqa: E731
    assert width(many) < width(few) / 5  # ~ 1/sqrt(100) of it
    assert few[0].rank == few[1].rank == 1  # 40 votes cannot tell them apart


def test_a_model_with_too_few_votes_is_not_ranked_and_does_not_rank_the_others():
    """Its bootstrap interval has no width: ranked by it, a newcomer with one lucky vote would sit
    wholly above the models that have hundreds."""
    settled = {r.model: r for r in standings(votes_for({"A": 4, "B": 2}, 400))}
    rows = {r.model: r for r in standings([*votes_for({"A": 4, "B": 2}, 400), ("New", "B", "a")])}
    assert rows["New"].rank is None and rows["New"].votes == 1
    assert (rows["A"].rank, rows["B"].rank) == (1, 2)
    for m in "AB":  # nor does it move their scores or widen their intervals
        assert rows[m].score == pytest.approx(settled[m].score, abs=1)
        assert rows[m].high - rows[m].low < 1.1 * (settled[m].high - settled[m].low)


def test_ties_and_both_bad_count_half_and_either_orientation_is_the_same_vote():
    halves = standings([("A", "B", "a")] * 50 + [("A", "B", "tie")] * 30 + [("B", "A", "both_bad")] * 20)
    plain = standings([("A", "B", "a")] * 75 + [("B", "A", "a")] * 25)
    assert [round(r.score, 6) for r in halves] == [round(r.score, 6) for r in plain]
    flipped = standings([("B", "A", "b")] * 75 + [("B", "A", "a")] * 25)
    assert [round(r.score, 6) for r in flipped] == [round(r.score, 6) for r in plain]


def test_a_model_that_won_every_vote_stays_finite_and_self_votes_are_ignored():
    rows = standings([("A", "B", "a")] * 20 + [("A", "A", "a")] * 5 + [("A", "B", "nonsense")])
    assert all(math.isfinite(v) for r in rows for v in (r.score, r.low, r.high))
    assert rows[0].model == "A" and rows[0].votes == 20


def test_the_same_votes_give_the_same_page_and_win_rates_say_who_beat_whom():
    votes = votes_for({"A": 3, "B": 2, "C": 1}, 50)
    assert standings(votes) == standings(votes)
    models, share = win_rates(votes)
    assert models == ["A", "B", "C"]
    assert share[0][1] == pytest.approx(0.6) and share[1][0] == pytest.approx(0.4)
    assert share[0][0] is None
    assert standings([]) == []


def test_the_bootstrap_s_rounds_fitted_together_are_each_the_fit_of_its_own_table():
    import numpy as np

    from ui.testing.leaderboard import fit, fit_many

    rng = np.random.default_rng(3)
    tables = rng.integers(0, 40, size=(25, 4, 4)).astype(float) * (1 - np.eye(4))
    tables[0] = 0  # no votes at all in one round
    tables[1, 0, :] = 0  # a model that never won
    together = fit_many(tables)
    for table, row in zip(tables, together, strict=True):
        assert row == pytest.approx(fit(table), abs=1e-5)
