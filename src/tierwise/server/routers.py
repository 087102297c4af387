"""Which router answers a request: the prebuilt default, or a RouteLLM-style
`router-<name>-<threshold>` model that names a policy and its threshold.

For two tiers the threshold is the single cut point; for more, every default cut point is
shifted by `threshold - 0.5` (so `router-heuristic-0.5` is the configured heuristic router and
higher thresholds send less traffic to strong tiers). Built routers are cached (bounded).
"""

from __future__ import annotations

import dataclasses

from tierwise.config import Config
from tierwise.routing.chain import ChainRouter
from tierwise.routing.registry import UnknownRouterError, build_router, router_names

MAX_CACHED = 32


class RouterSpecError(ValueError):
    """A `router-…` model that does not parse, or names an unknown policy."""


def shifted_thresholds(cfg: Config, threshold: float) -> list[float]:
    n = len(cfg.tiers)
    if n == 2:
        return [threshold]
    base = cfg.routing.thresholds or [i / n for i in range(1, n)]
    shift = threshold - 0.5
    out, prev = [], 0.0
    for x in base:
        prev = max(prev, min(max(x + shift, 0.0), 1.0))
        out.append(prev)
    return out


class RouterSet:
    def __init__(self, cfg: Config, name: str | None = None) -> None:
        self.cfg = cfg
        self.default: ChainRouter = build_router(cfg, name)
        self._named: dict[str, ChainRouter] = {}

    def for_model(self, model: str) -> ChainRouter:
        if not model.startswith("router-"):
            return self.default
        router = self._named.get(model)
        if router is None:
            router = self._build(model)
            if len(self._named) >= MAX_CACHED:
                self._named.pop(next(iter(self._named)))
            self._named[model] = router
        return router

    def _build(self, model: str) -> ChainRouter:
        name, _, raw = model[len("router-") :].rpartition("-")
        try:
            threshold = float(raw)
        except ValueError:
            threshold = -1.0
        if not name or not 0.0 <= threshold <= 1.0:
            raise RouterSpecError(
                f"model {model!r}: expected router-<name>-<threshold> with a threshold in [0, 1], "
                f"e.g. router-heuristic-0.5; routers: {', '.join(router_names())}"
            )
        routing = dataclasses.replace(
            self.cfg.routing, thresholds=shifted_thresholds(self.cfg, threshold)
        )
        try:
            return build_router(dataclasses.replace(self.cfg, routing=routing), name)
        except UnknownRouterError as exc:
            raise RouterSpecError(f"model {model!r}: {exc}") from None
