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


class LeastBusy:
    """Fewest in-flight requests (across instances with Redis); ties by weight."""

    name = "least-busy"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        loads = [state.inflight(d.id) for d in candidates]
        low = min(loads)
        return _weighted([d for d, n in zip(candidates, loads) if n == low], self.rng)


class CostBased:
    """Cheapest for this request's estimated tokens (input; output priced at the same count)."""

    name = "cost"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        costs = [d.price_in + d.price_out for d in candidates]
        low = min(costs)
        return _weighted([d for d, c in zip(candidates, costs) if c <= low * 1.000001], self.rng)


class UsageAware:
    """Most rpm/tpm headroom left, so limits are approached evenly and rarely hit."""

    name = "usage"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        rooms = [state.headroom(d.id, d.rpm, d.tpm) for d in candidates]
        high = max(rooms)
        return _weighted([d for d, r in zip(candidates, rooms) if r >= high - 1e-9], self.rng)


class PriorityOrder:
    """Lowest `priority` first; the next only while the ones before are cooling or at limits."""

    name = "priority"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(
        self, candidates: Sequence[Deployment], state: StateBackend, tokens: int, stream: bool
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        top = min(d.priority for d in candidates)
        return _weighted([d for d in candidates if d.priority == top], self.rng)


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
