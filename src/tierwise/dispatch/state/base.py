"""The small interface dispatch keeps its shared state behind: memory or Redis.

Reads on the hot path (health, in-flight, latency, headroom) are synchronous and local: a Redis
backend serves them from a view it refreshes in the background. Only the two decisions that
must be globally atomic are async: admitting a call under an rpm/tpm limit, and claiming the
single half-open probe of a deployment coming out of cooldown.
"""

from __future__ import annotations

from typing import Protocol

HEALTHY = 0
COOLING = 1  # skipped until its cooldown ends (or while its half-open probe is in flight)
HALF_OPEN = 2  # cooldown over: the next call is a probe that decides re-admission


class StateBackend(Protocol):
    name: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    # --- rate limits (token buckets refilled continuously: rpm/60 requests per second)
    async def acquire(self, dep_id: str, rpm: int | None, tpm: int | None, tokens: int) -> float:
        """Admit one call costing `tokens`: 0.0 if admitted (and counted), else the seconds
        until it would be."""
        ...

    def charge(self, dep_id: str, tpm: int, tokens: int) -> None:
        """Debit tokens learnt after the call (the answer's output tokens)."""
        ...

    def headroom(self, dep_id: str, rpm: int | None, tpm: int | None) -> float:
        """Share of the tightest limit still free, in [0, 1]; 1.0 without limits."""
        ...

    # --- cooldowns
    def health(self, dep_id: str, now: float) -> int: ...
    def cooldown_left(self, dep_id: str, now: float) -> float: ...
    def panic_ok(self, dep_id: str) -> bool:
        """May a cooling deployment take a last-resort call? Not if it answered 429."""
        ...

    async def claim_probe(self, dep_id: str, now: float, timeout_s: float) -> bool: ...
    def record_success(self, dep_id: str, now: float) -> None: ...
    def record_failure(
        self, dep_id: str, now: float, status: int, retry_after: float | None
    ) -> float:
        """Count a failure; returns the cooldown (seconds) it started, or 0.0."""
        ...

    # --- load and latency
    def begin(self, dep_id: str) -> None: ...
    def end(self, dep_id: str) -> None: ...
    def inflight(self, dep_id: str) -> int: ...
    def record_latency(self, dep_id: str, stream: bool, seconds: float) -> None: ...
    def latency(self, dep_id: str, stream: bool) -> float | None: ...
