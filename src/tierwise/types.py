"""Canonical request and decision types shared by routing, dispatch, providers and the server.

Plain slotted dataclasses: building one costs a few hundred nanoseconds, so the hot path never
pays for a validation framework. Front ends (OpenAI, Anthropic) translate into these once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ContentBlock = dict[str, Any]


@dataclass(slots=True)
class Message:
    """One conversation turn. `content` is plain text or a list of Anthropic-style blocks."""

    role: str  # "user" | "assistant" | "tool"
    content: str | list[ContentBlock]

    def text(self) -> str:
        """The turn's text, ignoring images and tool payloads."""
        if isinstance(self.content, str):
            return self.content
        parts = [b.get("text", "") for b in self.content if b.get("type") == "text"]
        return "\n".join(p for p in parts if p)


@dataclass(slots=True)
class ChatRequest:
    """A provider-neutral chat request: what routing and dispatch see."""

    messages: list[Message]
    model: str = "auto"
    system: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    stream: bool = False
    # Per-request routing override (e.g. a `tierwise` body field or `x-tierwise-tier` header).
    tier_override: str | None = None
    # Parameters the canonical form does not model; providers forward only those they accept.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_prompt(cls, prompt: str, **kwargs: Any) -> ChatRequest:
        return cls(messages=[Message("user", prompt)], **kwargs)

    def last_user_index(self) -> int:
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i].role == "user":
                return i
        return -1

    def last_user_text(self) -> str:
        i = self.last_user_index()
        return self.messages[i].text() if i >= 0 else ""

    def total_chars(self) -> int:
        """Characters of everything the model will read (system, turns, tool schemas)."""
        n = len(self.system or "")
        for m in self.messages:
            if isinstance(m.content, str):
                n += len(m.content)
            else:
                for b in m.content:
                    n += len(b.get("text", "")) if b.get("type") == "text" else 64
        if self.tools:
            n += 200 * len(self.tools)
        return n


def estimate_tokens(chars: int) -> int:
    """A tokenizer-free token estimate (~4 characters per token for English and code)."""
    return (chars + 3) // 4


@dataclass(slots=True, frozen=True)
class Decision:
    """What a router chose and why. `complexity` is monotone: higher needs a stronger tier."""

    tier: str
    model: str
    complexity: float
    scores: dict[str, float]
    router: str
    reason: str
    # Learned routers: P(tier is enough) per tier — it answers as well as any tier would.
    success: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "tier": self.tier,
            "model": self.model,
            "router": self.router,
            "complexity": round(self.complexity, 6),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "reason": self.reason,
        }
        if self.success is not None:
            out["success"] = {k: round(v, 6) for k, v in self.success.items()}
        return out
