"""Manual choice: the caller names a tier, alias or model, so no policy is consulted.

Three ways to name one, strongest first: a per-request override, a `/model X` command at the
start of the last user message (stripped before the message is sent on), the `model` field.
"""

from __future__ import annotations

import re

from tierwise.config import RESERVED_LABELS
from tierwise.routing.ladder import TierLadder
from tierwise.types import ChatRequest, Decision, Message

AUTO_LABELS = RESERVED_LABELS | {""}
_COMMAND_RE = re.compile(r"^\s*/model\s+(\S+)[ \t]*\n?")


def pop_model_command(request: ChatRequest) -> str | None:
    """Remove a leading `/model X` from the last user message; return X (None if absent)."""
    i = request.last_user_index()
    if i < 0:
        return None
    msg = request.messages[i]
    if isinstance(msg.content, str):
        m = _COMMAND_RE.match(msg.content)
        if not m:
            return None
        request.messages[i] = Message(msg.role, msg.content[m.end():])
        return m.group(1)
    for j, block in enumerate(msg.content):
        if block.get("type") != "text":
            continue
        m = _COMMAND_RE.match(block.get("text", ""))
        if not m:
            return None
        blocks = list(msg.content)
        blocks[j] = {**block, "text": block["text"][m.end():]}
        request.messages[i] = Message(msg.role, blocks)
        return m.group(1)
    return None


def is_auto(label: str | None) -> bool:
    return label is None or label.strip().lower() in AUTO_LABELS or label.startswith("router-")


class ManualRouter:
    """Resolves an explicit label; with none, answers the configured default tier."""

    name = "manual"

    def __init__(self, ladder: TierLadder, default_tier: str | None = None) -> None:
        self.ladder = ladder
        self.default_index = ladder.resolve(default_tier) if default_tier else 0

    def decide(self, label: str, how: str) -> Decision:
        i = self.ladder.resolve(label)
        return self._decision(i, f"{how} named {label!r}")

    def route(self, request: ChatRequest) -> Decision:
        label = explicit_label(request)
        if label is not None:
            return self.decide(label, "request")
        return self._decision(self.default_index, "no tier named; default tier")

    def _decision(self, i: int, reason: str) -> Decision:
        ladder = self.ladder
        complexity = (i + 0.5) / len(ladder)
        scores = {n: float(k == i) for k, n in enumerate(ladder.names)}
        return Decision(ladder.names[i], ladder.models[i], complexity, scores, self.name, reason)


def explicit_label(request: ChatRequest) -> str | None:
    """The label the request names without a command: override first, then `model`."""
    if request.tier_override and not is_auto(request.tier_override):
        return request.tier_override
    if not is_auto(request.model):
        return request.model
    return None
