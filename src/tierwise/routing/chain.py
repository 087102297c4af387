"""Manual beats everything, then the configured policy."""

from __future__ import annotations

from collections.abc import Sequence

from tierwise.routing.base import Router, route_many
from tierwise.routing.manual import ManualRouter, explicit_label, is_auto, pop_model_command
from tierwise.types import ChatRequest, Decision


class ChainRouter:
    """Honours explicit choices; otherwise asks `policy`. Strips `/model X` from the request."""

    def __init__(self, manual: ManualRouter, policy: Router, commands: bool = True) -> None:
        self.manual = manual
        self.policy = policy
        self.commands = commands
        self.name = policy.name

    def manual_decision(self, request: ChatRequest) -> Decision | None:
        """The decision an explicit choice dictates, or None when the policy must decide.

        A `/model X` command is always stripped, even when an override wins, so the command
        text is never sent upstream."""
        command = pop_model_command(request) if self.commands else None
        if request.tier_override and not is_auto(request.tier_override):
            return self.manual.decide(request.tier_override, "override")
        if command is not None and not is_auto(command):
            return self.manual.decide(command, "/model command")
        label = explicit_label(request)
        if label is not None:
            return self.manual.decide(label, "model field")
        return None

    def route(self, request: ChatRequest) -> Decision:
        return self.manual_decision(request) or self.policy.route(request)

    def route_many(self, requests: Sequence[ChatRequest]) -> list[Decision]:
        """Batch form: manual choices resolved one by one, the rest sent to the policy at once
        (learned policies embed a batch far faster than one prompt at a time)."""
        decisions: list[Decision | None] = [self.manual_decision(r) for r in requests]
        pending = [i for i, d in enumerate(decisions) if d is None]
        if pending:
            routed = route_many(self.policy, [requests[i] for i in pending])
            for i, d in zip(pending, routed, strict=True):
                decisions[i] = d
        return [d for d in decisions if d is not None]
