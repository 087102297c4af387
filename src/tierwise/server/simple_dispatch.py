"""A minimal dispatcher with the dispatch contract's interface: the decided tier's first
deployment, one attempt, no retries or fallbacks.

Tests pin it (`create_app(..., dispatcher_factory=SimpleDispatcher)`) to check the server's
error mapping without dispatch policy in the way; it is also the shortest reference for what
the server needs from a dispatcher. Mid-stream failures are raised from `events` (the real
Dispatcher turns them into an error event instead); the server handles both.
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
        # Owned by this dispatcher: adapters cache per-deployment constants (keys included).
        self.providers = {d.provider: get_provider(d.provider) for d in self.targets.values()}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def complete(self, request: ChatRequest, decision: Decision) -> DispatchResult:
        dep = self.targets[decision.tier]
        response = await self.providers[dep.provider].complete(self.session, dep, request)
        return DispatchResult(
            response, decision.tier, dep.model, self.ids[decision.tier], 1, None, *_prices(dep)
        )

    async def stream(self, request: ChatRequest, decision: Decision) -> StreamDispatch:
        dep = self.targets[decision.tier]
        events = self.providers[dep.provider].stream(self.session, dep, request)
        try:
            first = await anext(aiter(events))  # errors before the first event raise here
        except StopAsyncIteration:
            raise UpstreamError(502, "upstream ended the stream before any event") from None
        except BaseException:
            await _aclose(events)
            raise

        async def end() -> None:  # closing an already closed generator is a no-op
            await _aclose(events)

        return StreamDispatch(
            decision.tier,
            dep.model,
            self.ids[decision.tier],
            1,
            None,
            _chain(first, events),
            *_prices(dep),
            end,
        )


def _prices(dep: DeploymentConfig) -> tuple[float | None, float | None, float | None]:
    # None: the server falls back to the tier's price
    return dep.price_in, dep.price_out, dep.price_cache_read


async def _aclose(it: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


async def _chain(
    first: StreamEvent, rest: AsyncIterator[StreamEvent]
) -> AsyncIterator[StreamEvent]:
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        await _aclose(rest)
