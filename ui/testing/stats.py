"""What a run says about each variant: the share of rated answers that were good, with a 95 %
confidence interval; why the bad ones were bad; how fast and how costly the answers were; which
errors the failed cells met. Pure: cells in (read once, as a stream), summaries out.

The interval. Cells that ask about the same image are not independent: a model that cannot read a
blurry receipt fails every question about it. Treating 20 questions on 2 images as 20 independent
answers would claim far more certainty than the run has. So the ratings are clustered by image:

- p = good / rated (the ratio estimator over images i with g_i good of n_i rated);
- its cluster-robust variance V_c = k/(k-1) · Σ (g_i − p·n_i)² / N²  (k images, N rated cells);
- the same formula with every cell its own cluster, V_1 = p(1−p)/(N−1), gives the design effect
  deff = V_c / V_1, floored at 1 (a run never claims more than its cells), and the effective
  number of independent answers n_eff = N / deff;
- the interval is Wilson's score interval for p with n_eff (Korn & Graubard's effective sample
  size, with Wilson's interval instead of Clopper–Pearson's).

Why this and not p ± 1.96·√V_c: Wilson's interval stays inside 0–100 %, is not a zero-width point
when every rating agrees, and is the textbook interval when no two cells share an image (deff = 1:
plain Wilson on N). Why not a bootstrap: the same answer on every run, no random seed, and no
resampling cost on a 5,000-cell run. The edge cases: nothing rated → no interval; every rating
good (or bad), where the design effect cannot be estimated → the cautious n_eff = k (each image
counts once, as if its cells always agreed); one image → n_eff = 1 (how other images would fare
cannot be told from one). n_eff never exceeds N.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ui.testing.cells import REASONS, Cell, Run

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    share: float  # good / rated
    low: float
    high: float
    effective_n: float  # the independent answers the clustered ratings are worth


def wilson(share: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion `share` of `n` (n may be fractional)."""
    if n <= 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clustered_interval(clusters: Iterable[tuple[int, int]], z: float = Z95) -> Interval | None:
    """The share of good ratings and its interval, from (good, rated) per image; None if none rated."""
    pairs = [(g, n) for g, n in clusters if n > 0]
    total = sum(n for _, n in pairs)
    if not total:
        return None
    good = sum(g for g, _ in pairs)
    share, k = good / total, len(pairs)
    if good in (0, total):  # every rating agrees: the correlation within an image is unknown
        n_eff = float(k)
    elif k == 1:
        n_eff = 1.0
    else:
        v_cluster = k / (k - 1) * sum((g - share * n) ** 2 for g, n in pairs) / total**2
        v_single = share * (1 - share) / (total - 1)
        n_eff = total / max(1.0, v_cluster / v_single)
    n_eff = min(n_eff, float(total))
    low, high = wilson(share, n_eff, z)
    return Interval(share, low, high, n_eff)


@dataclass
class Summary:
    """One variant's figures over the cells of a run."""

    variant: int
    label: str
    model: str
    cells: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    rated: int = 0
    good: int = 0
    bad: int = 0
    interval: Interval | None = None
    reasons: dict[str, int] = field(default_factory=dict)  # among the bad ratings, REASONS order
    errors: dict[str, int] = field(default_factory=dict)  # error key → failed cells, most first
    first_token_median: float | None = None
    total_median: float | None = None
    prompt_tokens: int = 0  # sums over the answers that reported usage
    completion_tokens: int = 0
    prompt_tokens_median: float | None = None
    completion_tokens_median: float | None = None


@dataclass
class _Tally:
    clusters: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    reasons: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first_token: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    prompt: list[int] = field(default_factory=list)
    completion: list[int] = field(default_factory=list)


def summarize(run: Run, cells: Iterable[Cell]) -> list[Summary]:
    """One Summary per variant of the run, in the run's order."""
    summaries = [Summary(i, v.name, v.choices.model) for i, v in enumerate(run.variants)]
    tallies = [_Tally() for _ in run.variants]
    for cell in cells:
        if not 0 <= cell.variant < len(summaries):
            continue
        s, t = summaries[cell.variant], tallies[cell.variant]
        s.cells += 1
        if cell.status == "done":
            s.done += 1
        elif cell.status == "failed":
            s.failed += 1
            t.errors[cell.error or "unknown"] += 1
        else:
            s.pending += 1
        record = cell.record
        if record is not None and cell.status == "done":
            _add_times(t, record.first_token_s, record.total_s, record.prompt_tokens,
                       record.completion_tokens)
        if cell.rating is not None and cell.rating.verdict in (1, -1):
            image = run.items[cell.row].image if 0 <= cell.row < len(run.items) else f"row {cell.row}"
            cluster = t.clusters[image]
            cluster[1] += 1
            if cell.rating.verdict > 0:
                cluster[0] += 1
            else:
                t.reasons.update(set(cell.rating.reasons))
    for s, t in zip(summaries, tallies, strict=True):
        _finish(s, t)
    return summaries


def _add_times(t: _Tally, first: float | None, total: float | None, prompt: int | None,
               completion: int | None) -> None:
    if first is not None:
        t.first_token.append(first)
    if total is not None:
        t.total.append(total)
    if prompt is not None:
        t.prompt.append(prompt)
    if completion is not None:
        t.completion.append(completion)


def _finish(s: Summary, t: _Tally) -> None:
    s.good = sum(g for g, _ in t.clusters.values())
    s.rated = sum(n for _, n in t.clusters.values())
    s.bad = s.rated - s.good
    s.interval = clustered_interval((g, n) for g, n in t.clusters.values())
    s.reasons = {r: t.reasons[r] for r in REASONS if t.reasons[r]}
    s.reasons.update({r: c for r, c in t.reasons.items() if r not in REASONS})
    s.errors = dict(t.errors.most_common())
    s.first_token_median = _median(t.first_token)
    s.total_median = _median(t.total)
    s.prompt_tokens, s.completion_tokens = sum(t.prompt), sum(t.completion)
    s.prompt_tokens_median = _median(t.prompt)
    s.completion_tokens_median = _median(t.completion)


def _median(values: list[float] | list[int]) -> float | None:
    return float(statistics.median(values)) if values else None
