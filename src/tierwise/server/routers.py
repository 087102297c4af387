"""Which router answers a request: the prebuilt default, or a RouteLLM-style
`router-<name>-<threshold>` model that names a policy and its threshold.

For two tiers the threshold is the single cut point; for more, every cut point of the policy
as configured is shifted by `threshold - 0.5` (so `router-heuristic-0.5` is the configured
heuristic router and higher thresholds send less traffic to strong tiers).

Building a policy can be slow (a learned one loads an artifact and an embedder: ~0.4 s), so a
policy is built once per NAME and every threshold of it is a shallow copy with another ladder:
microseconds, sharing the built state (predictor, embedder, weights). Thresholds are rounded
to 0.01, so at most 101 variants exist per name. `resolve()` builds a name's first policy in a
worker thread, keeping the event loop free; `for_model()` is the synchronous form.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from typing import Any

from tierwise.config import Config
from tierwise.routing.chain import ChainRouter
from tierwise.routing.registry import UnknownRouterError, build_router, router_names

MAX_MODEL_STRINGS = 256  # model string -> router memo; evicting one costs a dict lookup


class RouterSpecError(ValueError):
    """A `router-…` model that does not parse, or names an unknown policy."""


def shifted_thresholds(base: list[float] | tuple[float, ...], threshold: float) -> list[float]:
    """Cut points for `threshold`: itself with one cut, else `base` shifted by threshold - 0.5
    (clamped to [0, 1], kept non-decreasing)."""
    if len(base) == 1:
        return [threshold]
    shift = threshold - 0.5
    out, prev = [], 0.0
    for x in base:
        prev = max(prev, min(max(x + shift, 0.0), 1.0))
        out.append(prev)
    return out


def parse_spec(model: str) -> tuple[str, float]:
    """`router-<name>-<threshold>` -> (name, threshold rounded to 0.01)."""
    name, _, raw = model[len("router-") :].rpartition("-")
    try:
        threshold = float(raw)
    except ValueError:
        threshold = -1.0
    names = router_names()
    if not name or not 0.0 <= threshold <= 1.0:
        raise RouterSpecError(
            f"model {model!r}: expected router-<name>-<threshold> with a threshold in [0, 1], "
            f"e.g. router-heuristic-0.5; routers: {', '.join(names)}"
        )
    if name not in names:
        raise RouterSpecError(
            f"model {model!r}: unknown router {name!r}; expected one of: {', '.join(names)}"
        )
    return name, round(threshold, 2)


def with_ladder(policy: Any, thresholds: list[float]) -> Any:
    """A shallow copy of `policy` routing with other cut points (None if it has no ladder).

    A policy that wraps another (the cascade's `base`) gets the same cut points in its base,
    since the base makes the decision."""
    ladder = getattr(policy, "ladder", None)
    if ladder is None:
        return None
    out = copy.copy(policy)
    out.ladder = dataclasses.replace(ladder, thresholds=tuple(thresholds))
    base = getattr(policy, "base", None)
    if base is not None and getattr(base, "ladder", None) is not None:
        out.base = with_ladder(base, thresholds)
    return out


class RouterSet:
    def __init__(self, cfg: Config, name: str | None = None) -> None:
        self.cfg = cfg
        self.default: ChainRouter = build_router(cfg, name)
        # name -> the policy as configured (built once; its cut points are the 0.5 variant)
        self._bases: dict[str, ChainRouter] = {self.default.name: self.default}
        self._building: dict[str, asyncio.Future[ChainRouter]] = {}
        self._variants: dict[tuple[str, float], ChainRouter] = {}
        self._by_model: dict[str, ChainRouter] = {}

    def for_model(self, model: str) -> ChainRouter:
        """The router for a request's model; builds a name's first policy here, blocking.
        Prefer `await resolve(model)` on the event loop."""
        known = self._known(model)
        if known is not None:
            return known
        name, threshold = parse_spec(model)
        base = self._bases.get(name)
        if base is None:
            base = self._bases[name] = self._build_base(name, model)
        return self._remember(model, self._variant(base, name, threshold))

    async def resolve(self, model: str) -> ChainRouter:
        """`for_model`, but a name's first (possibly slow) build runs in a worker thread.

        Concurrent first requests for one name share that build."""
        known = self._known(model)
        if known is not None:
            return known
        name, threshold = parse_spec(model)
        base = self._bases.get(name)
        if base is None:
            pending = self._building.get(name)
            if pending is None:
                pending = asyncio.ensure_future(self._build_in_thread(name, model))
                self._building[name] = pending
            base = await asyncio.shield(pending)  # a caller who leaves does not cancel it
        return self._remember(model, self._variant(base, name, threshold))

    def _known(self, model: str) -> ChainRouter | None:
        """The default router for non-`router-…` models, else a variant already built."""
        if not model.startswith("router-"):
            return self.default
        return self._by_model.get(model)

    async def _build_in_thread(self, name: str, model: str) -> ChainRouter:
        try:
            base = await asyncio.to_thread(self._build_base, name, model)
        finally:
            del self._building[name]
        self._bases[name] = base
        return base

    def _build_base(self, name: str, model: str) -> ChainRouter:
        """The policy `name` as configured; runs in a worker thread from `resolve`."""
        try:
            return build_router(self.cfg, name)
        except UnknownRouterError as exc:
            raise RouterSpecError(f"model {model!r}: {exc}") from None

    def _variant(self, base: ChainRouter, name: str, threshold: float) -> ChainRouter:
        key = (name, threshold)
        router = self._variants.get(key)
        if router is None:
            ladder = getattr(base.policy, "ladder", None) or base.manual.ladder
            policy = with_ladder(base.policy, shifted_thresholds(ladder.thresholds, threshold))
            if policy is None:  # no ladder to swap: the policy ignores cut points
                policy = base.policy
            router = ChainRouter(base.manual, policy, commands=base.commands)
            self._variants[key] = router
        return router

    def _remember(self, model: str, router: ChainRouter) -> ChainRouter:
        if len(self._by_model) >= MAX_MODEL_STRINGS:
            self._by_model.pop(next(iter(self._by_model)))
        self._by_model[model] = router
        return router
