"""Decide, per request, which fault (if any) the mock injects.

Faults come from two places: the process-wide :class:`MockConfig` (random, seeded)
and ``x-mock-*`` request headers (deterministic, so one server can serve many tests
with different behaviours at once). Headers always win over the config.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from tierwise.mock.config import MockConfig, Outcome

HEADER_PREFIX = "x-mock-"

SUPPORTED_HEADERS: dict[str, str] = {
    "x-mock-status": "force this HTTP error status (4xx/5xx) on the request",
    "x-mock-fail-first": "only the first N requests with the same x-mock-key fail "
    "(with x-mock-status, default 500); later ones succeed",
    "x-mock-key": "groups requests for x-mock-fail-first (default: the empty key)",
    "x-mock-latency-ms": "fixed delay before responding",
    "x-mock-ttft-ms": "delay before the first generated token",
    "x-mock-tokens-per-s": "generation speed (stream pacing); 0 = instant",
    "x-mock-hang-s": "stall this many seconds before answering (emulates a timeout)",
    "x-mock-disconnect-after": "streaming: drop the TCP connection after N SSE events; "
    "non-streaming: drop it before any response",
    "x-mock-stream-error-after": "streaming: after N events send the API's in-stream "
    "error event (x-mock-status picks its type, default 529/500) and end the stream",
    "x-mock-retry-after": "seconds for the retry-after header on 429/503/529",
    "x-mock-error-rate": "probability of a random fault from the configured mix",
    "x-mock-answer-tokens": "answer length in tokens for this request",
}


class FaultHeaderError(ValueError):
    """A malformed ``x-mock-*`` header; reported to the client as a 400."""


@dataclass(frozen=True, slots=True)
class Fault:
    """Everything the API handlers need to know to misbehave on one request."""

    status: int | None = None
    hang_s: float = 0.0
    delay_s: float = 0.0
    ttft_s: float = 0.0
    tokens_per_s: float = 0.0
    disconnect_after: int | None = None
    stream_error_after: int | None = None
    retry_after: float | None = 1.0
    answer_tokens: int = 16


class FaultInjector:
    """Turns config + request headers into a :class:`Fault`.

    Holds the only mutable fault state: the seeded RNG and the per-key counters
    behind ``x-mock-fail-first``. The server is single-threaded (one event loop),
    so plain dicts are safe.
    """

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._fail_counts: dict[str, int] = {}
        self._mix_outcomes = [o for o, _ in config.status_mix]
        self._mix_weights = [w for _, w in config.status_mix]
        self._base = Fault(
            delay_s=config.latency_ms / 1000.0,
            ttft_s=config.ttft_ms / 1000.0,
            tokens_per_s=config.tokens_per_s,
            retry_after=config.retry_after,
            answer_tokens=config.answer_tokens,
        )

    def reset(self) -> None:
        """Forget fail-first counters and re-seed, so a test run starts from scratch."""
        self._fail_counts.clear()
        self._rng = random.Random(self.config.seed)

    def decide(self, headers: Mapping[str, str]) -> Fault:
        """Return the fault for a request; raises FaultHeaderError on malformed headers."""
        fault = self._base
        error_rate = self.config.error_rate
        if any(k[:7].lower() == HEADER_PREFIX for k in headers):
            fault, error_rate, forced = self._from_headers(fault, headers, error_rate)
            if forced:
                return fault
        if error_rate > 0 and self._rng.random() < error_rate:
            outcome = self._rng.choices(self._mix_outcomes, self._mix_weights)[0]
            fault = self._apply_outcome(fault, outcome)
        return fault

    def _apply_outcome(self, fault: Fault, outcome: Outcome) -> Fault:
        if outcome == "hang":
            return replace(fault, hang_s=self.config.hang_s)
        if outcome == "disconnect":
            return replace(fault, disconnect_after=self.config.disconnect_after)
        return replace(fault, status=int(outcome))

    def _from_headers(
        self, fault: Fault, headers: Mapping[str, str], error_rate: float
    ) -> tuple[Fault, float, bool]:
        """Apply header overrides; the bool says a header already decided the outcome."""
        changes: dict[str, object] = {}
        if (v := headers.get("x-mock-latency-ms")) is not None:
            changes["delay_s"] = _num(v, "x-mock-latency-ms") / 1000.0
        if (v := headers.get("x-mock-ttft-ms")) is not None:
            changes["ttft_s"] = _num(v, "x-mock-ttft-ms") / 1000.0
        if (v := headers.get("x-mock-tokens-per-s")) is not None:
            changes["tokens_per_s"] = _num(v, "x-mock-tokens-per-s")
        if (v := headers.get("x-mock-hang-s")) is not None:
            changes["hang_s"] = _num(v, "x-mock-hang-s")
        if (v := headers.get("x-mock-retry-after")) is not None:
            changes["retry_after"] = _num(v, "x-mock-retry-after")
        if (v := headers.get("x-mock-answer-tokens")) is not None:
            changes["answer_tokens"] = max(1, int(_num(v, "x-mock-answer-tokens")))
        if (v := headers.get("x-mock-disconnect-after")) is not None:
            changes["disconnect_after"] = int(_num(v, "x-mock-disconnect-after"))
        if (v := headers.get("x-mock-stream-error-after")) is not None:
            changes["stream_error_after"] = int(_num(v, "x-mock-stream-error-after"))
        if (v := headers.get("x-mock-error-rate")) is not None:
            error_rate = _num(v, "x-mock-error-rate")

        status: int | None = None
        if (v := headers.get("x-mock-status")) is not None:
            status = int(_num(v, "x-mock-status"))
            if not 400 <= status <= 599:
                raise FaultHeaderError(f"x-mock-status must be 4xx/5xx, got {v!r}")
        forced = False
        if (v := headers.get("x-mock-fail-first")) is not None:
            limit = int(_num(v, "x-mock-fail-first"))
            key = headers.get("x-mock-key", "")
            seen = self._fail_counts.get(key, 0)
            self._fail_counts[key] = seen + 1
            forced = True  # fail-first is deterministic: never add random faults on top
            if seen < limit:
                changes["status"] = status or 500
        elif status is not None and "stream_error_after" not in changes:
            changes["status"] = status
            forced = True
        elif status is not None:
            # Status picks the in-stream error type; the HTTP response itself is a 200.
            changes["status"] = status
        if changes:
            fault = replace(fault, **changes)  # type: ignore[arg-type]
        return fault, error_rate, forced


def _num(value: str, name: str) -> float:
    try:
        out = float(value)
    except ValueError:
        raise FaultHeaderError(f"{name} must be a number, got {value!r}") from None
    if out < 0:
        raise FaultHeaderError(f"{name} must be >= 0, got {value!r}")
    return out
