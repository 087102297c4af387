"""OpenAI request bodies, both ways: a caller's body -> ChatRequest (checked by hand, errors
name the field) and ChatRequest -> the body an OpenAI-compatible upstream accepts.

Both directions live here so a field's mapping is written once: system/developer messages <->
`system`; `tool` messages <-> `tool_result` blocks; `tool_calls` <-> `tool_use` blocks;
`image_url` parts <-> `image` blocks (data: URLs become base64 sources).
"""

from __future__ import annotations

from typing import Any

import orjson

from tierwise.providers.errors import RequestError
from tierwise.providers.openai_format.mapping import tool_call
from tierwise.types import ChatRequest, ContentBlock, Message

_MODELLED = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "tools",
        "tool_choice",
    }
)
# Body fields the Chat Completions API (and vLLM/Ollama/OpenRouter) accept beyond the modelled
# ones; anything else a caller sends is dropped rather than forwarded.
ACCEPTED_EXTRA = frozenset(
    {
        "seed",
        "response_format",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "user",
        "parallel_tool_calls",
        "reasoning_effort",
        "service_tier",
        "metadata",
        "store",
        "modalities",
        "prediction",
        "audio",
        "verbosity",
        "web_search_options",
        "safety_identifier",
        "prompt_cache_key",
    }
)
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_N = 16  # choices per request; each one is a separate upstream call


# --------------------------------------------------------------------------- caller side: parse


def _text_parts(content: Any, where: str) -> str:
    """System/developer/tool content: a string or a list of text parts -> one string."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("text"), str):
                raise RequestError("expected a text part {type: 'text', text}", f"{where}[{j}]")
            out.append(part["text"])
        return "\n".join(out)
    if content is None:
        return ""
    raise RequestError("expected a string or an array of text parts", where)


def _image_block(url: str) -> ContentBlock:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";", 1)[0] or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any, where: str) -> str | list[ContentBlock]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError("expected a string or an array of content parts", where)
    blocks: list[ContentBlock] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise RequestError("expected image_url.url to be a string", f"{where}[{j}]")
            blocks.append(_image_block(url))
        else:
            raise RequestError(
                f"unsupported content part type {kind!r}; expected 'text' or 'image_url'",
                f"{where}[{j}].type",
            )
    return blocks


def _tool_calls(calls: Any, where: str) -> list[ContentBlock]:
    if not isinstance(calls, list):
        raise RequestError("expected an array", where)
    blocks: list[ContentBlock] = []
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RequestError(
                "expected {id, type: 'function', function: {name, arguments}}", f"{where}[{j}]"
            )
        args = fn.get("arguments") or "{}"
        try:
            parsed = orjson.loads(args) if isinstance(args, str) else args
        except orjson.JSONDecodeError:
            raise RequestError(
                "arguments is not valid JSON", f"{where}[{j}].function.arguments"
            ) from None
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"call_{j}",
                "name": fn["name"],
                "input": parsed if isinstance(parsed, dict) else {},
            }
        )
    return blocks


def _ends_with_tool_results(messages: list[Message]) -> bool:
    last = messages[-1] if messages else None
    return (
        last is not None
        and last.role == "user"
        and isinstance(last.content, list)
        and any(b.get("type") == "tool_result" for b in last.content)
    )


def _append_user(messages: list[Message], blocks: list[ContentBlock]) -> None:
    """Tool results must share one user turn (Anthropic's rule); merge into a trailing one."""
    if _ends_with_tool_results(messages):
        messages[-1] = Message("user", [*messages[-1].content, *blocks])  # type: ignore[misc]
    else:
        messages.append(Message("user", blocks))


def _parse_messages(raw: Any) -> tuple[list[Message], str | None]:
    if raw is None:
        raise RequestError(
            "Missing required parameter: 'messages'.", "messages", code="missing_required_parameter"
        )
    if not isinstance(raw, list) or not raw:
        raise RequestError(
            "Invalid 'messages': expected a non-empty array.", "messages", code="invalid_type"
        )
    system: list[str] = []
    messages: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise RequestError("expected an object", where, code="invalid_type")
        role = m.get("role")
        if role not in _ROLES:
            raise RequestError(
                f"Invalid value: {role!r}. Supported values are: {', '.join(_ROLES)}.",
                f"{where}.role",
                code="invalid_value",
            )
        content = m.get("content")
        if role in ("system", "developer"):
            system.append(_text_parts(content, f"{where}.content"))
        elif role == "user":
            c = _user_blocks(content, f"{where}.content")
            if _ends_with_tool_results(messages):
                _append_user(messages, [{"type": "text", "text": c}] if isinstance(c, str) else c)
            else:
                messages.append(Message("user", c))
        elif role == "assistant":
            text = _text_parts(content, f"{where}.content") if content is not None else ""
            calls = m.get("tool_calls")
            if calls:
                blocks: list[ContentBlock] = [{"type": "text", "text": text}] if text else []
                blocks.extend(_tool_calls(calls, f"{where}.tool_calls"))
                messages.append(Message("assistant", blocks))
            else:
                messages.append(Message("assistant", text))
        else:  # tool / legacy function result
            call_id = m.get("tool_call_id") if role == "tool" else m.get("name")
            if not isinstance(call_id, str):
                field = "tool_call_id" if role == "tool" else "name"
                raise RequestError(
                    "Missing required parameter",
                    f"{where}.{field}",
                    code="missing_required_parameter",
                )
            result = {
                "type": "tool_result",
                "tool_use_id": call_id,
                "content": _text_parts(content, f"{where}.content"),
            }
            _append_user(messages, [result])
    return messages, ("\n\n".join(system) if system else None)


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise RequestError(
            "Invalid type for 'tools': expected an array.", "tools", code="invalid_type"
        )
    out = []
    for i, t in enumerate(raw):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RequestError(
                "expected {type: 'function', function: {name, parameters}}", f"tools[{i}]"
            )
        tool: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            tool["description"] = fn["description"]
        out.append(tool)
    return out or None


def _tool_choice(raw: Any, parallel: Any) -> dict[str, Any] | None:
    if raw is None:
        choice = None
    elif raw in ("auto", "none"):
        choice = {"type": raw}
    elif raw == "required":
        choice = {"type": "any"}
    elif isinstance(raw, dict) and isinstance((raw.get("function") or {}).get("name"), str):
        choice = {"type": "tool", "name": raw["function"]["name"]}
    else:
        raise RequestError(
            "expected 'auto', 'none', 'required' or {type: 'function', function: {name}}",
            "tool_choice",
        )
    if parallel is False:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return choice


def _opt_number(body: dict[str, Any], key: str) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise RequestError(
            f"Invalid type for '{key}': expected a number.", key, code="invalid_type"
        )
    return float(v)


def parse_request(body: Any) -> ChatRequest:
    """A parsed `POST /v1/chat/completions` body -> ChatRequest; RequestError names the field."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str):
        raise RequestError(
            "you must provide a model parameter"
            if model is None
            else "Invalid type for 'model': expected a string.",
            "model",
        )
    messages, system = _parse_messages(body.get("messages"))
    max_key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    max_tokens = body.get(max_key)
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise RequestError(
            f"Invalid '{max_key}': expected an integer >= 1.", max_key, code="invalid_value"
        )
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    elif stop is not None and (
        not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
    ):
        raise RequestError(
            "Invalid 'stop': expected a string or an array of strings.", "stop", code="invalid_type"
        )
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise RequestError(
            "Invalid type for 'stream': expected a boolean.", "stream", code="invalid_type"
        )
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N):
        raise RequestError(
            f"Invalid 'n': expected an integer from 1 to {MAX_N}.", "n", code="invalid_value"
        )
    if n is not None and n > 1 and stream:
        raise RequestError(
            "'n' > 1 is supported without streaming only: tierwise gets each choice with its "
            "own upstream call. Send stream: false, or n: 1.",
            "n",
            code="unsupported_value",
        )
    extra = {k: v for k, v in body.items() if k not in _MODELLED}
    extra["_api"] = "openai"
    if max_key == "max_completion_tokens":
        extra["_max_key"] = max_key
    return ChatRequest(
        messages=messages,
        model=model,
        system=system,
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        max_tokens=max_tokens,
        temperature=_opt_number(body, "temperature"),
        top_p=_opt_number(body, "top_p"),
        stop=stop or None,
        stream=stream,
        extra=extra,
    )


# --------------------------------------------------------------------------- upstream side


def _image_url(block: ContentBlock) -> str:
    src = block.get("source") or {}
    if src.get("type") == "base64":
        return f"data:{src.get('media_type', 'image/png')};base64,{src.get('data', '')}"
    return src.get("url", "")


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


def _messages_out(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for m in request.messages:
        content = m.content
        if isinstance(content, str):
            out.append(
                {"role": "assistant" if m.role == "assistant" else "user", "content": content}
            )
            continue
        if m.role == "assistant":
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            calls = [tool_call(b) for b in content if b.get("type") == "tool_use"]
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
            continue
        parts: list[dict[str, Any]] = []
        for b in content:
            kind = b.get("type")
            if kind == "tool_result":
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": b.get("tool_use_id", ""),
                        "content": _result_text(b.get("content")),
                    }
                )
            elif kind == "text":
                parts.append({"type": "text", "text": b.get("text", "")})
            elif kind == "image":
                parts.append({"type": "image_url", "image_url": {"url": _image_url(b)}})
            # thinking/document blocks have no Chat Completions equivalent: dropped
        if parts:
            if all(p["type"] == "text" for p in parts):
                out.append({"role": "user", "content": "\n".join(p["text"] for p in parts)})
            else:
                out.append({"role": "user", "content": parts})
    return out


def build_body(request: ChatRequest, model: str, stream: bool) -> dict[str, Any]:
    """The upstream `POST /v1/chat/completions` body; unaccepted parameters are dropped."""
    body: dict[str, Any] = {"model": model, "messages": _messages_out(request)}
    extra = request.extra
    if request.max_tokens is not None:
        body[extra.get("_max_key", "max_tokens")] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = request.stop
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    k: v
                    for k, v in (
                        ("name", t.get("name")),
                        ("description", t.get("description")),
                        ("parameters", t.get("input_schema")),
                    )
                    if v
                },
            }
            for t in request.tools
        ]
    choice = request.tool_choice
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("auto", "none"):
            body["tool_choice"] = kind
        elif kind == "any":
            body["tool_choice"] = "required"
        elif kind == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        if choice.get("disable_parallel_tool_use") and request.tools:
            body["parallel_tool_calls"] = False
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # the ledger needs the usage
    if extra:
        if extra.get("_api") == "openai":
            for k, v in extra.items():
                if k in ACCEPTED_EXTRA and k not in body:
                    body[k] = v
        elif isinstance((extra.get("metadata") or {}).get("user_id"), str):
            body["user"] = extra["metadata"]["user_id"]
    return body
