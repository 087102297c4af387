"""The ordered tiers as routing sees them: names, models, windows and complexity cut points."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from dataclasses import dataclass

from tierwise.config import Config


class UnknownModelError(ValueError):
    """A request named a tier, alias or model that the config does not define."""

    def __init__(self, label: str, valid: list[str]) -> None:
        self.label = label
        self.valid = valid
        super().__init__(f"unknown model {label!r}; use 'auto' or one of: {', '.join(valid)}")


@dataclass(frozen=True, slots=True)
class TierLadder:
    names: tuple[str, ...]
    models: tuple[str, ...]
    context_windows: tuple[int, ...]
    thresholds: tuple[float, ...]
    labels: dict[str, int]  # tier name, alias or model id (lower-cased) -> tier index

    @classmethod
    def from_config(cls, cfg: Config, thresholds: list[float] | None = None) -> TierLadder:
        n = len(cfg.tiers)
        th = thresholds if thresholds is not None else cfg.routing.thresholds
        if th is None:
            th = [i / n for i in range(1, n)]
        labels: dict[str, int] = {}
        for i, t in enumerate(cfg.tiers):
            for label in (t.model, *(d.model for d in t.deployments), *t.aliases, t.name):
                labels[label.lower()] = i
        return cls(
            names=tuple(t.name for t in cfg.tiers),
            models=tuple(t.model for t in cfg.tiers),
            context_windows=tuple(t.context_window for t in cfg.tiers),
            thresholds=tuple(th),
            labels=labels,
        )

    def __len__(self) -> int:
        return len(self.names)

    def index_for(self, complexity: float) -> int:
        return bisect_right(self.thresholds, complexity)

    def resolve(self, label: str) -> int:
        """Tier index for a tier name, alias or model id; raises UnknownModelError."""
        i = self.labels.get(label.strip().lower())
        if i is None:
            raise UnknownModelError(label, self.valid_labels())
        return i

    def valid_labels(self) -> list[str]:
        return sorted(set(self.labels) | set(self.names))

    def fit_context(self, index: int, tokens: int) -> int:
        """The first tier at or above `index` whose window holds `tokens`, else the largest."""
        for i in range(index, len(self.names)):
            if self.context_windows[i] >= tokens:
                return i
        for i in range(index - 1, -1, -1):
            if self.context_windows[i] >= tokens:
                return i
        return max(range(len(self.names)), key=self.context_windows.__getitem__)

    def soft_probs(self, complexity: float) -> dict[str, float]:
        """Per-tier weights for complexity-only routers: closeness to each tier's band centre."""
        edges = (0.0, *self.thresholds, 1.0)
        weights = []
        for lo, hi in itertools.pairwise(edges):
            centre, half = (lo + hi) / 2, max((hi - lo) / 2, 1e-3)
            weights.append(math.exp(-(((complexity - centre) / half) ** 2)))
        total = sum(weights) or 1.0
        return {n: w / total for n, w in zip(self.names, weights)}
