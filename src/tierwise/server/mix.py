"""The live tier mix of the routing policy's decisions against `routing.target_mix`.

Thresholds are calibrated on someone's traffic and drift on yours (RouteLLM issue #36); this is
how an operator sees it. The request path only increments a dict entry (the server is one
asyncio thread, so no lock); the view reuses `tierwise.routing.calibrate.MixTracker`'s math.
That module imports numpy, so it is loaded on the first view, in a worker thread, never on the
request path.

Counted: decisions of the default router's policy (`model: "auto"`). Not counted: manual
choices (a tier or model named in the request, `/model X`, the `x-tierwise-tier` header —
counted separately as `manual`), `router-<name>-<threshold>` models (another policy or cut
points, so another target; counted as `named`) and `POST /v1/route` previews.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tierwise.routing.manual import ManualRouter
from tierwise.server.metrics import escape_label

if TYPE_CHECKING:
    from tierwise.types import Decision

MANUAL = ManualRouter.name


class RoutedMix:
    __slots__ = ("_tracker_cls", "counts", "manual", "named", "target", "thresholds", "tiers")

    def __init__(
        self, tiers: list[str], target_mix: dict[str, float], thresholds: list[float] | None
    ) -> None:
        self.tiers = list(tiers)
        self.target = [target_mix.get(t, 0.0) for t in self.tiers] if target_mix else None
        self.thresholds = thresholds
        self.counts = dict.fromkeys(self.tiers, 0)
        self.manual = 0
        self.named = 0
        self._tracker_cls: Any = None

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

    async def drift(self) -> dict[str, Any]:
        """MixTracker.drift() over a snapshot of the counts:
        {total, tiers: {tier: {count, actual, target, delta}}, max_abs_delta}."""
        cls = self._tracker_cls
        if cls is None:
            cls = self._tracker_cls = await asyncio.to_thread(_load_tracker)
        tracker = cls(self.tiers, self.target)
        tracker.counts = dict(self.counts)
        return tracker.drift()  # type: ignore[no-any-return]

    async def view(self, router: str) -> dict[str, Any]:
        """The `GET /v1/route/stats` body."""
        d = await self.drift()
        return {
            "router": router,
            "thresholds": self.thresholds,
            "total": d["total"],
            "manual": self.manual,
            "named": self.named,
            "tiers": d["tiers"],
            "max_abs_delta": d["max_abs_delta"],
        }


def _load_tracker() -> Any:
    from tierwise.routing.calibrate import MixTracker

    return MixTracker


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
