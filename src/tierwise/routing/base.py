"""The one interface every routing policy implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tierwise.types import ChatRequest, Decision


@runtime_checkable
class Router(Protocol):
    """A request in canonical form -> a Decision. Must not do I/O (cascades excepted)."""

    name: str

    def route(self, request: ChatRequest) -> Decision: ...


def route_many(router: Router, requests: Sequence[ChatRequest]) -> list[Decision]:
    """Batch routing; routers that can vectorise (learned ones) provide `route_many` themselves."""
    batch = getattr(router, "route_many", None)
    if batch is not None:
        return list(batch(requests))
    return [router.route(r) for r in requests]
