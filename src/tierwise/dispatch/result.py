"""What dispatch hands the server: the answer, and which tier/deployment gave it, and why."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from tierwise.providers.base import ChatResponse, StreamEvent


@dataclass(slots=True)
class DispatchResult:
    response: ChatResponse
    tier: str  # the tier that actually answered (may differ from the decision after fallback)
    model: str  # the upstream model id actually called
    deployment_id: str
    attempts: int  # upstream calls made, including retries
    fallback_reason: str | None  # None, or why another tier answered
    # USD per million tokens on the deployment that answered (its own price, else its tier's);
    # None: unknown, the server prices by tier. The ledger bills what was actually called.
    price_in: float | None = None
    price_out: float | None = None
    price_cache_read: float | None = None  # USD / M prompt-cache reads


@dataclass(slots=True)
class StreamDispatch:
    """A stream whose first event already arrived: retries and fallbacks are over.

    The server must `await close()` when done, whether or not it iterated `events`: closing
    an async generator that never started does not run its cleanup, so `close()` ends the
    upstream call (in-flight count, connection) itself. It is idempotent.
    """

    tier: str
    model: str
    deployment_id: str
    attempts: int
    fallback_reason: str | None
    events: AsyncIterator[StreamEvent]
    price_in: float | None = None
    price_out: float | None = None
    price_cache_read: float | None = None
    on_close: Callable[[], Awaitable[None]] | None = None  # the dispatcher's cleanup

    async def close(self) -> None:
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            await aclose()
        if self.on_close is not None:
            await self.on_close()
