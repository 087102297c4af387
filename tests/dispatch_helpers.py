"""A scripted in-process Provider for dispatch unit tests (the real adapters are covered by
tests/test_reliability.py against the mock upstream)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from tierwise.config import Config, parse_config
from tierwise.providers.base import ChatResponse, StreamEvent, UpstreamError, Usage
from tierwise.types import ChatRequest, Decision

# behaviour(call_index_for_this_url) -> None (answer), an UpstreamError (raise), or a float
# (seconds to stall before answering).
Behaviour = Callable[[int], "UpstreamError | float | None"]


def ok(_: int) -> None:
    return None


def always(status: int, retry_after: float | None = None) -> Behaviour:
    return lambda _: UpstreamError(status, f"injected {status}", retry_after=retry_after)


def fail_first(n: int, status: int = 500, retry_after: float | None = None) -> Behaviour:
    return lambda i: UpstreamError(status, "injected", retry_after=retry_after) if i < n else None


class ScriptedProvider:
    kind = "anthropic"

    def __init__(self, behaviours: dict[str, Behaviour], mid_stream_error: bool = False) -> None:
        self.behaviours = behaviours
        self.calls: list[tuple[str, float]] = []
        self.counts: dict[str, int] = {}
        self.mid_stream_error = mid_stream_error

    def _next(self, url: str) -> UpstreamError | float | None:
        i = self.counts.get(url, 0)
        self.counts[url] = i + 1
        self.calls.append((url, time.monotonic()))
        return self.behaviours.get(url, ok)(i)

    async def complete(self, session: Any, deployment: Any, request: ChatRequest) -> ChatResponse:
        out = self._next(deployment.base_url)
        if isinstance(out, UpstreamError):
            raise out
        if isinstance(out, float):
            await asyncio.sleep(out)
        return ChatResponse(
            id="msg_1",
            model=deployment.model,
            content=[{"type": "text", "text": f"from {deployment.base_url}"}],
            stop_reason="end_turn",
            usage=Usage(3, 5),
        )

    async def stream(
        self, session: Any, deployment: Any, request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        out = self._next(deployment.base_url)
        if isinstance(out, UpstreamError):
            raise out
        if isinstance(out, float):
            await asyncio.sleep(out)
        yield {"type": "message_start", "message": {"model": deployment.model}}
        yield {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}}
        if self.mid_stream_error:
            raise UpstreamError(529, "overloaded mid-stream", error_type="overloaded_error")
        yield {"type": "message_stop"}


def config(tiers_yaml: str, extra: str = "") -> Config:
    return parse_config(f"tiers:\n{tiers_yaml}\n{extra}", "<test>")


def tier(name: str, urls: list[str], *, window: int = 200000, more: str = "", dep: str = "") -> str:
    deps = "".join(
        f"\n      - {{provider: anthropic, base_url: '{u}', api_key: k{dep}}}" for u in urls
    )
    return (
        f"  - name: {name}\n    model: m-{name}\n    price_in: 1\n    price_out: 2\n"
        f"    context_window: {window}\n{more}    deployments:{deps}\n"
    )


def three_tiers(
    haiku: list[str], sonnet: list[str], opus: list[str], extra: str = "", more: str = ""
) -> Config:
    return config(
        tier("haiku", haiku, more=more)
        + tier("sonnet", sonnet, more=more)
        + tier("opus", opus, more=more),
        extra,
    )


def decision(tier_name: str) -> Decision:
    return Decision(tier_name, f"m-{tier_name}", 0.5, {}, "test", "test")


def req(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest.from_prompt(text, **kw)


FAST_RETRY = "retry: {backoff_base_s: 0.0, backoff_max_s: 0.0, jitter: 0.0}\n"
