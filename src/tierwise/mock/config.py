"""Configuration for the mock upstream, shared by the CLI, the app factory and tests."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MODELS: tuple[str, ...] = (
    "claude-haiku-4-5",
    "claude-sonnet-4-5",
    "claude-opus-4-1",
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "gpt-4.1",
)

Outcome = int | str
"""An injected fault: an HTTP status code, or ``"hang"`` / ``"disconnect"``."""


@dataclass(slots=True)
class MockConfig:
    """Process-wide defaults; every fault knob can also be overridden per request by header.

    Delays are in the units a human would type on the command line (ms, s) so the
    CLI flags map one-to-one onto fields.
    """

    answer_tokens: int = 16
    """Length of every answer in tokens, before ``max_tokens``/stop sequences cut it."""
    context_window: int | None = None
    """Prompts longer than this many tokens get each API's real context-overflow 400;
    None: no limit."""
    latency_ms: float = 0.0
    """Fixed delay before the response (or stream) starts; applies to errors too."""
    ttft_ms: float = 0.0
    """Extra delay before the first generated token (after ``message_start`` when streaming)."""
    tokens_per_s: float = 0.0
    """Generation speed. Streams are paced at this rate; non-streaming responses wait
    ``output_tokens / tokens_per_s``. 0 means instant."""
    error_rate: float = 0.0
    """Probability that a request gets an injected fault drawn from ``status_mix``."""
    status_mix: tuple[tuple[Outcome, float], ...] = ((500, 1.0),)
    """Weighted faults to draw from when a request is chosen to fail."""
    retry_after: float | None = 1.0
    """Seconds sent in ``retry-after`` on injected 429s (and 529/503s); None omits it."""
    hang_s: float = 30.0
    """How long a ``hang`` fault stalls before answering normally (emulates a timeout)."""
    disconnect_after: int = 2
    """For a random ``disconnect`` fault on a stream: SSE events sent before the drop."""
    seed: int | None = None
    """Seed for the fault RNG; with one client issuing requests serially, runs repeat."""
    require_api_key: bool = True
    """Reject requests without ``x-api-key`` (Anthropic) / ``Authorization: Bearer`` (OpenAI)."""
    require_anthropic_version: bool = True
    """Reject Anthropic requests without the ``anthropic-version`` header, as the real API does."""
    models: tuple[str, ...] = field(default=DEFAULT_MODELS)
    """Model ids listed by ``GET /v1/models``; any model id is accepted on requests."""


def parse_status_mix(spec: str) -> tuple[tuple[Outcome, float], ...]:
    """Parse ``"429:0.5,500:0.3,hang:0.1,disconnect:0.1"`` into weighted outcomes.

    Weights are relative (they need not sum to 1). Raises ValueError on bad input so the
    CLI can report it instead of silently injecting the wrong faults.
    """
    out: list[tuple[Outcome, float]] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, weight_s = part.partition(":")
        try:
            weight = float(weight_s) if sep else 1.0
        except ValueError:
            raise ValueError(
                f"status mix entry {part!r}: weight {weight_s!r} is not a number "
                "(expected e.g. 429:0.5)"
            ) from None
        if weight < 0:
            raise ValueError(f"negative weight in status mix: {part!r}")
        name = name.strip().lower()
        if name in ("hang", "disconnect"):
            out.append((name, weight))
            continue
        try:
            status = int(name)
        except ValueError:
            raise ValueError(
                f"status mix entry {part!r}: {name!r} is not a status code, 'hang' or 'disconnect'"
            ) from None
        if not 400 <= status <= 599:
            raise ValueError(f"status must be 4xx/5xx, got {status}")
        out.append((status, weight))
    if not out or sum(w for _, w in out) <= 0:
        raise ValueError(f"empty status mix: {spec!r}")
    return tuple(out)
