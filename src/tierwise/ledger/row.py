"""One ledger row per request: what was asked, where it went, what it cost, how it went.

A plain slotted dataclass so the server can build one in well under a microsecond; turning it
into database values (JSON for scores) happens later, on the flusher, never on the caller's path.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any


@dataclass(slots=True)
class LedgerRow:
    request_id: str
    ts: float  # unix seconds when the request arrived
    api: str  # "openai" | "anthropic" (the front end the client used)
    tier: str
    model: str
    deployment_id: str
    router: str
    complexity: float
    scores: dict[str, float]
    prompt_chars: int
    prompt_tokens: int  # our estimate at routing time
    input_tokens: int  # as reported by the provider
    output_tokens: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None
    overhead_ms: float
    status: int
    error_class: str | None
    streamed: bool
    fallback_reason: str | None
    requested_model: str


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(LedgerRow))
SCORES_INDEX = COLUMNS.index("scores")
STREAMED_INDEX = COLUMNS.index("streamed")
_values = attrgetter(*COLUMNS)


def row_values(row: LedgerRow) -> list[Any]:
    """Column values in COLUMNS order, scores as JSON text (the form both databases store)."""
    import orjson

    values = list(_values(row))
    values[SCORES_INDEX] = orjson.dumps(values[SCORES_INDEX]).decode()
    return values


def row_from_values(values: tuple[Any, ...] | list[Any]) -> LedgerRow:
    """The inverse of row_values, for reading rows back (tests, exports)."""
    import orjson

    v = list(values)
    v[SCORES_INDEX] = orjson.loads(v[SCORES_INDEX]) if v[SCORES_INDEX] else {}
    v[STREAMED_INDEX] = bool(v[STREAMED_INDEX])
    return LedgerRow(*v)
