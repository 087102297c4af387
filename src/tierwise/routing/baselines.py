"""Baseline policies that every learned router must beat: random mixing and prompt length."""

from __future__ import annotations

import math
import random
from bisect import bisect_right

from tierwise.config import RandomConfig
from tierwise.routing.ladder import TierLadder
from tierwise.types import ChatRequest, Decision, estimate_tokens


class RandomRouter:
    """Picks a tier at random with a configured mix (uniform by default); seedable."""

    name = "random"

    def __init__(self, ladder: TierLadder, cfg: RandomConfig | None = None) -> None:
        cfg = cfg or RandomConfig()
        self.ladder = ladder
        shares = [cfg.mix.get(n, 0.0) if cfg.mix else 1.0 for n in ladder.names]
        total = sum(shares)
        acc, cuts = 0.0, []
        for s in shares[:-1]:
            acc += s / total
            cuts.append(acc)
        self.cuts = cuts
        self.mix = {n: s / total for n, s in zip(ladder.names, shares)}
        self.rng = random.Random(cfg.seed)

    def route(self, request: ChatRequest) -> Decision:
        u = self.rng.random()
        i = bisect_right(self.cuts, u)
        ladder = self.ladder
        return Decision(
            ladder.names[i],
            ladder.models[i],
            u,
            dict(self.mix),
            self.name,
            f"random draw {u:.2f} with mix "
            + ", ".join(f"{k}={v:.2f}" for k, v in self.mix.items()),
        )


class LengthRouter:
    """Complexity = log-scaled prompt length: a strong baseline on real traffic."""

    name = "length"

    def __init__(self, ladder: TierLadder, short_tokens: int = 16, long_tokens: int = 4000) -> None:
        self.ladder = ladder
        self.lo = math.log(short_tokens)
        self.span = math.log(long_tokens) - self.lo

    def route(self, request: ChatRequest) -> Decision:
        tokens = estimate_tokens(request.total_chars())
        c = min(max((math.log(max(tokens, 1)) - self.lo) / self.span, 0.0), 1.0)
        ladder = self.ladder
        i = ladder.fit_context(ladder.index_for(c), tokens + (request.max_tokens or 0))
        return Decision(
            ladder.names[i],
            ladder.models[i],
            c,
            ladder.soft_probs(c),
            self.name,
            f"~{tokens} prompt tokens -> complexity {c:.2f}",
        )
