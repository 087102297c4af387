"""Everything a handler needs, built once per app (no module-level globals)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tierwise.config import cache_read_price
from tierwise.server.metrics import Metrics
from tierwise.server.mix import RoutedMix
from tierwise.server.routers import RouterSet

if TYPE_CHECKING:
    import aiohttp

    from tierwise.config import Config

log = logging.getLogger("tierwise.server")


# Anthropic's 5-minute prompt-cache writes relative to the input price (OpenAI has no writes).
CACHE_WRITE_FACTOR = 1.25

class GatewayState:
    def __init__(self, cfg: Config, router_name: str | None) -> None:
        self.cfg = cfg
        self.routers = RouterSet(cfg, router_name)
        self.router_name = self.routers.default.name
        self.prices = {
            t.name: (
                t.price_in / 1e6,
                t.price_out / 1e6,
                cache_read_price(t.provider, t.price_in, t.price_cache_read) / 1e6,
            )
            for t in cfg.tiers
        }
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
        deployment: tuple[float | None, float | None, float | None] | None = None,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> float:
        """USD for the tokens: the answering deployment's prices (per million, from dispatch:
        input, output, prompt-cache reads) where it has them, else the tier's. `input_tokens`
        includes the cache reads (billed at their own price: 0.1x input on Anthropic, 0.5x on
        OpenAI unless configured) and writes (Anthropic, 1.25x input)."""
        p_in, p_out, p_read = self.prices.get(tier) or (0.0, 0.0, 0.0)
        if deployment is not None:
            d_in, d_out, d_read = deployment
            p_in = p_in if d_in is None else d_in / 1e6
            p_out = p_out if d_out is None else d_out / 1e6
            p_read = p_read if d_read is None else d_read / 1e6
        fresh = input_tokens - cache_read - cache_write
        return (
            fresh * p_in
            + cache_read * p_read
            + cache_write * CACHE_WRITE_FACTOR * p_in
            + output_tokens * p_out
        )

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
