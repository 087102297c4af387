"""Cost-quality metrics of a router: pure numpy over per-item arrays.

Inputs: `scores` (n, T) in [0, 1], `costs` (n, T) in USD, `complexity` (n,), tiers cheapest
first; higher complexity means a stronger tier. Ties in complexity are resolved in expectation
(as if broken uniformly at random): tied items share their block's mean score and cost, so a
router that cannot tell items apart measures exactly like random mixing.

Two tiers follow RouteLLM (PGR, APGR, CPT); any number of tiers uses cost-quality frontiers
(upper concave hulls: any point on a hull is reachable by mixing two settings at random).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------- helpers


def tie_averaged(values: np.ndarray, complexity: np.ndarray,
                 descending: bool = False) -> np.ndarray:
    """`values` rows sorted by complexity, each tied block replaced by its mean.

    The mean of a tied block is the expected value of any prefix of it under random tie-breaking,
    which is what makes a constant router equal to random mixing.
    """
    key = -complexity if descending else complexity
    order = np.argsort(key, kind="stable")
    c = key[order]
    v = values[order].astype(np.float64)
    n = len(c)
    if n == 0:
        return v
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    counts = np.diff(np.r_[starts, n])
    sums = np.add.reduceat(v, starts, axis=0)
    means = sums / (counts[:, None] if v.ndim == 2 else counts)
    return np.repeat(means, counts, axis=0)


def min_x_reaching(x: np.ndarray, y: np.ndarray, target: float) -> float | None:
    """Smallest x on the piecewise-linear path (x[i], y[i]) where y >= target; None if never.

    Works on paths whose x is not monotone (a cost axis can step back when a strong model is
    cheaper on some item); on a monotone path it is the first crossing.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    eps = 1e-12
    hit = y >= target - eps
    candidates = list(x[hit])
    y0, y1, x0, x1 = y[:-1], y[1:], x[:-1], x[1:]
    cross = (y0 < target - eps) != (y1 < target - eps)
    if cross.any():
        t = (target - y0[cross]) / (y1[cross] - y0[cross])
        candidates.extend(x0[cross] + t * (x1[cross] - x0[cross]))
    return float(min(candidates)) if candidates else None


def trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Signed trapezoid area along a path (numpy renamed trapz; this works on every version)."""
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


# --------------------------------------------------------------------------- two tiers


@dataclass(frozen=True, slots=True)
class Curve:
    """A routing path: share of calls to the strong tier, mean cost and mean quality per item."""

    calls: np.ndarray
    cost: np.ndarray
    quality: np.ndarray


def threshold_curve(scores: np.ndarray, costs: np.ndarray, complexity: np.ndarray) -> Curve:
    """Send the top-m complexity items to the strong tier, for every m in 0..n (ties fair)."""
    n = len(complexity)
    diff = np.stack([scores[:, 1] - scores[:, 0], costs[:, 1] - costs[:, 0]], axis=1)
    steps = tie_averaged(diff, complexity, descending=True)
    cum = np.vstack([np.zeros((1, 2)), np.cumsum(steps, axis=0)]) / n
    return Curve(
        calls=np.arange(n + 1) / n,
        cost=costs[:, 0].mean() + cum[:, 1],
        quality=scores[:, 0].mean() + cum[:, 0],
    )


def oracle_calls_curve(scores: np.ndarray, costs: np.ndarray) -> Curve:
    """The oracle within a budget of strong calls: strong only where it beats weak, best first.

    Past the last item where strong wins, extra budget is left unused (quality stays flat), as in
    RouteLLM's `get_optimal_accuracy`.
    """
    n = len(scores)
    gain = scores[:, 1] - scores[:, 0]
    order = np.argsort(-gain, kind="stable")
    used = gain[order] > 0
    steps = np.where(used, gain[order], 0.0)
    dcost = np.where(used, (costs[:, 1] - costs[:, 0])[order], 0.0)
    return Curve(
        calls=np.arange(n + 1) / n,
        cost=costs[:, 0].mean() + np.r_[0.0, np.cumsum(dcost)] / n,
        quality=scores[:, 0].mean() + np.r_[0.0, np.cumsum(steps)] / n,
    )


def random_curve(scores: np.ndarray, costs: np.ndarray) -> Curve:
    """Random mixing in expectation: a straight line from always-weak to always-strong."""
    return Curve(
        calls=np.array([0.0, 1.0]),
        cost=costs[:, :2].mean(axis=0),
        quality=scores[:, :2].mean(axis=0),
    )


@dataclass(frozen=True, slots=True)
class TwoTierMetrics:
    apgr: float | None  # area under PGR vs share of strong calls, fine trapezoid (every m)
    apgr_11pt: float | None  # RouteLLM's way: trapezoid over 11 evenly spaced call shares
    apgr_cost: float | None  # area under PGR vs normalised cost (0 = always weak, 1 = strong)
    cpt50: float | None  # min share of strong calls reaching 50% PGR
    cpt80: float | None
    cpt50_cost: float | None  # cost of that point as a share of always-strong cost
    cpt80_cost: float | None
    cost_at_95: float | None  # min cost reaching 95% of strong quality, share of always-strong
    savings_at_95: float | None  # 1 - cost_at_95

    def to_dict(self) -> dict[str, float | None]:
        return {k: _round(getattr(self, k)) for k in self.__slots__}


def two_tier_metrics(curve: Curve, q_weak: float, q_strong: float, c_weak: float,
                     c_strong: float, quality_target: float = 0.95) -> TwoTierMetrics:
    """PGR-based figures of one path (router, oracle or random) between weak and strong."""
    gap = q_strong - q_weak
    cost_gap = c_strong - c_weak
    cost_share = curve.cost / c_strong if c_strong > 0 else np.full_like(curve.cost, np.nan)
    at95 = min_x_reaching(cost_share, curve.quality, quality_target * q_strong)
    if gap <= 1e-12:
        return TwoTierMetrics(None, None, None, None, None, None, None, at95,
                              None if at95 is None else 1.0 - at95)
    pgr = (curve.quality - q_weak) / gap
    grid = np.linspace(0.0, 1.0, 11)
    pgr11 = np.interp(grid, curve.calls, pgr)
    u = (curve.cost - c_weak) / cost_gap if cost_gap > 0 else None

    def cpt(p: float) -> tuple[float | None, float | None]:
        x = min_x_reaching(curve.calls, pgr, p)
        if x is None:
            return None, None
        return x, float(np.interp(x, curve.calls, cost_share))

    c50, c50c = cpt(0.5)
    c80, c80c = cpt(0.8)
    return TwoTierMetrics(
        apgr=trapezoid(pgr, curve.calls),
        apgr_11pt=trapezoid(pgr11, grid),
        apgr_cost=None if u is None else _apgr_cost(u, pgr),
        cpt50=c50,
        cpt80=c80,
        cpt50_cost=c50c,
        cpt80_cost=c80c,
        cost_at_95=at95,
        savings_at_95=None if at95 is None else 1.0 - at95,
    )


def _apgr_cost(u: np.ndarray, pgr: np.ndarray) -> float:
    """Area under PGR along a threshold path, which runs from u=0 (weak) to u=1 (strong)."""
    return trapezoid(pgr, u)


def frontier_cost_metrics(f: Frontier, q_weak: float, q_strong: float, c_weak: float,
                          c_strong: float, quality_target: float = 0.95
                          ) -> tuple[float | None, float | None]:
    """(APGR over normalised cost in [0, 1], cost share at 95% of strong) of a frontier.

    Used for the oracle, whose cost-optimal order (quality gained per dollar) differs from its
    calls-optimal order.
    """
    at95 = f.min_cost(quality_target * q_strong)
    share = None if at95 is None or c_strong <= 0 else at95 / c_strong
    gap, cost_gap = q_strong - q_weak, c_strong - c_weak
    if gap <= 1e-12 or cost_gap <= 0:
        return None, share
    xs = np.concatenate([[c_weak, c_strong], f.cost])
    xs = np.unique(xs[(xs >= c_weak) & (xs <= c_strong)])
    pgr = (f.at(xs) - q_weak) / gap
    return trapezoid(pgr, (xs - c_weak) / cost_gap), share


# --------------------------------------------------------------------------- any number of tiers


def cut_configs(n: int, n_tiers: int, max_configs: int = 50_000) -> np.ndarray:
    """Non-decreasing cut positions (m, T-1) in 0..n: items below cut t go to tiers <= t.

    Two tiers use every cut; more tiers use the finest evenly spaced grid whose number of
    combinations stays under `max_configs` (about 0.5% steps for three tiers).
    """
    k = n_tiers - 1
    if k == 1:
        return np.arange(n + 1)[:, None]
    steps = min(n, 1000)
    while steps > 2 and math.comb(steps + k, k) > max_configs:
        steps -= 1
    grid = np.unique(np.round(np.linspace(0, n, steps + 1)).astype(np.int64))
    combos = itertools.combinations_with_replacement(range(len(grid)), k)
    return grid[np.array(list(combos), dtype=np.int64)]


def cut_points(scores: np.ndarray, costs: np.ndarray, complexity: np.ndarray,
               configs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mean cost, mean quality) of every cut configuration of the router's complexity ranking."""
    n, t = scores.shape
    if configs is None:
        configs = cut_configs(n, t)
    both = np.concatenate([scores, costs], axis=1)
    sums = np.vstack([np.zeros((1, 2 * t)), np.cumsum(tie_averaged(both, complexity), axis=0)])
    m = len(configs)
    bounds = np.hstack([np.zeros((m, 1), np.int64), configs, np.full((m, 1), n, np.int64)])
    quality = np.zeros(m)
    cost = np.zeros(m)
    for tier in range(t):
        lo, hi = bounds[:, tier], bounds[:, tier + 1]
        quality += sums[hi, tier] - sums[lo, tier]
        cost += sums[hi, t + tier] - sums[lo, t + tier]
    return cost / n, quality / n


@dataclass(frozen=True, slots=True)
class Frontier:
    """Quality as a piecewise-linear function of mean cost (vertices sorted by cost).

    Flat after the last vertex (a larger budget need not be spent). Hulls are concave and
    increasing; cross-fitted router paths need not be, and are used as they are.
    """

    cost: np.ndarray
    quality: np.ndarray

    def at(self, c: float | np.ndarray) -> np.ndarray:
        return np.interp(c, self.cost, self.quality)

    def min_cost(self, target: float) -> float | None:
        """Least mean cost whose quality reaches `target`; None if it never does."""
        return min_x_reaching(self.cost, self.quality, target)


def frontier_index(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of the upper concave hull's vertices, from the cheapest point to the best one."""
    cost = np.asarray(cost, dtype=np.float64)
    quality = np.asarray(quality, dtype=np.float64)
    order = np.lexsort((-quality, cost))
    ys = quality[order]
    keep = ys > np.maximum.accumulate(np.r_[-np.inf, ys[:-1]])  # strictly better than cheaper
    hull: list[int] = []
    for i in order[keep].tolist():
        x, y = cost[i], quality[i]
        while len(hull) >= 2:
            x1, y1, x2, y2 = cost[hull[-2]], quality[hull[-2]], cost[hull[-1]], quality[hull[-1]]
            cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
            if cross < -1e-12 * abs((x - x1) * (y - y1)):  # collinear points are not vertices
                break
            hull.pop()
        hull.append(i)
    return np.array(hull, dtype=np.int64)


def upper_frontier(cost: np.ndarray, quality: np.ndarray) -> Frontier:
    """Upper concave hull of points: what mixing any two of them at random can reach."""
    idx = frontier_index(cost, quality)
    return Frontier(np.asarray(cost, np.float64)[idx], np.asarray(quality, np.float64)[idx])


def oracle_frontier(scores: np.ndarray, costs: np.ndarray) -> Frontier:
    """Per item, the tier maximising score - lam * cost, for every willingness to pay lam >= 0.

    Exact: each item contributes the segments of its own upper hull over its tiers; sorting all
    segments by slope (quality per dollar) and summing them traces the frontier.
    """
    n, t = scores.shape
    start_cost = 0.0
    start_quality = 0.0
    slopes: list[float] = []
    dcs: list[float] = []
    dqs: list[float] = []
    for c_row, s_row in zip(costs.tolist(), scores.tolist()):
        cur = min(range(t), key=lambda j: (c_row[j], -s_row[j]))
        start_cost += c_row[cur]
        start_quality += s_row[cur]
        while True:
            best, best_slope = -1, 0.0
            for j in range(t):
                dc, dq = c_row[j] - c_row[cur], s_row[j] - s_row[cur]
                if dq <= 0:
                    continue
                slope = math.inf if dc <= 0 else dq / dc
                if best < 0 or slope > best_slope or (
                    slope == best_slope and c_row[j] > c_row[best]
                ):
                    best, best_slope = j, slope
            if best < 0:
                break
            slopes.append(best_slope)
            dcs.append(c_row[best] - c_row[cur])
            dqs.append(s_row[best] - s_row[cur])
            cur = best
    order = np.argsort(-np.asarray(slopes), kind="stable")
    cx = start_cost / n + np.r_[0.0, np.cumsum(np.asarray(dcs)[order])] / n
    qy = start_quality / n + np.r_[0.0, np.cumsum(np.asarray(dqs)[order])] / n
    return upper_frontier(cx, qy)


def area_above(f: Frontier, base: Frontier, lo: float, hi: float) -> float:
    """Integral of f - base over cost in [lo, hi]; exact for piecewise-linear frontiers."""
    if hi <= lo:
        return 0.0
    xs = np.concatenate([[lo, hi], f.cost, base.cost])
    xs = np.unique(xs[(xs >= lo) & (xs <= hi)])
    return trapezoid(f.at(xs) - base.at(xs), xs)


def position(router: Frontier, oracle: Frontier, random: Frontier, lo: float,
             hi: float) -> float | None:
    """Where the router sits from random mixing (0) to the oracle (1), by area over [lo, hi]."""
    best = area_above(oracle, random, lo, hi)
    if best <= 1e-15:
        return None
    return area_above(router, random, lo, hi) / best


@dataclass(frozen=True, slots=True)
class CrossFit:
    frontier: Frontier  # mean over folds of each held-out fold's quality at a given cost
    position: float | None  # summed over folds: router area / oracle area above random


def crossfit_frontier(scores: np.ndarray, costs: np.ndarray, complexity: np.ndarray,
                      folds: int = 5, seed: int = 0) -> CrossFit:
    """The router's N-tier frontier, measured on items its cut points were not chosen on.

    Choosing the best of thousands of cut-point pairs on the same items that score them rewards
    noise: a random router would look better than random mixing. So the hull's cut points (as
    quantiles) are picked on the other folds and their cost and quality read on the held-out fold.
    A constant router still lands exactly on random mixing; a random one near it.
    """
    n, t = scores.shape
    folds = max(2, min(folds, n // 2))
    parts = np.array_split(np.random.default_rng(seed).permutation(n), folds)
    num = den = 0.0
    paths: list[Frontier] = []
    for i, test in enumerate(parts):
        train = np.concatenate([p for j, p in enumerate(parts) if j != i])
        configs = cut_configs(len(train), t)
        tc, tq = cut_points(scores[train], costs[train], complexity[train], configs)
        chosen = configs[frontier_index(tc, tq)]
        # Always-strongest stays on offer, so every path ends where the random line ends.
        top = np.zeros((1, t - 1), np.int64)
        if not (chosen == 0).all(axis=1).any():
            chosen = np.vstack([chosen, top])
        chosen = chosen / len(train)
        cuts = np.round(chosen * len(test)).astype(np.int64)
        s, c, x = scores[test], costs[test], complexity[test]
        pc, pq = cut_points(s, c, x, cuts)
        order = np.lexsort((-pq, pc))
        pc, pq = pc[order], pq[order]
        first = np.r_[True, pc[1:] != pc[:-1]]
        path = Frontier(pc[first], pq[first])
        # Random mixing of the tiers that were worth mixing on the training folds: judged on
        # the held-out fold like the router, so a constant router scores exactly 0.
        tiers = frontier_index(costs[train].mean(axis=0), scores[train].mean(axis=0))
        tier_c, tier_q = c.mean(axis=0), s.mean(axis=0)
        by_cost = tiers[np.argsort(tier_c[tiers], kind="stable")]
        rnd = Frontier(tier_c[by_cost], tier_q[by_cost])
        lo, hi = float(tier_c.min()), float(tier_c.max())
        num += len(test) * area_above(path, rnd, lo, hi)
        den += len(test) * area_above(oracle_frontier(s, c), rnd, lo, hi)
        paths.append(path)
    grid = np.unique(np.concatenate([p.cost for p in paths]))
    mean = np.mean([p.at(grid) for p in paths], axis=0)
    return CrossFit(Frontier(grid, mean), num / den if den > 1e-15 else None)


def _round(v: float | None, digits: int = 6) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return round(float(v), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
