"""Load-balancing strategies: given the healthy, in-limit deployments of a tier, pick one.

A strategy is any object with `choose(candidates, state, tokens, stream) -> Deployment`; add one
with `register_strategy`. Candidates are never empty. Strategies read state synchronously (a
Redis backend answers from its local view), so picking costs microseconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol

from tierwise.dispatch.deployment import Deployment
from tierwise.dispatch.state.base import StateBackend


class Strategy(Protocol):
    name: str

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment: ...


def _weighted(candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
    if len(candidates) == 1:
        return candidates[0]
    total = 0.0
    for d in candidates:
        total += d.weight
    x = rng.random() * total
    for d in candidates:
        x -= d.weight
        if x < 0.0:
            return d
    return candidates[-1]


class WeightedShuffle:
    """Random, proportional to `weight` (the default): spreads load with no shared state."""

    name = "weighted"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment:
        return _weighted(candidates, self.rng)


class LatencyBased:
    """Fastest by EWMA (time to first token for streams, seconds per output token otherwise).

    Every deployment within `tolerance` of the fastest shares the traffic by weight, so a
    noise-level difference doesn't pin all load on one host; one without samples yet counts as
    fastest, so it gets measured.
    """

    name = "latency"

    def __init__(self, tolerance: float = 0.2, rng: random.Random | None = None) -> None:
        self.tolerance = tolerance
        self.rng = rng or random.Random()

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        lats = [state.latency(d.id, stream) for d in candidates]
        unknown = [d for d, lat in zip(candidates, lats) if lat is None]
        if unknown:
            return _weighted(unknown, self.rng)
        best = min(lats)  # type: ignore[type-var]
        limit = best * (1.0 + self.tolerance)  # type: ignore[operator]
        near = [d for d, lat in zip(candidates, lats) if lat <= limit]  # type: ignore[operator]
        return _weighted(near, self.rng)


class _KeepBest:
    """Keep the candidates whose key is lowest (within `slack`), then shuffle them by weight,
    so equal deployments still share the load."""

    name = ""
    slack = 1e-9

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def key(self, d: Deployment, state: StateBackend, tokens: int, stream: bool) -> float:
        raise NotImplementedError

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        keys = [self.key(d, state, tokens, stream) for d in candidates]
        limit = min(keys) + self.slack
        return _weighted([d for d, k in zip(candidates, keys) if k <= limit], self.rng)


class LeastBusy(_KeepBest):
    """Fewest in-flight requests (across instances with Redis); ties by weight."""

    name = "least-busy"

    def key(self, d: Deployment, state: StateBackend, tokens: int, stream: bool) -> float:
        return state.inflight(d.id)


class CostBased(_KeepBest):
    """Cheapest for this request's estimated tokens (input; output priced at the same count)."""

    name = "cost"

    def key(self, d: Deployment, state: StateBackend, tokens: int, stream: bool) -> float:
        return d.price_in + d.price_out


class UsageAware(_KeepBest):
    """Most rpm/tpm headroom left, so limits are approached evenly and rarely hit."""

    name = "usage"

    def key(self, d: Deployment, state: StateBackend, tokens: int, stream: bool) -> float:
        return -state.headroom(d.id, d.rpm, d.tpm)


class PriorityOrder(_KeepBest):
    """Lowest `priority` first; the next only while the ones before are cooling or at limits."""

    name = "priority"

    def key(self, d: Deployment, state: StateBackend, tokens: int, stream: bool) -> float:
        return d.priority


StrategyFactory = Callable[..., Strategy]

STRATEGIES: dict[str, StrategyFactory] = {
    "weighted": WeightedShuffle,
    "latency": LatencyBased,
    "least-busy": LeastBusy,
    "cost": CostBased,
    "usage": UsageAware,
    "priority": PriorityOrder,
}


def register_strategy(name: str, factory: StrategyFactory) -> None:
    """Make a strategy available by name (it must also be allowed by the config schema)."""
    STRATEGIES[name] = factory


def make_strategy(
    name: str, *, tolerance: float = 0.2, rng: random.Random | None = None
) -> Strategy:
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown dispatch strategy {name!r}; expected one of {sorted(STRATEGIES)}"
        ) from None
    if factory is LatencyBased:
        return LatencyBased(tolerance, rng)
    return factory(rng=rng)
