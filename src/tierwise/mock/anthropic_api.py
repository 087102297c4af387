"""Emulation of the Anthropic Messages API (``POST /v1/messages``).

Wire format follows the public API reference: the ``message`` object, the SSE event
sequence (``message_start`` … ``message_stop`` with ``ping``), and the
``{"type": "error", "error": {...}}`` error envelope with a ``request_id``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from tierwise.mock import answers
from tierwise.mock.common import (
    INVALID_JSON,
    MockState,
    Outcome,
    generation_delay,
    injected_failure,
    json_response,
    new_id,
    read_json,
    send_events,
    sse_event,
    start_stream,
    text_of,
)
from tierwise.mock.faults import Fault, FaultHeaderError

API = "anthropic"

_ERROR_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (mock)"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low (mock)"),
    403: ("permission_error", "Your API key does not have permission (mock)"),
    404: ("not_found_error", "Not found (mock)"),
    413: ("request_too_large", "Request exceeds the maximum allowed size (mock)"),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit (mock)"),
    500: ("api_error", "Internal server error (mock)"),
    504: ("timeout_error", "Request timed out (mock)"),
    529: ("overloaded_error", "Overloaded"),
}

_STOP_REASONS = {"end": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence"}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """The Anthropic error envelope; unknown statuses map to the nearest generic type."""
    etype, default = _ERROR_TYPES.get(
        status,
        ("api_error", "Internal server error (mock)")
        if status >= 500
        else ("invalid_request_error", "Invalid request (mock)"),
    )
    return {
        "type": "error",
        "error": {"type": etype, "message": message or default},
        "request_id": new_id("req_mock"),
    }


def error_response(
    outcome: Outcome, status: int, message: str | None = None, fault: Fault | None = None
) -> web.Response:
    outcome.status = status
    body = error_body(status, message)
    headers = {"request-id": body["request_id"]}
    if status == 429 and fault is not None and fault.retry_after is not None:
        headers["retry-after"] = _fmt_seconds(fault.retry_after)
    if status == 401:
        headers["x-should-retry"] = "false"
    return json_response(body, status, headers)


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _validate(body: Any) -> str | None:
    """Return an API-style validation message, or None if the request is acceptable."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    model = body.get("model")
    if model is None:
        return "model: Field required"
    if not isinstance(model, str) or not model:
        return "model: Input should be a valid string"
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be a valid integer greater than or equal to 1"
    messages = body.get("messages")
    if messages is None:
        return "messages: Field required"
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if not isinstance(msg.get("content"), str | list):
            return f"messages.{i}.content: Field required"
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        return "stop_sequences: Input should be a valid list of strings"
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float) or not 0 <= temperature <= 1
    ):
        return "temperature: Input should be less than or equal to 1"
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return "tools: Input should be a valid list"
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        return "stream: Input should be a valid boolean"
    return None


def _input_tokens(body: dict[str, Any]) -> int:
    chars = len(text_of(body.get("system")))
    for msg in body["messages"]:
        chars += len(text_of(msg["content"]))
    if body.get("tools"):
        chars += len(orjson.dumps(body["tools"]))
    return max(1, -(-chars // answers.CHARS_PER_TOKEN))


def _pick_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """Apply the mock's tool rule: forced by tool_choice, or asked for in the last user text."""
    tools = body.get("tools")
    if not tools:
        return None
    choice = body.get("tool_choice") or {}
    kind = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
    if kind == "none":
        return None
    usable = [t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
    if not usable:
        return None
    if kind == "tool":
        return next((t for t in usable if t["name"] == choice.get("name")), usable[0])
    if kind == "any":
        return usable[0]
    last = body["messages"][-1]
    if last["role"] != "user":
        return None
    content = last["content"]
    if isinstance(content, list):
        if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return None  # answering a tool result: finish with text, like a real agent turn
        content = [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return usable[0] if answers.wants_tool(text_of(content)) else None


def _prompt(body: dict[str, Any]) -> str:
    for msg in reversed(body["messages"]):
        if msg["role"] == "user":
            return text_of(msg["content"])
    return ""


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


async def messages(request: web.Request, state: MockState, outcome: Outcome) -> web.StreamResponse:
    """``POST /v1/messages``: auth, validation, fault injection, then a (streamed) answer."""
    config = state.config
    headers = request.headers
    if config.require_api_key and not (
        headers.get("x-api-key") or headers.get("authorization", "").startswith("Bearer ")
    ):
        return error_response(outcome, 401, "x-api-key header is required")
    if config.require_anthropic_version and not headers.get("anthropic-version"):
        return error_response(outcome, 400, "anthropic-version: header is required")
    body = await read_json(request)
    if body is INVALID_JSON:
        return error_response(
            outcome, 400, "There was an issue with your request body: invalid JSON"
        )
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        outcome.model = body["model"]
    problem = _validate(body)
    if problem is not None:
        return error_response(outcome, 400, problem)
    try:
        fault = state.faults.decide(headers)
    except FaultHeaderError as exc:
        return error_response(outcome, 400, str(exc))

    stream = bool(body.get("stream"))
    early = await injected_failure(
        request, fault, stream, lambda status: error_response(outcome, status, fault=fault)
    )
    if early is not None:
        return early

    model = body["model"]
    input_tokens = _input_tokens(body)
    window = config.context_window
    if window is not None and input_tokens > window:
        return error_response(
            outcome, 400, f"prompt is too long: {input_tokens} tokens > {window} maximum"
        )
    tool = _pick_tool(body)
    msg_id = new_id("msg_mock")
    if tool is not None:
        args = answers.tool_input(tool.get("input_schema"))
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": new_id("toolu_mock"),
            "name": tool["name"],
            "input": args,
        }
        args_json = orjson.dumps(args).decode()
        output_tokens = answers.count_tokens(tool["name"] + args_json) + 1
        stop_reason, stop_sequence = "tool_use", None
        pieces: tuple[str, ...] = ()
    else:
        done = answers.complete(
            model,
            _prompt(body),
            fault.answer_tokens,
            body["max_tokens"],
            body.get("stop_sequences"),
        )
        pieces = done.pieces
        block = {"type": "text", "text": done.text}
        args_json = ""
        output_tokens = done.output_tokens
        stop_reason, stop_sequence = _STOP_REASONS[done.stop], done.stop_sequence

    extra = {"request-id": new_id("req_mock")}
    if not stream:
        delay = generation_delay(fault, output_tokens)
        if delay > 0:
            await asyncio.sleep(delay)
        outcome.status = 200
        return json_response(
            {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop_reason,
                "stop_sequence": stop_sequence,
                "usage": _usage(input_tokens, output_tokens),
            },
            headers=extra,
        )

    events = _stream_events(
        msg_id,
        model,
        block,
        pieces,
        args_json,
        stop_reason,
        stop_sequence,
        input_tokens,
        output_tokens,
    )
    n_deltas = len(events) - 6
    if fault.stream_error_after is not None:
        status = fault.status or 529
        events = events[: fault.stream_error_after]
        events.append(
            sse_event(b"error", {k: v for k, v in error_body(status).items() if k != "request_id"})
        )
    resp = await start_stream(request, extra)
    outcome.status = 200
    if not await send_events(request, resp, events, fault, range(3, 3 + n_deltas)):
        state.stats.disconnects[(API, model)] += 1
        return resp
    await resp.write_eof()
    return resp


def _stream_events(
    msg_id: str,
    model: str,
    block: dict[str, Any],
    pieces: tuple[str, ...],
    args_json: str,
    stop_reason: str,
    stop_sequence: str | None,
    input_tokens: int,
    output_tokens: int,
) -> list[bytes]:
    """The full SSE sequence for one answer; index 3 onwards are the content deltas."""
    start_usage = _usage(input_tokens, 1)
    events = [
        sse_event(
            b"message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
    ]
    if block["type"] == "tool_use":
        start_block = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": part}
            for part in answers.split_json(args_json, 4)
        ]
    else:
        start_block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
    events.append(
        sse_event(
            b"content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": start_block},
        )
    )
    events.append(sse_event(b"ping", {"type": "ping"}))
    events.extend(
        sse_event(b"content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
        for d in deltas
    )
    events.append(sse_event(b"content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        sse_event(
            b"message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    events.append(sse_event(b"message_stop", {"type": "message_stop"}))
    return events
