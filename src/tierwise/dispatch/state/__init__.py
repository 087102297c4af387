"""State backends for dispatch: in-process memory (default) or Redis shared by instances."""

from __future__ import annotations

from tierwise.config import Config
from tierwise.dispatch.state.base import COOLING, HALF_OPEN, HEALTHY, StateBackend
from tierwise.dispatch.state.memory import MemoryState

__all__ = ["COOLING", "HALF_OPEN", "HEALTHY", "MemoryState", "StateBackend", "make_state"]


def make_state(cfg: Config) -> StateBackend:
    """`state: memory` or `state: redis://host:port/db[?key_prefix=name]`."""
    if cfg.state == "memory":
        return MemoryState(cfg.cooldown)
    from tierwise.dispatch.state.redis import RedisState  # lazy: redis is only needed here

    return RedisState(cfg.state, cfg.cooldown)
