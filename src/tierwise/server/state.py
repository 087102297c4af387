"""Everything a handler needs, built once per app (no module-level globals)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tierwise.server.metrics import Metrics
from tierwise.server.mix import RoutedMix
from tierwise.server.routers import RouterSet

if TYPE_CHECKING:
    import aiohttp

    from tierwise.config import Config

log = logging.getLogger("tierwise.server")


# Anthropic's prompt-cache prices relative to the input price (reads; 5-minute cache writes).
CACHE_READ_FACTOR = 0.1
CACHE_WRITE_FACTOR = 1.25

class GatewayState:
    def __init__(self, cfg: Config, router_name: str | None) -> None:
        self.cfg = cfg
        self.routers = RouterSet(cfg, router_name)
        self.router_name = self.routers.default.name
        self.prices = {t.name: (t.price_in / 1e6, t.price_out / 1e6) for t in cfg.tiers}
        self.metrics = Metrics()
        ladder = getattr(self.routers.default.policy, "ladder", None)
        self.mix = RoutedMix(
            cfg.tier_names,
            cfg.routing.target_mix,
            list(ladder.thresholds) if ladder is not None else None,
        )
        self.max_body = cfg.server.max_body_bytes
        self.session: aiohttp.ClientSession | None = None
        self.dispatcher: Any = None
        self.ledger: Any = None
        self.ready = False
        self.secrets = tuple(d.api_key for t in cfg.tiers for d in t.deployments if d.api_key)

    def cost(
        self,
        tier: str,
        input_tokens: int,
        output_tokens: int,
        deployment: tuple[float | None, float | None] | None = None,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> float:
        """USD for the tokens: the answering deployment's prices (per million, from dispatch)
        where it has them, else the tier's. `input_tokens` includes the prompt-cache reads and
        writes, which Anthropic bills at 0.1x and 1.25x the input price."""
        p = self.prices.get(tier)
        p_in, p_out = p if p else (0.0, 0.0)
        if deployment is not None:
            if deployment[0] is not None:
                p_in = deployment[0] / 1e6
            if deployment[1] is not None:
                p_out = deployment[1] / 1e6
        cached = (cache_read * CACHE_READ_FACTOR + cache_write * CACHE_WRITE_FACTOR) * p_in
        return (input_tokens - cache_read - cache_write) * p_in + cached + output_tokens * p_out

    def record(self, row: Any) -> None:
        """Hand a ledger row over; a ledger problem never fails a request."""
        ledger = self.ledger
        if ledger is None:
            return
        try:
            ledger.record(row)
        except Exception:  # the ledger promises not to raise; be sure anyway
            log.exception("ledger.record failed; row dropped")


STATE: web.AppKey[GatewayState] = web.AppKey("tierwise_gateway_state", GatewayState)
