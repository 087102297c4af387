"""APGR for the training report (no costs needed); full figures live in tierwise.eval.metrics.

APGR follows RouteLLM: send the `x` most complex share of prompts to the strong model, measure
the share of the weak->strong quality gap recovered, average over x (random = 0.5).
"""

from __future__ import annotations

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
