"""OpenAI `chat.completion` objects, both ways: an upstream's answer -> ChatResponse, and
ChatResponse -> the object an OpenAI caller expects."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from tierwise.providers.base import ChatResponse, Usage
from tierwise.providers.openai_format.mapping import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    cached_prompt_tokens,
    chat_id,
    tool_call,
)
from tierwise.types import ContentBlock


def _parse_args(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        v = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"_raw_arguments": raw}
    return v if isinstance(v, dict) else {"value": v}


def parse_response(obj: Any) -> ChatResponse:
    """An upstream chat.completion object -> ChatResponse (first choice only)."""
    choices = obj.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[ContentBlock] = []
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": fn.get("name", ""),
                "input": _parse_args(fn.get("arguments")),
            }
        )
    usage = obj.get("usage") or {}
    finish = choice.get("finish_reason")
    return ChatResponse(
        id=obj.get("id", ""),
        model=obj.get("model", ""),
        content=content,
        stop_reason=FINISH_TO_STOP.get(finish, "end_turn") if finish else None,
        usage=Usage(
            usage.get("prompt_tokens") or 0,
            usage.get("completion_tokens") or 0,
            cache_read_input_tokens=cached_prompt_tokens(usage),
        ),
    )


def render_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    """ChatResponse -> the chat.completion object an OpenAI caller expects."""
    text = "".join(b.get("text", "") for b in resp.content if b.get("type") == "text")
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    calls = [tool_call(b) for b in resp.content if b.get("type") == "tool_use"]
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    u = resp.usage
    return {
        "id": chat_id(resp.id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": STOP_TO_FINISH.get(resp.stop_reason or "", "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cache_read_input_tokens},
        },
        "system_fingerprint": None,
    }


def render_choices(responses: Sequence[ChatResponse], model: str) -> dict[str, Any]:
    """Several answers to one request as one chat.completion (`n` > 1), choice i = answer i.

    Each answer came from its own upstream call, so usage sums all of them, prompt tokens
    included: that is what was read and billed (OpenAI's own `n` counts the prompt once).
    """
    out = render_response(responses[0], model)
    out["choices"] = [
        {**render_response(r, model)["choices"][0], "index": i} for i, r in enumerate(responses)
    ]
    prompt = sum(r.usage.input_tokens for r in responses)
    completion = sum(r.usage.output_tokens for r in responses)
    cached = sum(r.usage.cache_read_input_tokens for r in responses)
    out["usage"] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    return out
