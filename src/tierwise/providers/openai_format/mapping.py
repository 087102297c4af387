"""Mappings several OpenAI directions share: finish <-> stop reasons, `tool_use` blocks as
`tool_calls`, and message ids as `chatcmpl-` ids (non-streamed and streamed answers alike)."""

from __future__ import annotations

from typing import Any

import orjson

from tierwise.types import ContentBlock

FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


def tool_call(block: ContentBlock) -> dict[str, Any]:
    """A canonical `tool_use` block as an OpenAI `tool_calls` entry (arguments as a JSON string)."""
    return {
        "id": block.get("id", ""),
        "type": "function",
        "function": {
            "name": block.get("name", ""),
            "arguments": orjson.dumps(block.get("input") or {}).decode(),
        },
    }


def chat_id(message_id: str) -> str:
    """`msg_x` -> `chatcmpl-x`; ids that already look like OpenAI's are kept."""
    if message_id.startswith("chatcmpl-"):
        return message_id
    return "chatcmpl-" + message_id.removeprefix("msg_")


def cached_prompt_tokens(usage: dict[str, Any]) -> int:
    """OpenAI's prompt-cache hits: `usage.prompt_tokens_details.cached_tokens` (0 if absent)."""
    details = usage.get("prompt_tokens_details")
    return int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
