"""Server-sent events: a minimal reader for upstream streams and writers for our own.

Only the parts both provider APIs use: `event:` and `data:` fields, events ended by a blank
line, comments ignored. Multi-line `data:` fields are joined with newlines as the spec says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from tierwise.providers.base import UpstreamError
from tierwise.providers.errors import redact


async def iter_sse(content: Any) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield `(event_name, data)` for each event of an aiohttp response body stream."""
    event: str | None = None
    data: list[bytes] = []
    async for raw in content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = None, []
            continue
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
        # ":" comments, "id:" and "retry:" fields carry nothing we use
    if data:
        yield event, b"\n".join(data)


def malformed_event(data: bytes, secret: str = "") -> UpstreamError:
    """An upstream stream event we cannot decode. A 502 like any bad upstream answer: before
    the first event it is retried elsewhere and counts towards a cooldown; later it ends the
    stream with an error event."""
    snippet = redact(data[:120].decode("utf-8", "replace"), secret)
    return UpstreamError(502, f"upstream sent a malformed stream event: {snippet!r}")


def error_from_event(event: dict[str, Any]) -> UpstreamError:
    """A canonical in-stream error event (`{"type": "error", "error": {type, message,
    status}}`, what dispatch ends a failed stream with) as the UpstreamError it stands for,
    so it is mapped to each caller's format and recorded like any other upstream error."""
    err = event.get("error")
    if not isinstance(err, dict):
        err = {}
    status = err.get("status")
    return UpstreamError(
        status if isinstance(status, int) else 500,
        str(err.get("message") or ""),
        error_type=str(err.get("type") or "api_error"),
    )


def anthropic_event(obj: dict[str, Any]) -> bytes:
    """One Anthropic-style SSE event: the event name repeats the data's `type`."""
    return b"event: " + obj["type"].encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def openai_data(obj: Any) -> bytes:
    """One OpenAI-style SSE event (`data:` only)."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


OPENAI_DONE = b"data: [DONE]\n\n"
