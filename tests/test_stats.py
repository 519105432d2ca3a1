"""A run's summary per variant (ui/testing/stats.py): the rated-good share with a 95 % interval
clustered by image, checked against textbook and hand-computed figures, and the counts, medians
and errors a tester reads in the report."""

from __future__ import annotations

import pytest

from ui.choices import Choices
from ui.records import AnswerRecord
from ui.testing.cells import Cell, Item, Rating, Run, Variant
from ui.testing.stats import Z95, clustered_interval, summarize, wilson


def test_wilson_matches_the_textbook() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857,
    # Table I, method 3 (score interval without continuity correction):
    # 81/263 → 0.2553 to 0.3662; 15/148 → 0.0624 to 0.1605; 0/20 → 0 to 0.1611.
    assert wilson(81 / 263, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson(15 / 148, 148) == pytest.approx((0.0624, 0.1605), abs=5e-5)
    assert wilson(0 / 20, 20) == pytest.approx((0.0, 0.1611), abs=5e-5)


def test_one_cell_per_image_is_plain_wilson() -> None:
    interval = clustered_interval([(1, 1)] * 81 + [(0, 1)] * 182)
    assert interval is not None
    assert (interval.low, interval.high) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert interval.effective_n == 263


def test_clustered_interval_by_hand() -> None:
    # Three images, two rated cells each: both good, both good, both bad. N = 6, k = 3, p = 4/6.
    # g_i - p*n_i = 2/3, 2/3, -4/3; squares sum to 8/3.
    # V_c = k/(k-1) * (8/3) / N^2 = 1.5 * 2.6667 / 36 = 0.11111
    # V_1 = p(1-p)/(N-1) = (2/9)/5 = 0.04444;  deff = 2.5;  n_eff = 6 / 2.5 = 2.4
    # Wilson(p = 0.66667, n = 2.4): z^2/n = 1.60065, centre = (0.66667 + 0.80032) / 2.60065 = 0.56408,
    # half = 1.95996 / 2.60065 * sqrt(0.22222/2.4 + 3.84146/23.04) = 0.75364 * 0.50924 = 0.38379
    # → 0.1803 to 0.9479 (plain Wilson on 6 independent cells: 0.3000 to 0.9032).
    interval = clustered_interval([(2, 2), (2, 2), (0, 2)])
    assert interval is not None
    assert interval.share == pytest.approx(4 / 6)
    assert interval.effective_n == pytest.approx(2.4)
    assert (interval.low, interval.high) == pytest.approx((0.1803, 0.9479), abs=5e-5)
    assert wilson(4 / 6, 6) == pytest.approx((0.3000, 0.9032), abs=5e-5)


def test_agreeing_ratings_within_an_image_widen_the_interval() -> None:
    # 12 good of 20 rated in both cases, 5 images of 4 cells each.
    agreeing = clustered_interval([(4, 4), (4, 4), (4, 4), (0, 4), (0, 4)])
    mixed = clustered_interval([(3, 4), (2, 4), (2, 4), (3, 4), (2, 4)])
    independent = wilson(12 / 20, 20)
    assert agreeing is not None and mixed is not None
    assert agreeing.share == mixed.share == 0.6
    assert agreeing.high - agreeing.low > (independent[1] - independent[0]) + 0.2
    assert (mixed.low, mixed.high) == pytest.approx(independent)  # deff ≤ 1 is floored at 1


@pytest.mark.parametrize(("clusters", "expected"), [
    ([], None),
    ([(0, 0)], None),  # an image with nothing rated yet
    ([(3, 3), (2, 2)], (1.0, 2.0, wilson(1.0, 2)[0], 1.0)),  # all good: each image counts once
    ([(0, 3), (0, 2), (0, 1)], (0.0, 3.0, 0.0, wilson(0.0, 3)[1])),  # all bad
    ([(3, 5)], (0.6, 1.0, wilson(0.6, 1)[0], wilson(0.6, 1)[1])),  # one image: one observation
])
def test_edge_cases(clusters: list[tuple[int, int]], expected: tuple[float, ...] | None) -> None:
    interval = clustered_interval(clusters)
    if expected is None:
        assert interval is None
    else:
        assert interval is not None
        assert (interval.share, interval.effective_n, interval.low, interval.high) == pytest.approx(expected)
        assert 0 <= interval.low <= interval.share <= interval.high <= 1


def test_z_is_the_two_sided_95_percent_quantile() -> None:
    from statistics import NormalDist

    assert NormalDist().inv_cdf(0.975) == pytest.approx(Z95)


# --- the summary -----------------------------------------------------------------------------------


def _run() -> Run:
    items = tuple(Item(f"img{i // 2}", f"{i // 2}.png", f"Q{i % 2}") for i in range(4))  # 2 images × 2
    variants = (Variant(Choices(model="glm-4.5v")), Variant(Choices(model="glm-4.5v", temperature=0), "cold"))
    return Run(1, "shop photos", "me", "2026-11-27T10:00:00Z", items, variants)


def _done(row: int, variant: int, verdict: int | None, reasons: tuple[str, ...] = (),
          ttft: float = 1.0, total: float = 4.0, tokens: tuple[int, int] = (1000, 100)) -> Cell:
    record = AnswerRecord("glm-4.5v", Choices(model="glm-4.5v"), tokens[0], tokens[1], ttft, total, "stop")
    rating = Rating(verdict, reasons) if verdict is not None else None
    return Cell(row * 2 + variant, 1, row, variant, "done", "answer", "", record, rating=rating)


def test_summary_per_variant() -> None:
    run = _run()
    cells = [
        _done(0, 0, 1, ttft=0.5, total=2.0), _done(1, 0, -1, ("misread_text", "wrong_count"), ttft=1.5),
        _done(2, 0, -1, ("misread_text",), ttft=2.5, total=6.0, tokens=(3000, 300)), _done(3, 0, None),
        _done(0, 1, 1), _done(1, 1, 1),
        Cell(6, 1, 2, 1, "failed", error="rate_limited", attempts=3),
        Cell(7, 1, 3, 1, "failed", error="bad_request", attempts=1),
        Cell(8, 1, 3, 1, "pending"),
    ]
    first, second = summarize(run, iter(cells))
    assert (first.label, first.cells, first.done, first.failed, first.rated, first.good, first.bad) == (
        "glm-4.5v", 4, 4, 0, 3, 1, 2)
    assert first.reasons == {"misread_text": 2, "wrong_count": 1}
    assert first.first_token_median == 1.25 and first.total_median == 4.0
    assert (first.prompt_tokens, first.completion_tokens) == (6000, 600)
    assert (first.prompt_tokens_median, first.completion_tokens_median) == (1000, 100)
    assert first.interval is not None and first.interval.share == pytest.approx(1 / 3)
    assert (second.label, second.done, second.failed, second.pending, second.rated) == ("cold", 2, 2, 1, 2)
    assert second.errors == {"rate_limited": 1, "bad_request": 1}
    # Both good ratings are about image 0: one image's worth of evidence, not two.
    assert second.interval is not None and second.interval.effective_n == 1.0


def test_nothing_rated_or_answered_yet() -> None:
    run = _run()
    [first, second] = summarize(run, [Cell(0, 1, 0, 0)])
    assert first.interval is None and first.pending == 1 and first.first_token_median is None
    assert second.cells == 0 and second.interval is None and second.reasons == {}
