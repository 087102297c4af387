"""Manual beats everything, then the configured policy."""

from __future__ import annotations

from tierwise.routing.base import Router
from tierwise.routing.manual import ManualRouter, explicit_label, is_auto, pop_model_command
from tierwise.types import ChatRequest, Decision


class ChainRouter:
    """Honours explicit choices; otherwise asks `policy`. Strips `/model X` from the request."""

    def __init__(self, manual: ManualRouter, policy: Router, commands: bool = True) -> None:
        self.manual = manual
        self.policy = policy
        self.commands = commands
        self.name = policy.name

    def route(self, request: ChatRequest) -> Decision:
        if request.tier_override and not is_auto(request.tier_override):
            return self.manual.decide(request.tier_override, "override")
        command = pop_model_command(request) if self.commands else None
        if command is not None and not is_auto(command):
            return self.manual.decide(command, "/model command")
        label = explicit_label(request)
        if label is not None:
            return self.manual.decide(label, "model field")
        return self.policy.route(request)
