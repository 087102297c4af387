"""The live tier mix of the routing policy's decisions against `routing.target_mix`.

Thresholds are calibrated on someone's traffic and drift on yours (RouteLLM issue #36); this is
how an operator sees it. The request path only increments a dict entry (the server is one
asyncio thread, so no lock); the view is `tierwise.routing.mix.mix_drift` over a snapshot.

Counted: decisions of the default router's policy (`model: "auto"`). Not counted: manual
choices (a tier or model named in the request, `/model X`, the `x-tierwise-tier` header —
counted separately as `manual`), `router-<name>-<threshold>` models (another policy or cut
points, so another target; counted as `named`) and `POST /v1/route` previews.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierwise.routing.manual import ManualRouter
from tierwise.routing.mix import mix_drift
from tierwise.server.metrics import escape_label

if TYPE_CHECKING:
    from tierwise.types import Decision

MANUAL = ManualRouter.name


class RoutedMix:
    __slots__ = ("counts", "manual", "named", "target", "thresholds", "tiers")

    def __init__(
        self, tiers: list[str], target_mix: dict[str, float], thresholds: list[float] | None
    ) -> None:
        self.tiers = list(tiers)
        self.target = [target_mix.get(t, 0.0) for t in self.tiers] if target_mix else None
        self.thresholds = thresholds
        self.counts = dict.fromkeys(self.tiers, 0)
        self.manual = 0
        self.named = 0

    def observe(self, decision: Decision, default_router: bool) -> None:
        """Hot path: one comparison and one dict increment."""
        if decision.router == MANUAL:
            self.manual += 1
        elif default_router:
            counts = self.counts
            if decision.tier in counts:
                counts[decision.tier] += 1
        else:
            self.named += 1

    def drift(self) -> dict[str, Any]:
        """{total, tiers: {tier: {count, actual, target, delta}}, max_abs_delta}."""
        return mix_drift(self.tiers, dict(self.counts), self.target)

    def view(self, router: str) -> dict[str, Any]:
        """The `GET /v1/route/stats` body."""
        d = self.drift()
        return {
            "router": router,
            "thresholds": self.thresholds,
            "total": d["total"],
            "manual": self.manual,
            "named": self.named,
            "tiers": d["tiers"],
            "max_abs_delta": d["max_abs_delta"],
        }


def render_mix(d: dict[str, Any], manual: int) -> str:
    """Prometheus text for a drift() snapshot; target gauges only when a target is set."""
    rows: dict[str, dict[str, Any]] = d["tiers"]
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, key: str | None = None) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        if key is not None:
            out.extend(f'{name}{{tier="{escape_label(t)}"}} {r[key]!r}' for t, r in rows.items())

    metric(
        "tierwise_routed_decisions_total",
        "counter",
        "Decisions of the routing policy, by tier (manual choices, /v1/route excluded).",
        "count",
    )
    metric("tierwise_manual_decisions_total", "counter", "Requests that named their tier.")
    out.append(f"tierwise_manual_decisions_total {manual}")
    metric("tierwise_routed_share", "gauge", "Share of the policy's decisions per tier.", "actual")
    if d["max_abs_delta"] is not None:
        metric(
            "tierwise_routed_target_share",
            "gauge",
            "Target share per tier (routing.target_mix).",
            "target",
        )
        metric(
            "tierwise_routed_mix_max_abs_delta",
            "gauge",
            "Largest |share - target share| over tiers.",
        )
        out.append(f"tierwise_routed_mix_max_abs_delta {d['max_abs_delta']!r}")
    return "\n".join(out) + "\n"
