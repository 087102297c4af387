"""The run-time view of one configured deployment: everything a strategy needs, precomputed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierwise.config import cache_read_price

if TYPE_CHECKING:
    from tierwise.config import DeploymentConfig, TierConfig
    from tierwise.providers.base import Provider


class Deployment:
    """Plain slotted record; built once at start-up so the hot path only reads attributes."""

    __slots__ = (
        "cfg",
        "id",
        "model",
        "price_cache_read",
        "price_in",
        "price_out",
        "priority",
        "provider",
        "rpm",
        "tier",
        "timeout_s",
        "tpm",
        "weight",
    )

    def __init__(self, cfg: DeploymentConfig, tier: TierConfig, provider: Provider | None) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.tier = tier.name
        self.model = cfg.model or tier.model
        self.weight = cfg.weight
        self.priority = cfg.priority
        self.rpm = cfg.rpm
        self.tpm = cfg.tpm
        self.timeout_s = cfg.timeout_s
        self.price_in = tier.price_in if cfg.price_in is None else cfg.price_in
        self.price_out = tier.price_out if cfg.price_out is None else cfg.price_out
        explicit = cfg.price_cache_read
        if explicit is None and cfg.price_in is None and cfg.provider == tier.provider:
            explicit = tier.price_cache_read  # same price list as the tier's
        self.price_cache_read = cache_read_price(cfg.provider, self.price_in, explicit)
        self.provider = provider

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def __repr__(self) -> str:
        return f"Deployment({self.tier}/{self.id} {self.cfg.base_url} {self.model})"
