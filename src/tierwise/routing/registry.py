"""Build a router by name from a Config. Learned routers load lazily (they pull in numpy)."""

from __future__ import annotations

import importlib

from tierwise.config import Config
from tierwise.routing.base import Router
from tierwise.routing.chain import ChainRouter
from tierwise.routing.ladder import TierLadder
from tierwise.routing.manual import ManualRouter

BUILTIN_POLICIES = ("heuristic", "length", "random", "manual", "cascade")
# Learned policies live in tierwise.routing.learned; each name maps to `module:function`
# taking (config, ladder, name) and returning a Router.
LEARNED_POLICIES = {
    "learned": "tierwise.routing.learned.factory:build_learned_router",
    "mf": "tierwise.routing.learned.factory:build_learned_router",
    "classifier": "tierwise.routing.learned.factory:build_learned_router",
    "knn": "tierwise.routing.learned.factory:build_learned_router",
    "sw": "tierwise.routing.learned.factory:build_learned_router",
    "ensemble": "tierwise.routing.learned.factory:build_learned_router",
}


class UnknownRouterError(ValueError):
    def __init__(self, name: str) -> None:
        valid = ", ".join((*BUILTIN_POLICIES, *LEARNED_POLICIES))
        super().__init__(f"unknown router {name!r}; expected one of: {valid}")


def router_names() -> list[str]:
    return [*BUILTIN_POLICIES, *LEARNED_POLICIES]


def build_policy(cfg: Config, name: str | None = None, ladder: TierLadder | None = None) -> Router:
    """The bare policy (no manual layer): what `eval` measures."""
    name = name or cfg.routing.policy
    ladder = ladder or TierLadder.from_config(cfg)
    if name == "heuristic":
        from tierwise.routing.heuristic import HeuristicRouter

        return HeuristicRouter(ladder, cfg.routing.heuristic)
    if name == "length":
        from tierwise.routing.baselines import LengthRouter

        return LengthRouter(ladder)
    if name == "random":
        from tierwise.routing.baselines import RandomRouter

        return RandomRouter(ladder, cfg.routing.random)
    if name == "manual":
        return ManualRouter(ladder, cfg.routing.default_tier)
    if name == "cascade":  # answers with its base policy; the server runs the cascade
        from tierwise.routing.cascade import build_cascade_router

        return build_cascade_router(cfg, ladder)
    if name in LEARNED_POLICIES:
        module, func = LEARNED_POLICIES[name].split(":")
        return getattr(importlib.import_module(module), func)(cfg, ladder, name)
    raise UnknownRouterError(name)


def build_router(cfg: Config, name: str | None = None) -> ChainRouter:
    """What the CLI and the server use: manual choices first, then the policy."""
    ladder = TierLadder.from_config(cfg)
    manual = ManualRouter(ladder, cfg.routing.default_tier)
    policy = build_policy(cfg, name, ladder)
    return ChainRouter(manual, policy, commands=cfg.routing.manual_commands)
