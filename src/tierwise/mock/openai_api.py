"""Emulation of the OpenAI Chat Completions API (``POST /v1/chat/completions``).

Follows the public reference: ``chat.completion`` objects, ``chat.completion.chunk``
SSE lines ending in ``data: [DONE]`` (with the ``choices: []`` usage chunk when
``stream_options.include_usage`` is set), and the ``{"error": {message, type,
param, code}}`` error envelope.
"""

from __future__ import annotations

import asyncio
import time
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
    sse_data,
    start_stream,
    text_of,
)
from tierwise.mock.faults import Fault, FaultHeaderError

API = "openai"
FINGERPRINT = "fp_mock"
DONE = b"data: [DONE]\n\n"
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_FINISH = {"end": "stop", "max_tokens": "length", "stop_sequence": "stop"}

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (mock)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (mock)."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported (mock).",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it (mock).",
    ),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (mock)."),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that! (mock)",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_body(
    status: int, message: str | None = None, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error envelope; unknown statuses map to a generic 4xx/5xx type."""
    etype, default_code, default_msg = _ERRORS.get(
        status,
        ("server_error", None, f"Upstream error {status} (mock).")
        if status >= 500
        else ("invalid_request_error", None, f"Request failed with status {status} (mock)."),
    )
    return {
        "error": {
            "message": message or default_msg,
            "type": etype,
            "param": param,
            "code": code if message else default_code,
        }
    }


def error_response(
    outcome: Outcome,
    status: int,
    message: str | None = None,
    param: str | None = None,
    code: str | None = None,
    fault: Fault | None = None,
) -> web.Response:
    outcome.status = status
    headers = {"x-request-id": new_id("req_mock")}
    if status == 429 and fault is not None and fault.retry_after is not None:
        retry = fault.retry_after
        headers["retry-after"] = str(int(retry)) if retry == int(retry) else f"{retry:g}"
    return json_response(error_body(status, message, param, code), status, headers)


def _validate(body: Any) -> tuple[str, str | None, str | None] | None:
    """Return (message, param, code) for an invalid request, else None."""
    if not isinstance(body, dict):
        return ("We could not parse the JSON body of your request.", None, None)
    if not isinstance(body.get("model"), str) or not body["model"]:
        return ("you must provide a model parameter", None, None)
    messages = body.get("messages")
    if messages is None:
        return ("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        return ("Invalid type for 'messages': expected an array.", "messages", "invalid_type")
    if not messages:
        return (
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in _ROLES:
            return (
                f"Invalid value: {role!r}. Supported values are: "
                + ", ".join(repr(r) for r in _ROLES)
                + ".",
                f"messages[{i}].role",
                "invalid_value",
            )
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            return (
                f"Invalid '{key}': integer below minimum value. Expected a value >= 1.",
                key,
                "integer_below_min_value",
            )
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (
            isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop)
        )
    ):
        return (
            "Invalid 'stop': expected a string or an array of at most 4 strings.",
            "stop",
            "invalid_type",
        )
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return ("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    return None


def _pick_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """Mock tool rule: forced by tool_choice, or asked for in the trailing user message."""
    tools = [
        t["function"]
        for t in body.get("tools") or ()
        if isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ]
    if not tools:
        return None
    choice = body.get("tool_choice", "auto")
    if choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t["name"] == name), tools[0])
    if choice == "required":
        return tools[0]
    last = body["messages"][-1]
    if last["role"] != "user":
        return None  # e.g. answering a tool result: finish with text
    return tools[0] if answers.wants_tool(text_of(last.get("content"))) else None


def _prompt(body: dict[str, Any]) -> str:
    for msg in reversed(body["messages"]):
        if msg["role"] == "user":
            return text_of(msg.get("content"))
    return ""


def _input_tokens(body: dict[str, Any]) -> int:
    chars = sum(len(text_of(m.get("content"))) for m in body["messages"])
    if body.get("tools"):
        chars += len(orjson.dumps(body["tools"]))
    return max(1, -(-chars // answers.CHARS_PER_TOKEN))


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def chat_completions(
    request: web.Request, state: MockState, outcome: Outcome
) -> web.StreamResponse:
    """``POST /v1/chat/completions``: auth, validation, faults, then a (streamed) answer."""
    config = state.config
    if config.require_api_key:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return error_response(
                outcome,
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
    body = await read_json(request)
    if body is INVALID_JSON:
        return error_response(outcome, 400, "We could not parse the JSON body of your request.")
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        outcome.model = body["model"]
    problem = _validate(body)
    if problem is not None:
        return error_response(outcome, 400, *problem)
    try:
        fault = state.faults.decide(request.headers)
    except FaultHeaderError as exc:
        return error_response(outcome, 400, str(exc), code="invalid_mock_header")

    stream = bool(body.get("stream"))
    early = await injected_failure(
        request, fault, stream, lambda status: error_response(outcome, status, fault=fault)
    )
    if early is not None:
        return early

    model = body["model"]
    prompt_tokens = _input_tokens(body)
    window = config.context_window
    if window is not None and prompt_tokens > window:
        return error_response(
            outcome,
            400,
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
            "messages",
            "context_length_exceeded",
        )
    tool = _pick_tool(body)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if tool is not None:
        args_json = orjson.dumps(answers.tool_input(tool.get("parameters"))).decode()
        call = {
            "id": new_id("call_mock"),
            "type": "function",
            "function": {"name": tool["name"], "arguments": args_json},
        }
        completion_tokens = answers.count_tokens(tool["name"] + args_json) + 1
        finish, pieces, content = "tool_calls", (), None
    else:
        done = answers.complete(model, _prompt(body), fault.answer_tokens, max_tokens, stop)
        call, args_json = None, ""
        completion_tokens = done.output_tokens
        finish, pieces, content = _FINISH[done.stop], done.pieces, done.text

    cid = new_id("chatcmpl-mock")
    created = int(time.time())
    extra = {"x-request-id": new_id("req_mock")}
    if not stream:
        delay = generation_delay(fault, completion_tokens)
        if delay > 0:
            await asyncio.sleep(delay)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": [],
        }
        if call is not None:
            message["tool_calls"] = [call]
        outcome.status = 200
        return json_response(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": _usage(prompt_tokens, completion_tokens),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            },
            headers=extra,
        )

    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
    base: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return sse_data(
            {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
        )

    if call is not None:
        first = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": tool["name"], "arguments": ""},
                }
            ],
        }  # type: ignore[index]
        deltas = [
            {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
            for part in answers.split_json(args_json, 4)
        ]
    else:
        first = {"role": "assistant", "content": "", "refusal": None}
        deltas = [{"content": piece} for piece in pieces]
    events = [chunk(first)]
    events.extend(chunk(d) for d in deltas)
    events.append(chunk({}, finish))
    if include_usage:
        events.append(
            sse_data({**base, "choices": [], "usage": _usage(prompt_tokens, completion_tokens)})
        )
    events.append(DONE)
    if fault.stream_error_after is not None:
        events = events[: fault.stream_error_after]
        events.append(sse_data(error_body(fault.status or 500)))

    resp = await start_stream(request, extra)
    outcome.status = 200
    if not await send_events(request, resp, events, fault, range(1, 1 + len(deltas))):
        state.stats.disconnects[(API, model)] += 1
        return resp
    await resp.write_eof()
    return resp
