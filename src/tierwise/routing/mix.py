"""Tier mix against a target: how an operator sees thresholds drift on live traffic.

Kept free of numpy so the server can import it at start-up at no cost (RouteLLM issue #36:
thresholds calibrated on someone else's traffic drift on yours).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any


def mix_drift(
    tiers: Sequence[str], counts: Mapping[str, int], target: Sequence[float] | None
) -> dict[str, Any]:
    """{'total', 'tiers': {tier: {'count', 'actual', 'target', 'delta'}}, 'max_abs_delta'}.

    `target` is one share per tier (normalised here); None reports actual shares only.
    """
    total_target = sum(target) if target else 0.0
    shares = [t / total_target for t in target] if target and total_target > 0 else None
    total = sum(counts.get(t, 0) for t in tiers)
    rows: dict[str, dict[str, float | None]] = {}
    worst = 0.0
    for i, t in enumerate(tiers):
        count = counts.get(t, 0)
        actual = count / total if total else 0.0
        goal = shares[i] if shares else None
        delta = actual - goal if goal is not None else None
        if delta is not None and total:
            worst = max(worst, abs(delta))
        rows[t] = {"count": count, "actual": actual, "target": goal, "delta": delta}
    return {"total": total, "tiers": rows, "max_abs_delta": worst if shares else None}


class MixTracker:
    """Thread-safe live tier counts against a target mix, for embedding in other programs."""

    def __init__(self, tiers: Sequence[str], target: Sequence[float] | None = None) -> None:
        self.tiers = list(tiers)
        self.target = list(target) if target else None
        self.counts = dict.fromkeys(self.tiers, 0)
        self._lock = threading.Lock()

    def observe(self, tier: str) -> None:
        with self._lock:
            if tier in self.counts:
                self.counts[tier] += 1

    def reset(self) -> None:
        with self._lock:
            self.counts = dict.fromkeys(self.tiers, 0)

    def mix(self) -> dict[str, float]:
        with self._lock:
            total = sum(self.counts.values())
            return {t: (c / total if total else 0.0) for t, c in self.counts.items()}

    def drift(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
        return mix_drift(self.tiers, counts, self.target)
