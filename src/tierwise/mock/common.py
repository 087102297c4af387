"""Pieces shared by both API emulations: request stats, ids, delays, disconnects."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from tierwise.mock.config import MockConfig
from tierwise.mock.faults import Fault, FaultInjector

JSON_CT = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
STATUS_DROPPED = 0
"""Status recorded in stats when the connection was dropped before any status line."""


class Stats:
    """Per-process counters of what reached the "upstream", for tests to assert on.

    Every API request is recorded exactly once under (api, model, status). Streams cut
    by an injected disconnect keep their 200 but also count in ``disconnects``;
    requests whose client went away mid-handling count in ``cancelled``.
    """

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.disconnects: Counter[tuple[str, str]] = Counter()
        self.cancelled: Counter[tuple[str, str]] = Counter()
        self.in_flight = 0

    def record(self, api: str, model: str, status: int) -> None:
        self.requests[(api, model, status)] += 1

    def reset(self) -> None:
        self.requests.clear()
        self.disconnects.clear()
        self.cancelled.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "total": sum(self.requests.values()),
            "in_flight": self.in_flight,
            "requests": [
                {"api": a, "model": m, "status": s, "count": n}
                for (a, m, s), n in sorted(self.requests.items())
            ],
            "disconnects": [
                {"api": a, "model": m, "count": n} for (a, m), n in sorted(self.disconnects.items())
            ],
            "cancelled": [
                {"api": a, "model": m, "count": n} for (a, m), n in sorted(self.cancelled.items())
            ],
        }


def new_id(prefix: str, n_bytes: int = 12) -> str:
    """A random id in the provider's style (``msg_…``, ``chatcmpl-…``); cheap on purpose."""
    return prefix + os.urandom(n_bytes).hex()


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(obj), status=status, headers=headers, content_type=JSON_CT
    )


async def pre_response_delay(fault: Fault) -> None:
    """Hang (timeout emulation) and fixed latency, applied before any byte is sent."""
    delay = fault.hang_s + fault.delay_s
    if delay > 0:
        await asyncio.sleep(delay)


def generation_delay(fault: Fault, output_tokens: int) -> float:
    """How long a non-streaming answer takes to "generate" (TTFT + tokens at the set speed)."""
    delay = fault.ttft_s
    if fault.tokens_per_s > 0:
        delay += output_tokens / fault.tokens_per_s
    return delay


def drop_connection(request: web.BaseRequest) -> None:
    """Close the TCP connection so the client sees a truncated response / no response."""
    if request.transport is not None:
        request.transport.close()


async def injected_failure(
    request: web.BaseRequest,
    fault: Fault,
    stream: bool,
    fail: Callable[[int], web.Response],
) -> web.StreamResponse | None:
    """Apply a decided fault before any answer is produced: the delays, then an injected
    status (`fail` renders it in the API's error format) or a dropped link. None: answer."""
    await pre_response_delay(fault)
    if fault.status is not None and not (stream and fault.stream_error_after is not None):
        return fail(fault.status)
    if fault.disconnect_after is not None and not stream:
        drop_connection(request)
        return web.Response(status=204)  # never reaches the client: the link is closed
    return None


async def send_events(
    request: web.Request,
    resp: web.StreamResponse,
    events: list[bytes],
    fault: Fault,
    content: range,
) -> bool:
    """Write SSE events with the configured pacing; return False if we dropped the link.

    ``content`` holds the indices of events that carry generated tokens: TTFT is
    waited once before the first of them and ``1/tokens_per_s`` before each later one.
    Without pacing or faults everything goes out in a single write, because the
    mock is used in throughput benchmarks.
    """
    cut = fault.disconnect_after
    if cut is None and fault.ttft_s <= 0 and fault.tokens_per_s <= 0:
        await resp.write(b"".join(events))
        return True
    gap = 1.0 / fault.tokens_per_s if fault.tokens_per_s > 0 else 0.0
    for i, event in enumerate(events):
        if cut is not None and i >= cut:
            drop_connection(request)
            return False
        if i in content:
            if i == content.start:
                if fault.ttft_s > 0:
                    await asyncio.sleep(fault.ttft_s)
            elif gap > 0:
                await asyncio.sleep(gap)
        await resp.write(event)
    if cut is not None and cut <= len(events):
        drop_connection(request)
        return False
    return True


class MockState:
    """Everything a handler needs, stored once on the app (no module-level globals)."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.faults = FaultInjector(config)
        self.stats = Stats()


STATE: web.AppKey[MockState] = web.AppKey("tierwise_mock_state", MockState)


class Outcome:
    """What one API request turned into, filled in by the handler for the stats."""

    __slots__ = ("model", "status")

    def __init__(self) -> None:
        self.model = ""
        self.status = STATUS_DROPPED


Handler = Callable[[web.Request, MockState, Outcome], Awaitable[web.StreamResponse]]


def counted(api: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap an API handler so every request lands in the stats exactly once."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        stats = state.stats
        outcome = Outcome()
        stats.in_flight += 1
        try:
            return await handler(request, state, outcome)
        except asyncio.CancelledError:
            stats.cancelled[(api, outcome.model)] += 1
            raise
        finally:
            stats.in_flight -= 1
            stats.requests[(api, outcome.model, outcome.status)] += 1

    return wrapper


def sse_event(name: bytes, obj: Any) -> bytes:
    """One Anthropic-style SSE event (``event:`` + ``data:``)."""
    return b"event: " + name + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def sse_data(obj: Any) -> bytes:
    """One OpenAI-style SSE event (``data:`` only)."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


async def start_stream(request: web.Request, extra: dict[str, str]) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, **extra})
    await resp.prepare(request)
    return resp


async def read_json(request: web.Request) -> Any:
    """Parse the body; returns the sentinel ``INVALID_JSON`` instead of raising."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return INVALID_JSON


INVALID_JSON = object()


def text_of(content: Any) -> str:
    """Flatten message content (a string, or a list of text/tool_result parts) to text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if isinstance(block, dict):
            if isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif "content" in block:
                parts.append(text_of(block["content"]))
        elif isinstance(block, str):
            parts.append(block)
    return "\n".join(parts)
