"""A minimal dispatcher with the dispatch contract's interface: the decided tier's first
deployment, one attempt, no retries or fallbacks.

It lets the server run (and be tested) without `tierwise.dispatch`, and is the reference for
what the server needs from a dispatcher; the real one adds balancing, retries and fallbacks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tierwise.dispatch.result import DispatchResult, StreamDispatch
from tierwise.providers import get_provider
from tierwise.providers.base import StreamEvent, UpstreamError
from tierwise.types import ChatRequest, Decision

if TYPE_CHECKING:
    import aiohttp

    from tierwise.config import Config, DeploymentConfig


class SimpleDispatcher:
    def __init__(self, cfg: Config, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.targets: dict[str, DeploymentConfig] = {t.name: t.deployments[0] for t in cfg.tiers}
        self.ids = {name: dep.id for name, dep in self.targets.items()}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def complete(self, request: ChatRequest, decision: Decision) -> DispatchResult:
        dep = self.targets[decision.tier]
        response = await get_provider(dep.provider).complete(self.session, dep, request)
        return DispatchResult(response, decision.tier, dep.model, self.ids[decision.tier], 1, None)

    async def stream(self, request: ChatRequest, decision: Decision) -> StreamDispatch:
        dep = self.targets[decision.tier]
        events = get_provider(dep.provider).stream(self.session, dep, request)
        try:
            first = await anext(aiter(events))  # errors before the first event raise here
        except StopAsyncIteration:
            raise UpstreamError(502, "upstream ended the stream before any event") from None
        return StreamDispatch(
            decision.tier, dep.model, self.ids[decision.tier], 1, None, _chain(first, events)
        )


async def _chain(
    first: StreamEvent, rest: AsyncIterator[StreamEvent]
) -> AsyncIterator[StreamEvent]:
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
