"""Small cost-quality metrics used by the training report and benchmarks/bench_learned.py.

APGR and CPT follow RouteLLM: send the `x` most complex share of prompts to the strong model,
measure the share of the weak->strong quality gap recovered, average over x. The N-tier
`frontier_position` sweeps all cut-point pairs and places the router's cost-quality frontier
between random mixing of the tiers (0) and the per-prompt oracle (1).
"""

from __future__ import annotations

import itertools

import numpy as np

GRID = 101


def _pgr_curve(complexity: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Quality when the top-x share (x on a 0..1 grid) by complexity goes to the strong model."""
    n = len(complexity)
    order = np.argsort(-complexity, kind="stable")
    gain = (strong - weak)[order]
    # ties in complexity: average the gain within each tie group so order inside it is moot
    c = complexity[order]
    _, start, counts = np.unique(-c, return_index=True, return_counts=True)
    for s, k in zip(start, counts):
        if k > 1:
            gain[s : s + k] = gain[s : s + k].mean()
    cum = np.concatenate([[0.0], np.cumsum(gain)])
    xs = np.linspace(0, 1, GRID) * n
    lo = np.floor(xs).astype(int)
    frac = xs - lo
    hi = np.minimum(lo + 1, n)
    return weak.sum() + cum[lo] + frac * (cum[hi] - cum[lo])


def apgr(complexity: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> float:
    """Average performance gap recovered (random = 0.5 in expectation, oracle near 1)."""
    q = _pgr_curve(complexity, weak, strong)
    gap = strong.sum() - weak.sum()
    if abs(gap) < 1e-12:
        return float("nan")
    pgr = (q - weak.sum()) / gap
    return float(np.trapezoid(pgr, dx=1.0 / (GRID - 1)))


def cpt(complexity: np.ndarray, weak: np.ndarray, strong: np.ndarray, target: float) -> float:
    """Smallest share of strong calls that recovers `target` of the gap (1.0 if never)."""
    q = _pgr_curve(complexity, weak, strong)
    gap = strong.sum() - weak.sum()
    pgr = (q - weak.sum()) / gap if abs(gap) > 1e-12 else np.ones_like(q)
    hit = np.nonzero(pgr >= target - 1e-12)[0]
    return float(hit[0] / (GRID - 1)) if len(hit) else 1.0


def _upper_hull(cost: np.ndarray, qual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concave upper envelope of (cost, quality) points: what mixing two settings can reach."""
    order = np.lexsort((-qual, cost))
    hull: list[tuple[float, float]] = []
    for c, q in zip(cost[order], qual[order]):
        if hull and q <= hull[-1][1]:
            continue
        while len(hull) >= 2:
            (c1, q1), (c2, q2) = hull[-2], hull[-1]
            if (q2 - q1) * (c - c1) <= (q - q1) * (c2 - c1):
                hull.pop()
            else:
                break
        hull.append((float(c), float(q)))
    h = np.asarray(hull)
    return h[:, 0], h[:, 1]


def _area(hc: np.ndarray, hq: np.ndarray, lo: float, hi: float) -> float:
    xs = np.linspace(lo, hi, 400)
    ys = np.interp(xs, hc, hq, left=np.nan, right=hq[-1])
    ys = np.where(np.isnan(ys), hq[0], ys)
    return float(np.trapezoid(ys, xs))


def threshold_points(
    complexity: np.ndarray, scores: np.ndarray, costs: np.ndarray, steps: int = 26
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (cost, quality) for every cut-point tuple on a quantile grid of `complexity`."""
    n_tiers = scores.shape[1]
    grid = np.quantile(complexity, np.linspace(0, 1, steps))
    grid = np.concatenate([[-np.inf], grid[1:-1], [np.inf]])
    cs, qs = [], []
    rows = np.arange(len(complexity))
    for cuts in itertools.combinations_with_replacement(grid, n_tiers - 1):
        tier = np.searchsorted(np.asarray(cuts), complexity, side="right")
        cs.append(costs[rows, tier].mean())
        qs.append(scores[rows, tier].mean())
    return np.asarray(cs), np.asarray(qs)


def oracle_points(scores: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt best trade-off for a sweep of cost weights (Lagrangian oracle)."""
    scale = costs.mean()
    cs, qs = [], []
    rows = np.arange(len(scores))
    for lam in np.concatenate([[0.0], np.geomspace(1e-4, 1e4, 200)]):
        util = scores - lam * costs / scale - 1e-9 * costs / scale
        tier = util.argmax(axis=1)
        cs.append(costs[rows, tier].mean())
        qs.append(scores[rows, tier].mean())
    return np.asarray(cs), np.asarray(qs)


def frontier_position(complexity: np.ndarray, scores: np.ndarray, costs: np.ndarray) -> float:
    """Area under the router's frontier placed between random mixing (0) and the oracle (1),
    over the cost range from all-cheapest to all-strongest."""
    lo, hi = costs[:, 0].mean(), costs[:, -1].mean()
    single_c, single_q = costs.mean(axis=0), scores.mean(axis=0)
    rc, rq = threshold_points(complexity, scores, costs)
    oc, oq = oracle_points(scores, costs)
    a_rand = _area(*_upper_hull(single_c, single_q), lo, hi)
    a_router = _area(*_upper_hull(np.r_[rc, single_c], np.r_[rq, single_q]), lo, hi)
    a_orc = _area(*_upper_hull(np.r_[oc, single_c], np.r_[oq, single_q]), lo, hi)
    if a_orc - a_rand < 1e-12:
        return float("nan")
    return (a_router - a_rand) / (a_orc - a_rand)


def cost_at_quality(
    complexity: np.ndarray, scores: np.ndarray, costs: np.ndarray, share: float = 0.95
) -> float:
    """Cheapest mean cost, relative to all-strongest, reaching `share` of the strongest
    tier's mean quality (NaN when no cut points reach it)."""
    target = share * scores[:, -1].mean()
    c, q = threshold_points(complexity, scores, costs)
    ok = q >= target - 1e-12
    if not ok.any():
        return float("nan")
    return float(c[ok].min() / costs[:, -1].mean())
