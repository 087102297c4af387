"""Anthropic Messages wire format <-> canonical types (requests, responses, stream events).

The canonical form *is* Anthropic-shaped, so most of this is checking and copying. Incoming
bodies are checked by hand (no validation framework): each check names the field it rejects,
because the caller fixes what the message names.
"""

from __future__ import annotations

from typing import Any

from tierwise.providers.base import ChatResponse, StreamEvent, Usage
from tierwise.providers.errors import RequestError
from tierwise.providers.sse import anthropic_event
from tierwise.types import ChatRequest, Message

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; used when an OpenAI caller omits it

_MODELLED = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "top_p",
        "stream",
        "tools",
        "tool_choice",
    }
)
# Body fields the Anthropic API accepts beyond the modelled ones; anything else is dropped.
ACCEPTED_EXTRA = frozenset(
    {
        "metadata",
        "top_k",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
    }
)
_BLOCK_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "search_result",
    }
)


def _number(body: dict[str, Any], key: str) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise RequestError(f"Input should be a valid number, got {type(v).__name__}", key)
    return float(v)


# `ChatRequest.extra` key: (the flattened system text, the caller's system blocks). The blocks
# carry what the text loses (`cache_control` breakpoints, citations); an Anthropic upstream
# gets them back as long as the system text is still the one they were flattened into.
SYSTEM_BLOCKS_KEY = "_system_blocks"


def _system_text(system: Any) -> str | None:
    if system is None:
        return None
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        parts = []
        for i, block in enumerate(system):
            if not isinstance(block, dict) or not isinstance(block.get("text"), str):
                raise RequestError(
                    "Input should be a text block with a 'text' string", f"system.{i}"
                )
            parts.append(block["text"])
        return "\n\n".join(parts)
    raise RequestError("Input should be a string or a list of text blocks", "system")


def _system_out(request: ChatRequest) -> str | list[dict[str, Any]] | None:
    """The upstream `system`: the caller's own blocks when it sent blocks and nothing has
    rewritten the system text since (so `cache_control` survives), else the text."""
    kept = request.extra.get(SYSTEM_BLOCKS_KEY) if request.extra else None
    if kept is not None and kept[0] == request.system:
        return kept[1]
    return request.system or None


def parse_request(body: Any) -> ChatRequest:
    """A parsed `POST /v1/messages` body -> ChatRequest; raises RequestError naming the field."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    model = body.get("model")
    if model is None:
        raise RequestError("Field required", "model")
    if not isinstance(model, str):
        raise RequestError("Input should be a valid string", "model")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise RequestError("Field required", "max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise RequestError("Input should be an integer greater than or equal to 1", "max_tokens")
    raw_messages = body.get("messages")
    if raw_messages is None:
        raise RequestError("Field required", "messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise RequestError("Input should be a non-empty list of messages", "messages")
    messages: list[Message] = []
    for i, m in enumerate(raw_messages):
        if not isinstance(m, dict):
            raise RequestError("Input should be an object", f"messages.{i}")
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise RequestError("Input should be 'user' or 'assistant'", f"messages.{i}.role")
        content = m.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
                    raise RequestError(
                        "Input should be a content block with a known 'type' "
                        f"({', '.join(sorted(_BLOCK_TYPES))})",
                        f"messages.{i}.content.{j}",
                    )
        elif not isinstance(content, str):
            raise RequestError(
                "Field required: a string or a list of content blocks", f"messages.{i}.content"
            )
        messages.append(Message(role, content))
    stop = body.get("stop_sequences")
    if stop is not None and (
        not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
    ):
        raise RequestError("Input should be a list of strings", "stop_sequences")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise RequestError("Input should be a valid list", "tools")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise RequestError("Input should be a tool with a 'name' string", f"tools.{i}")
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and (
        not isinstance(tool_choice, dict)
        or tool_choice.get("type") not in ("auto", "any", "tool", "none")
    ):
        raise RequestError("Input should be {type: auto|any|tool|none}", "tool_choice")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("Input should be a valid boolean", "stream")
    extra = {k: v for k, v in body.items() if k not in _MODELLED}
    extra["_api"] = "anthropic"
    raw_system = body.get("system")
    system = _system_text(raw_system)
    if isinstance(raw_system, list) and raw_system:
        extra[SYSTEM_BLOCKS_KEY] = (system, raw_system)
    return ChatRequest(
        messages=messages,
        model=model,
        system=system,
        tools=tools or None,
        tool_choice=tool_choice,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        stop=stop or None,
        stream=stream,
        extra=extra,
    )


# --------------------------------------------------------------------------- upstream side


def _message_out(m: Message) -> dict[str, Any]:
    if m.role == "tool":  # defensive: canonical producers use user + tool_result blocks
        content = m.content
        if isinstance(content, str):
            content = [{"type": "tool_result", "tool_use_id": "", "content": content}]
        return {"role": "user", "content": content}
    return {"role": m.role, "content": m.content}


def build_body(request: ChatRequest, model: str, stream: bool) -> dict[str, Any]:
    """The upstream `POST /v1/messages` body; parameters Anthropic does not accept are dropped."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [_message_out(m) for m in request.messages],
    }
    system = _system_out(request)
    if system:
        body["system"] = system
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, 1.0)  # OpenAI allows up to 2
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.tools:
        body["tools"] = request.tools
    if request.tool_choice is not None:
        body["tool_choice"] = request.tool_choice
    if stream:
        body["stream"] = True
    extra = request.extra
    if extra:
        if extra.get("_api") == "anthropic":
            for k, v in extra.items():
                if k in ACCEPTED_EXTRA:
                    body[k] = v
        elif isinstance(extra.get("user"), str):
            body["metadata"] = {"user_id": extra["user"]}
    return body


def usage_in(u: dict[str, Any]) -> Usage:
    """Anthropic usage -> canonical: `input_tokens` there excludes cache reads and writes;
    canonical `input_tokens` counts them (see Usage)."""
    read = u.get("cache_read_input_tokens") or 0
    write = u.get("cache_creation_input_tokens") or 0
    return Usage(
        (u.get("input_tokens") or 0) + read + write, u.get("output_tokens") or 0, read, write
    )


def usage_out(u: Usage) -> dict[str, int]:
    """Canonical usage -> Anthropic's (input_tokens without the cached parts)."""
    return {
        "input_tokens": u.uncached_input_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "cache_read_input_tokens": u.cache_read_input_tokens,
        "output_tokens": u.output_tokens,
    }


def parse_response(obj: Any) -> ChatResponse:
    """An upstream Anthropic message object -> ChatResponse."""
    return ChatResponse(
        id=obj.get("id", ""),
        model=obj.get("model", ""),
        content=obj.get("content") or [],
        stop_reason=obj.get("stop_reason"),
        usage=usage_in(obj.get("usage") or {}),
        stop_sequence=obj.get("stop_sequence"),
    )


# --------------------------------------------------------------------------- caller side


def render_response(resp: ChatResponse, model: str) -> dict[str, Any]:
    """ChatResponse -> the Anthropic message object a caller expects."""
    msg_id = resp.id if resp.id.startswith("msg_") else "msg_" + resp.id.removeprefix("chatcmpl-")
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": resp.content,
        "stop_reason": resp.stop_reason,
        "stop_sequence": resp.stop_sequence,
        "usage": usage_out(resp.usage),
    }


class StreamUsage:
    """Tokens seen in a canonical stream (message_start has input, message_delta output; newer
    Anthropic streams repeat the input counts in message_delta). `input_tokens` counts cache
    reads and writes too, as canonical Usage does."""

    __slots__ = (
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "stop_reason",
        "uncached_input_tokens",
    )

    def __init__(self) -> None:
        self.uncached_input_tokens = 0
        self.cache_read_input_tokens = 0
        self.cache_creation_input_tokens = 0
        self.output_tokens = 0
        self.stop_reason: str | None = None

    @property
    def input_tokens(self) -> int:
        return (
            self.uncached_input_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )

    def _counts(self, u: dict[str, Any]) -> None:
        self.uncached_input_tokens = u.get("input_tokens") or self.uncached_input_tokens
        self.cache_read_input_tokens = (
            u.get("cache_read_input_tokens") or self.cache_read_input_tokens
        )
        self.cache_creation_input_tokens = (
            u.get("cache_creation_input_tokens") or self.cache_creation_input_tokens
        )
        self.output_tokens = u.get("output_tokens") or self.output_tokens

    def observe(self, event: StreamEvent) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self._counts(event.get("message", {}).get("usage") or {})
        elif kind == "message_delta":
            self._counts(event.get("usage") or {})
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason


_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


class AnthropicEncoder:
    """Canonical events -> Anthropic SSE bytes, with the `ping` the real API sends after the
    first content_block_start (or before message_delta when there is no content block)."""

    __slots__ = ("model", "pinged")

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self.pinged = False

    def encode(self, event: StreamEvent) -> bytes:
        kind = event.get("type")
        if kind == "message_start":
            msg = event.get("message") or {}
            mid = msg.get("id", "")
            if not mid.startswith("msg_"):
                msg = {**msg, "id": "msg_" + mid.removeprefix("chatcmpl-")}
                event = {**event, "message": msg}
        out = anthropic_event(event)
        if not self.pinged:
            if kind == "content_block_start":
                self.pinged = True
                return out + _PING
            if kind == "message_delta":
                self.pinged = True
                return _PING + out
        return out

    @staticmethod
    def error(body: dict[str, Any]) -> bytes:
        return anthropic_event(body)
