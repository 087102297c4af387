"""What happened to one request, and its accounting: the x-tierwise-* headers, the metrics
and one ledger row. Shared by the chat endpoints and the small ones (`/v1/route`)."""

from __future__ import annotations

import os
import time
from time import perf_counter
from typing import TYPE_CHECKING, Any

from tierwise.server.state import GatewayState
from tierwise.types import Decision, estimate_tokens

if TYPE_CHECKING:
    from tierwise.dispatch.result import DispatchResult, StreamDispatch
    from tierwise.providers.base import Usage


def new_request_id() -> str:
    return "twr_" + os.urandom(12).hex()


class Outcome:
    """What happened to one request: feeds the headers, the metrics and the ledger row."""

    __slots__ = (
        "api",
        "cache_read",
        "cache_write",
        "complexity",
        "deployment_id",
        "error_class",
        "extra_calls",
        "extra_headers",
        "fallback_reason",
        "input_tokens",
        "model",
        "output_tokens",
        "overhead_s",
        "prices",
        "prompt_chars",
        "reason",
        "request_id",
        "requested_model",
        "router",
        "scores",
        "sse",
        "status",
        "streamed",
        "t0",
        "tier",
        "ts",
        "ttft_ms",
        "upstream_s",
    )

    def __init__(self, api: str) -> None:
        self.api = api
        self.t0 = perf_counter()
        self.ts = time.time()
        self.request_id = new_request_id()
        self.tier = self.model = self.router = self.deployment_id = self.requested_model = ""
        self.reason = ""
        self.complexity = 0.0
        self.scores: dict[str, float] = {}
        self.prompt_chars = 0
        self.input_tokens = self.output_tokens = 0
        self.cache_read = self.cache_write = 0  # prompt-cache parts of input_tokens
        self.status = 500
        self.error_class: str | None = None
        self.streamed = False
        self.fallback_reason: str | None = None
        self.upstream_s = 0.0
        self.overhead_s = -1.0
        self.ttft_ms: float | None = None
        # Upstream calls besides the answer's (a cascade's rejected answers, its classifier):
        # (tier, input_tokens, output_tokens), added to the row's tokens and cost.
        self.extra_calls: list[tuple[str, int, int]] | None = None
        self.extra_headers: dict[str, str] | None = None
        # USD / M on the deployment that answered (input, output, prompt-cache reads);
        # None, or a None inside: the tier's price
        self.prices: tuple[float | None, float | None, float | None] | None = None
        # The prepared SSE response, once a stream is on the wire (no second response then).
        self.sse: Any = None

    def decided(self, d: Decision) -> None:
        self.tier, self.model, self.router = d.tier, d.model, d.router
        self.complexity, self.scores, self.reason = d.complexity, d.scores, d.reason

    def served_by(self, d: DispatchResult | StreamDispatch) -> None:
        """Who answered: the tier, model and deployment dispatch ended on, and their prices."""
        self.tier, self.model, self.deployment_id = d.tier, d.model, d.deployment_id
        self.fallback_reason = d.fallback_reason
        self.prices = d.price_in, d.price_out, d.price_cache_read

    def counted(self, usage: Usage) -> None:
        """The answer's tokens, prompt-cache reads and writes included."""
        self.input_tokens, self.output_tokens = usage.input_tokens, usage.output_tokens
        self.cache_read = usage.cache_read_input_tokens
        self.cache_write = usage.cache_creation_input_tokens

    def headers(self) -> dict[str, str]:
        """The x-tierwise-* headers; freezes our overhead at this moment."""
        self.overhead_s = perf_counter() - self.t0 - self.upstream_s
        h = {
            "x-tierwise-tier": self.tier or "none",
            "x-tierwise-model": self.model or "none",
            "x-tierwise-router": self.router or "none",
            "x-tierwise-request-id": self.request_id,
            "x-tierwise-overhead-ms": f"{self.overhead_s * 1000:.3f}",
        }
        if self.reason:
            h["x-tierwise-complexity"] = f"{self.complexity:.4f}"
            h["x-tierwise-reason"] = self.reason.encode("ascii", "replace").decode()[:300]
        if self.fallback_reason:
            h["x-tierwise-fallback"] = self.fallback_reason.encode("ascii", "replace").decode()
        if self.extra_headers:
            h.update(self.extra_headers)
        if self.api == "anthropic":
            h["request-id"] = self.request_id
        else:
            h["x-request-id"] = self.request_id
        return h


def finish(state: GatewayState, o: Outcome, end: float) -> None:
    """Metrics and the ledger row; runs once per request, after the response is written
    (scheduled with call_soon, so its ~10 us are not added to the caller's latency)."""
    latency_s = end - o.t0
    if o.overhead_s < 0:  # never sent headers (e.g. the client went away first)
        o.overhead_s = latency_s - o.upstream_s
    cost = state.cost(
        o.tier, o.input_tokens, o.output_tokens, o.prices, o.cache_read, o.cache_write
    )
    if o.extra_calls:  # every call is billed, so it counts: tokens and cost of all of them
        for tier, tokens_in, tokens_out in o.extra_calls:
            cost += state.cost(tier, tokens_in, tokens_out)
            o.input_tokens += tokens_in
            o.output_tokens += tokens_out
    state.metrics.observe(
        o.api,
        o.tier,
        o.model,
        o.router,
        o.status,
        o.error_class,
        o.input_tokens,
        o.output_tokens,
        cost,
        latency_s,
        o.overhead_s,
    )
    if state.ledger is None:
        return
    from tierwise.ledger.row import LedgerRow

    state.record(
        LedgerRow(
            request_id=o.request_id,
            ts=o.ts,
            api=o.api,
            tier=o.tier,
            model=o.model,
            deployment_id=o.deployment_id,
            router=o.router,
            complexity=o.complexity,
            scores=o.scores,
            prompt_chars=o.prompt_chars,
            prompt_tokens=estimate_tokens(o.prompt_chars),
            input_tokens=o.input_tokens,
            output_tokens=o.output_tokens,
            cost_usd=cost,
            latency_ms=latency_s * 1000.0,
            ttft_ms=o.ttft_ms,
            overhead_ms=o.overhead_s * 1000.0,
            status=o.status,
            error_class=o.error_class,
            streamed=o.streamed,
            fallback_reason=o.fallback_reason,
            requested_model=o.requested_model,
        )
    )
