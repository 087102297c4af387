"""What dispatch hands the server: the answer, and which tier/deployment gave it, and why."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


@dataclass(slots=True)
class StreamDispatch:
    """A stream whose first event already arrived: retries and fallbacks are over."""

    tier: str
    model: str
    deployment_id: str
    attempts: int
    fallback_reason: str | None
    events: AsyncIterator[StreamEvent]
