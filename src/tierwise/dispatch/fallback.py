"""Which tiers a request may end up on, in order, decided before the first call.

Configured `fallbacks` win. `fallbacks: null` means neighbours: a tier falls back to every weaker
tier, strongest first (opus -> sonnet -> haiku), and the cheapest tier, having nothing weaker,
to the next stronger one (haiku -> sonnet). Fallback is not transitive: sonnet's own fallbacks
are not appended when opus falls back to sonnet, so a chain is always short and predictable.

Context-window fallback: tiers whose window cannot hold the estimated tokens (input estimate +
max_tokens) are dropped from the chain. If that removes every tier of the chain, the smallest
other tier whose window fits is used (cheapest first). If nothing fits the estimate, the chain is
kept: estimates are rough, and the upstream gives the authoritative error.
"""

from __future__ import annotations

from tierwise.config import Config, TierConfig


def default_fallbacks(names: list[str], tier: str) -> list[str]:
    i = names.index(tier)
    if i == 0:
        return names[1:2]
    return names[i - 1 :: -1]


def fallback_names(cfg: Config, tier: TierConfig) -> list[str]:
    names = cfg.tier_names
    fbs = default_fallbacks(names, tier.name) if tier.fallbacks is None else tier.fallbacks
    out: list[str] = []
    for n in fbs:
        if n != tier.name and n not in out:
            out.append(n)
    return out


def fit_chain(
    chain: list[TierConfig], all_tiers: list[TierConfig], need: int
) -> tuple[list[TierConfig], str | None]:
    """Drop tiers whose context window is too small for `need` tokens; say why if any were."""
    fits = [t for t in chain if t.context_window >= need]
    if len(fits) == len(chain):
        return chain, None
    first = chain[0]
    if not fits:
        fits = [t for t in all_tiers if t.context_window >= need][:1]
        if not fits:
            return chain, None
    if fits[0] is first:
        return fits, None
    return fits, (
        f"context: ~{need} tokens exceed {first.name}'s {first.context_window}-token window; "
        f"used {fits[0].name}"
    )
