"""Calibration math: cut points from a target tier mix or a quality/cost goal, and drift tracking.

Pure functions over arrays (no I/O, no config), so `tierwise calibrate`, the benchmarks and the
server (live mix vs target, see :class:`MixTracker`) share one implementation. Thresholds follow
the ladder's rule: tier = number of cut points <= complexity (`bisect_right`).
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class CalibrationError(ValueError):
    pass


def parse_mix(text: str, tiers: Sequence[str]) -> list[float]:
    """'haiku=0.3,sonnet=0.5,opus=0.2' -> shares in tier order (normalised; missing tiers 0)."""
    shares = dict.fromkeys(tiers, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise CalibrationError(f"target {part!r}: expected TIER=SHARE, e.g. haiku=0.3")
        if name not in shares:
            raise CalibrationError(
                f"target tier {name!r} is not in the config; tiers: {list(tiers)}"
            )
        try:
            shares[name] = float(value)
        except ValueError:
            raise CalibrationError(f"target {part!r}: {value!r} is not a number") from None
        if shares[name] < 0:
            raise CalibrationError(f"target {part!r}: shares must be >= 0")
    total = sum(shares.values())
    if total <= 0:
        raise CalibrationError("target shares sum to 0; give at least one positive share")
    return [shares[t] / total for t in tiers]


def tiers_for(complexity: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Tier index per prompt, exactly as TierLadder.index_for decides it."""
    return np.searchsorted(np.asarray(thresholds, dtype=np.float64), complexity, side="right")


def mix_for_thresholds(
    complexity: np.ndarray, thresholds: Sequence[float], n_tiers: int | None = None
) -> list[float]:
    """Share of prompts per tier under `thresholds`."""
    n = n_tiers or len(thresholds) + 1
    counts = np.bincount(tiers_for(np.asarray(complexity), thresholds), minlength=n)
    return (counts / max(len(complexity), 1)).tolist()


def thresholds_for_mix(complexity: np.ndarray, shares: Sequence[float]) -> list[float]:
    """N-1 cut points that split `complexity` into the target shares (quantiles).

    Each cut sits midway between the two sorted complexities at the boundary, so ties are the
    only reason to miss the mix (a block of identical scores cannot be split).
    """
    c = np.sort(np.asarray(complexity, dtype=np.float64))
    n = len(c)
    if n == 0:
        raise CalibrationError("no prompts to calibrate on")
    cum = np.cumsum(np.asarray(shares, dtype=np.float64))[:-1] / float(np.sum(shares))
    cuts = []
    for q in cum:
        j = round(q * n)
        if j <= 0:  # nobody below this cut
            t = c[0] / 2 if c[0] > 0 else 0.0
        elif j >= n:  # everybody below this cut
            t = (c[-1] + 1.0) / 2 if c[-1] < 1.0 else 1.0
        else:
            t = (c[j - 1] + c[j]) / 2
        cuts.append(float(min(max(t, 0.0), 1.0)))
    return list(np.maximum.accumulate(cuts))


@dataclass(frozen=True, slots=True)
class Tradeoff:
    thresholds: list[float]
    quality: float  # mean score
    cost: float  # mean cost per prompt
    quality_ratio: float  # quality / strongest tier's quality
    cost_ratio: float  # cost / strongest tier's cost
    mix: list[float]


def _sweep(
    complexity: np.ndarray, scores: np.ndarray, costs: np.ndarray, steps: int
) -> list[Tradeoff]:
    n_tiers = scores.shape[1]
    rows = np.arange(len(complexity))
    top_q, top_c = scores[:, -1].mean(), costs[:, -1].mean()
    grid = np.unique(np.quantile(complexity, np.linspace(0, 1, steps)[1:-1]))
    grid = np.concatenate([[0.0], grid, [1.0 + 1e-9]])
    out = []
    for cuts in itertools.combinations_with_replacement(grid, n_tiers - 1):
        tier = tiers_for(complexity, cuts)
        q, c = scores[rows, tier].mean(), costs[rows, tier].mean()
        mix = (np.bincount(tier, minlength=n_tiers) / len(tier)).tolist()
        th = [float(min(x, 1.0)) for x in cuts]
        out.append(Tradeoff(th, float(q), float(c), float(q / top_q) if top_q else 1.0,
                            float(c / top_c) if top_c else 0.0, mix))
    return out


def best_tradeoff(
    complexity: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    *,
    quality_floor: float | None = None,
    max_cost_ratio: float | None = None,
    steps: int = 41,
) -> Tradeoff:
    """Cut points from labelled data: the cheapest setting whose quality is at least
    `quality_floor` x the strongest tier's, or the best quality within `max_cost_ratio` x the
    strongest tier's cost. `scores`/`costs` are (n, N) per prompt and tier, cheapest tier first."""
    if (quality_floor is None) == (max_cost_ratio is None):
        raise CalibrationError("give exactly one of quality_floor and max_cost_ratio")
    options = _sweep(np.asarray(complexity, dtype=np.float64), scores, costs, steps)
    if quality_floor is not None:
        ok = [o for o in options if o.quality_ratio >= quality_floor - 1e-12]
        if not ok:
            raise CalibrationError(f"no cut points reach {quality_floor:.0%} of the strongest tier")
        return min(ok, key=lambda o: (o.cost, -o.quality))
    ok = [o for o in options if o.cost_ratio <= (max_cost_ratio or 0.0) + 1e-12]
    if not ok:
        raise CalibrationError(f"no cut points keep the cost within {max_cost_ratio:.0%}")
    return max(ok, key=lambda o: (o.quality, -o.cost))


def index_for(thresholds: Sequence[float], complexity: float) -> int:
    """Scalar twin of tiers_for (same rule as TierLadder.index_for)."""
    return bisect_right(list(thresholds), complexity)
