"""OpenAI streams, both ways: canonical (Anthropic-shaped) events -> `chat.completion.chunk`
SSE for an OpenAI caller, and an OpenAI upstream's chunks -> canonical events."""

from __future__ import annotations

import time
from typing import Any

from tierwise.providers.base import StreamEvent
from tierwise.providers.errors import upstream_error_body
from tierwise.providers.openai_format.mapping import (
    FINISH_TO_STOP,
    STOP_TO_FINISH,
    cached_prompt_tokens,
    chat_id,
)
from tierwise.providers.sse import OPENAI_DONE, error_from_event, openai_data


class OpenAIEncoder:
    """Canonical events -> `chat.completion.chunk` SSE bytes ending in `data: [DONE]`.

    With `include_usage` every chunk carries `"usage": null` and a last chunk with empty
    `choices` carries the totals, as the OpenAI API does.
    """

    __slots__ = (
        "base",
        "block_tool",
        "cached_tokens",
        "created",
        "include_usage",
        "input_tokens",
        "output_tokens",
        "tool_index",
    )

    def __init__(self, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.created = int(time.time())
        self.base: dict[str, Any] = {
            "id": "",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": model,
            "system_fingerprint": None,
        }
        if include_usage:
            self.base["usage"] = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.tool_index = -1
        self.block_tool: dict[int, int] = {}  # canonical block index -> tool_calls index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return openai_data(
            {
                **self.base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
        )

    def encode(self, event: StreamEvent) -> bytes:
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            dkind = delta.get("type")
            if dkind == "text_delta":
                return self._chunk({"content": delta.get("text", "")})
            if dkind == "input_json_delta":
                i = self.block_tool.get(event.get("index", 0), 0)
                return self._chunk(
                    {
                        "tool_calls": [
                            {"index": i, "function": {"arguments": delta.get("partial_json", "")}}
                        ]
                    }
                )
            return b""  # thinking/signature deltas have no Chat Completions equivalent
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.tool_index += 1
                self.block_tool[event.get("index", 0)] = self.tool_index
                return self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": self.tool_index,
                                "id": block.get("id", ""),
                                "type": "function",
                                "function": {"name": block.get("name", ""), "arguments": ""},
                            }
                        ]
                    }
                )
            if block.get("type") == "text" and block.get("text"):
                return self._chunk({"content": block["text"]})
            return b""
        if kind == "message_start":
            msg = event.get("message") or {}
            self.base["id"] = chat_id(msg.get("id", ""))
            u = msg.get("usage") or {}
            self.input_tokens = _prompt_tokens(u) or 0
            self.output_tokens = u.get("output_tokens") or 0
            self.cached_tokens = u.get("cache_read_input_tokens") or 0
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "message_delta":
            u = event.get("usage") or {}
            self.input_tokens = _prompt_tokens(u) or self.input_tokens
            self.output_tokens = u.get("output_tokens") or self.output_tokens
            self.cached_tokens = u.get("cache_read_input_tokens") or self.cached_tokens
            stop = (event.get("delta") or {}).get("stop_reason") or ""
            return self._chunk({}, STOP_TO_FINISH.get(stop, "stop"))
        if kind == "message_stop":
            if not self.include_usage:
                return OPENAI_DONE
            usage = {
                "prompt_tokens": self.input_tokens,
                "completion_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            }
            return openai_data({**self.base, "choices": [], "usage": usage}) + OPENAI_DONE
        if kind == "error":
            return self.error(stream_error_body(event))
        return b""  # content_block_stop and unknown events: nothing to say

    @staticmethod
    def error(body: dict[str, Any]) -> bytes:
        """An in-stream error chunk, `data: {"error": {...}}`, as OpenAI-compatible servers
        send it; the openai SDK raises APIError on it. No `[DONE]` follows: the answer is
        incomplete, and a caller reading raw SSE must not take it for a finished one."""
        return openai_data(body)


def stream_error_body(event: StreamEvent) -> dict[str, Any]:
    """The OpenAI error object for a canonical error event: status mapped and keys redacted
    exactly as for an error response."""
    return upstream_error_body("openai", error_from_event(event))[1]


class OpenAIDecoder:
    """Upstream `chat.completion.chunk` objects -> canonical (Anthropic-shaped) events."""

    __slots__ = (
        "block_index",
        "cached_tokens",
        "id",
        "input_tokens",
        "model",
        "open_kind",
        "output_tokens",
        "started",
        "stop_reason",
        "tool_blocks",
    )

    def __init__(self) -> None:
        self.block_index = -1
        self.open_kind: str | None = None
        self.stop_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.tool_blocks: dict[int, int] = {}  # upstream tool_calls index -> block index
        self.started = False
        self.model = ""
        self.id = ""

    def _close(self, out: list[StreamEvent]) -> None:
        if self.open_kind is not None:
            out.append({"type": "content_block_stop", "index": self.block_index})
            self.open_kind = None

    def _open(self, out: list[StreamEvent], block: dict[str, Any], kind: str) -> None:
        self._close(out)
        self.block_index += 1
        self.open_kind = kind
        out.append(
            {"type": "content_block_start", "index": self.block_index, "content_block": block}
        )

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if not self.started:
            self.started = True
            self.id = chunk.get("id", "")
            self.model = chunk.get("model", "")
            out.append(
                {
                    "type": "message_start",
                    "message": {
                        "id": self.id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 0, "output_tokens": 0},
                    },
                }
            )
        usage = chunk.get("usage")
        if usage:
            self.input_tokens = usage.get("prompt_tokens") or self.input_tokens
            self.output_tokens = usage.get("completion_tokens") or self.output_tokens
            self.cached_tokens = cached_prompt_tokens(usage) or self.cached_tokens
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if self.open_kind != "text":
                    self._open(out, {"type": "text", "text": ""}, "text")
                out.append(
                    {
                        "type": "content_block_delta",
                        "index": self.block_index,
                        "delta": {"type": "text_delta", "text": text},
                    }
                )
            for call in delta.get("tool_calls") or ():
                i = call.get("index", 0)
                fn = call.get("function") or {}
                if i not in self.tool_blocks:
                    self._open(
                        out,
                        {
                            "type": "tool_use",
                            "id": call.get("id", ""),
                            "name": fn.get("name", ""),
                            "input": {},
                        },
                        "tool_use",
                    )
                    self.tool_blocks[i] = self.block_index
                args = fn.get("arguments")
                if args:
                    out.append(
                        {
                            "type": "content_block_delta",
                            "index": self.tool_blocks[i],
                            "delta": {"type": "input_json_delta", "partial_json": args},
                        }
                    )
            finish = choice.get("finish_reason")
            if finish:
                self.stop_reason = FINISH_TO_STOP.get(finish, "end_turn")
                self._close(out)
        return out

    def finish(self) -> list[StreamEvent]:
        """Events that end the message once the upstream sent `[DONE]` (or just ended)."""
        out: list[StreamEvent] = []
        self._close(out)
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason or "end_turn", "stop_sequence": None},
                # canonical events count like Anthropic: input_tokens leaves cache reads out
                "usage": {
                    "input_tokens": self.input_tokens - self.cached_tokens,
                    "output_tokens": self.output_tokens,
                    "cache_read_input_tokens": self.cached_tokens,
                },
            }
        )
        out.append({"type": "message_stop"})
        return out


def _prompt_tokens(usage: dict[str, Any]) -> int:
    """OpenAI's prompt_tokens counts every prompt token; Anthropic's input_tokens leaves out
    cache reads and writes, so they are added back."""
    return (
        (usage.get("input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
    )
