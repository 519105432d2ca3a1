"""A ranking of models from side-by-side votes: a Bradley–Terry model fitted by maximum likelihood,
with 95 % intervals from a bootstrap over the votes (as LMArena computes its leaderboard), the
number of votes, and the share of wins of each model against each other.

A vote is (model A, model B, outcome): "a" or "b" (that one was better), "tie", or "both_bad".
Ties and "both bad" count half a win to each side, as FastChat's leaderboard does. Scores are on
the Elo scale: 400 · log10 of a model's strength, the models with FEW_VOTES or more averaging
1000 (a newcomer does not move the others), so a model 100 points above another is expected to
win 64 % of their votes. Work grows with the models, not the votes:
the votes are counted into a table of pairs once, and the bootstrap draws those counts again
(a multinomial draw over the table's cells is the same as drawing votes with replacement).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

OUTCOMES = ("a", "b", "tie", "both_bad")
SCALE, BASE = 400.0, 1000.0


# Fewer votes than this for a model: no interval and no rank. Resampling a handful of votes gives
# them all back, an interval of no width ("1264 (1264 – 1264)" reads as certainty), and such an
# interval would put the model above or below the others for sure; they are not ranked against it.
FEW_VOTES = 10


@dataclass(frozen=True)
class Standing:
    model: str
    score: float  # Elo scale
    low: float  # 95 % bootstrap interval
    high: float
    votes: int
    wins: float  # ties count half
    rank: int | None  # 1 + the models whose interval lies wholly above this one's; None: too few votes


def _table(votes: Iterable[tuple[str, str, str]]) -> tuple[list[str], np.ndarray]:
    """Models (sorted) and counts[i, j, k]: votes between models i < j with outcome k."""
    cells: dict[tuple[str, str, int], int] = {}
    for a, b, outcome in votes:
        if a == b or outcome not in OUTCOMES:
            continue
        k = OUTCOMES.index(outcome)
        if a > b:  # one orientation per pair: A's win is B's loss
            a, b, k = b, a, {0: 1, 1: 0}.get(k, k)
        cells[a, b, k] = cells.get((a, b, k), 0) + 1
    models = sorted({m for a, b, _ in cells for m in (a, b)})
    index = {m: i for i, m in enumerate(models)}
    counts = np.zeros((len(models), len(models), len(OUTCOMES)))
    for (a, b, k), n in cells.items():
        counts[index[a], index[b], k] = n
    return models, counts


def _wins(counts: np.ndarray) -> np.ndarray:
    """wins[..., i, j]: i's wins over j, ties and "both bad" half each."""
    half = (counts[..., 2] + counts[..., 3]) / 2
    upper = counts[..., 0] + half  # i < j: i won
    lower = counts[..., 1] + half  # i < j: j won
    return upper + np.swapaxes(lower, -1, -2)  # also for a stack of tables (the bootstrap's)


def fit(wins: np.ndarray, iterations: int = 200, tol: float = 1e-9) -> np.ndarray:
    """Bradley–Terry strengths by Hunter's MM algorithm (2004), as Elo-scale scores around 1000.

    A tiny prior (one tenth of a tie against every other model) keeps the fit finite for a model
    that won or lost everything, and keeps models with no common opponents comparable."""
    return fit_many(wins[None], iterations, tol)[0] if wins.shape[0] else np.zeros(0)


def fit_many(wins: np.ndarray, iterations: int = 200, tol: float = 1e-9) -> np.ndarray:
    """`fit` of many tables at once (wins[r, i, j]; scores[r, i]): the bootstrap's rounds in one
    array, so 200 rounds cost about what one does (bench/leaderboard.py: 190 → 10 ms)."""
    m = wins.shape[-1]
    w = wins + 0.05 * (1 - np.eye(m))
    games = w + np.swapaxes(w, -1, -2)
    total = w.sum(axis=-1)
    p = np.ones(wins.shape[:-1])
    for _ in range(iterations):
        denominator = (games / (p[..., :, None] + p[..., None, :])).sum(axis=-1)
        new = total / denominator
        new /= np.exp(np.log(new).mean(axis=-1, keepdims=True))
        done = np.max(np.abs(new - p)) < tol
        p = new
        if done:
            break
    scores = SCALE * np.log10(p)
    return BASE + scores - scores.mean(axis=-1, keepdims=True)


def standings(votes: Iterable[tuple[str, str, str]], rounds: int = 200,
              seed: int = 0) -> list[Standing]:
    """The leaderboard: best first, with bootstrap intervals (fixed seed: the same votes give
    the same page)."""
    models, counts = _table(votes)
    if not models:
        return []
    wins = _wins(counts)
    scores = fit(wins)
    flat = counts.ravel()
    n = int(flat.sum())
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, flat / n, size=rounds).reshape((rounds, *counts.shape)) if n and rounds \
        else counts[None]
    samples = fit_many(_wins(drawn))
    played = (counts.sum(axis=2) + counts.sum(axis=2).T).sum(axis=1)
    # The scale's zero is a convention; here the models with enough votes average 1000, in the fit
    # and in every bootstrap round. Centred on all models, a newcomer's one vote (its score swings
    # by hundreds between rounds) moved every score and widened every interval with it.
    anchors = played >= FEW_VOTES if (played >= FEW_VOTES).any() else played >= 0
    scores = scores - scores[anchors].mean() + BASE
    samples = samples - samples[:, anchors].mean(axis=1, keepdims=True) + BASE
    low, high = np.percentile(samples, 2.5, axis=0), np.percentile(samples, 97.5, axis=0)
    rows = [Standing(model, float(scores[i]), float(low[i]), float(high[i]), int(played[i]),
                     float(wins[i].sum()), 0) for i, model in enumerate(models)]
    rows.sort(key=lambda r: -r.score)
    ranked = [r for r in rows if r.votes >= FEW_VOTES]
    return [Standing(r.model, r.score, r.low, r.high, r.votes, r.wins,
                     1 + sum(o.low > r.high for o in ranked) if r.votes >= FEW_VOTES else None)
            for r in rows]


def win_rates(votes: Iterable[tuple[str, str, str]]) -> tuple[list[str], list[list[float | None]]]:
    """Models and share[i][j]: i's share of wins in its votes against j (None: never met)."""
    models, counts = _table(votes)
    wins = _wins(counts)
    games = wins + wins.T
    share = [[float(wins[i, j] / games[i, j]) if games[i, j] else None for j in range(len(models))]
             for i in range(len(models))]
    return models, share
