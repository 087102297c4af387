"""Cascades, the pure half: is a cheap answer weak, what to ask a classifier, how to read it.

A cascade calls models before it settles on a tier, so it cannot decide inside `route()` (which
must not do I/O). `CascadeRouter.route()` answers with the base policy's decision (what
`POST /v1/route`, `tierwise route` and `eval` see); the server runs the calls
(`tierwise.server.cascade`) and uses the helpers here to judge them. Every signal is cheap and
explainable, so the ledger reason says exactly why an answer was escalated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tierwise.config import CascadeConfig, Config
from tierwise.routing.base import Router, route_many
from tierwise.routing.ladder import TierLadder
from tierwise.types import ChatRequest, Decision

NAME = "cascade"

# Hedges and refusals. Matched case-insensitively near the start of an answer: that is where
# models put them, and scanning a whole essay would flag "I cannot stress enough…" mid-text.
DEFAULT_WEAK_PHRASES: tuple[str, ...] = (
    "i'm not sure",
    "i am not sure",
    "i'm not certain",
    "i don't know",
    "i do not know",
    "i cannot",
    "i can't",
    "i'm unable",
    "i am unable",
    "i'm not able",
    "as an ai",
    "i'm sorry, but",
    "i apologize, but",
    "i don't have enough information",
    "beyond my capabilities",
)
PHRASE_WINDOW = 200  # characters at the start of an answer searched for hedges
SHORT_SCALE = 8  # required answer chars = min(min_answer_chars, question chars / SHORT_SCALE)
CLASSIFY_QUESTION_CHARS = 4000  # the classifier sees at most this much of the question
CLASSIFY_MAX_TOKENS = 2


# --------------------------------------------------------------------------- answer weakness


def _normalise(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").lower()


def answer_weakness(
    text: str,
    stop_reason: str | None,
    *,
    has_tool_call: bool,
    question_chars: int,
    min_answer_chars: int = 20,
    phrases: Sequence[str] = DEFAULT_WEAK_PHRASES,
    max_tokens: int | None = None,
    truncation_min_tokens: int = 1024,
) -> list[str]:
    """Why an answer looks weak (empty list: it does not). Signals, in order:

    - a tool call is never weak (the model acted; judging it needs the tool's result);
    - truncated at max_tokens (it did not finish) — only when the caller's budget was at least
      `truncation_min_tokens` (or unset): a small budget cuts every tier alike, so escalating
      would buy the same cut-off answer at a higher price;
    - empty, or shorter than `min_answer_chars` — scaled down for short questions, since
      "What is 2+2?" deserves a one-character answer;
    - a hedge or refusal phrase near the start.
    """
    if has_tool_call:
        return []
    reasons = []
    if stop_reason == "max_tokens" and (max_tokens is None or max_tokens >= truncation_min_tokens):
        reasons.append("truncated at max_tokens")
    stripped = text.strip()
    required = min(min_answer_chars, question_chars // SHORT_SCALE)
    if not stripped:
        reasons.append("empty")
    elif len(stripped) < required:
        reasons.append(f"short ({len(stripped)} chars, want >= {required})")
    head = _normalise(stripped[:PHRASE_WINDOW])
    for phrase in phrases:
        if _normalise(phrase) in head:
            reasons.append(f"hedging {phrase!r}")
            break
    return reasons


# --------------------------------------------------------------------------- classify mode


def classifier_prompt(question: str, n: int) -> str:
    """A fixed, short prompt: the question and a 1..n difficulty scale, one digit back."""
    q = question if len(question) <= CLASSIFY_QUESTION_CHARS else question[:CLASSIFY_QUESTION_CHARS]
    return (
        f"Rate how hard this request is to answer well, from 1 (a small, fast model answers it "
        f"well) to {n} (only the strongest model answers it well). Reply with one digit 1-{n} "
        f"and nothing else.\n\n<request>\n{q}\n</request>"
    )


_RATING_RE = re.compile(r"^\W*([0-9])(?![0-9])")


def parse_rating(reply: str, n: int) -> int | None:
    """The digit 1..n a classifier replied with (leading punctuation/space allowed), else None.

    Strict on purpose: a reply that does not start with the digit (prose, "Mock answer …",
    "10") is not a rating, and the caller falls back to the base policy and says so.
    """
    m = _RATING_RE.match(reply)
    if m is None:
        return None
    d = int(m.group(1))
    return d if 1 <= d <= n else None


# --------------------------------------------------------------------------- the router


class CascadeRouter:
    """The policy object for `routing.policy: cascade`.

    `route()` does no I/O: it returns the base policy's decision, marked router "cascade",
    which tells the server to run the cascade at request time. Manual choices never reach it
    (the chain resolves them first), so they beat the cascade.
    """

    name = NAME

    def __init__(self, ladder: TierLadder, cfg: CascadeConfig, base: Router) -> None:
        self.ladder = ladder
        self.cfg = cfg
        self.base = base
        self.mode = cfg.mode
        names = [n for n in ladder.names if not cfg.tiers or n in cfg.tiers]
        self.tiers: tuple[str, ...] = tuple(names)
        self.classify_tier = cfg.classify_tier or self.tiers[0]
        self.max_escalations = cfg.max_escalations
        self.min_answer_chars = cfg.min_answer_chars
        self.phrases: tuple[str, ...] = (*DEFAULT_WEAK_PHRASES, *cfg.weak_phrases)
        self.suffix = f"; the cascade ({self.mode}) decides at request time"

    def _mark(self, d: Decision) -> Decision:
        reason = f"{self.base.name}: {d.reason}{self.suffix}"
        return Decision(d.tier, d.model, d.complexity, d.scores, NAME, reason)

    def route(self, request: ChatRequest) -> Decision:
        return self._mark(self.base.route(request))

    def route_many(self, requests: Sequence[ChatRequest]) -> list[Decision]:
        return [self._mark(d) for d in route_many(self.base, requests)]

    def decision(self, tier: str, reason: str) -> Decision:
        """A decision for `tier` as the cascade chose it (complexity = the tier's position)."""
        i = self.ladder.names.index(tier)
        complexity = (i + 0.5) / len(self.ladder)
        scores = {n: float(n == tier) for n in self.ladder.names}
        return Decision(tier, self.ladder.models[i], complexity, scores, NAME, reason)

    def stronger(self, tier: str) -> str | None:
        """The next cascade tier above `tier` (by ladder order), or None at the top."""
        i = self.ladder.names.index(tier)
        for name in self.tiers:
            if self.ladder.names.index(name) > i:
                return name
        return None

    def weakness(
        self,
        text: str,
        stop_reason: str | None,
        has_tool_call: bool,
        question_chars: int,
        max_tokens: int | None = None,
    ) -> list[str]:
        return answer_weakness(
            text,
            stop_reason,
            has_tool_call=has_tool_call,
            question_chars=question_chars,
            min_answer_chars=self.min_answer_chars,
            phrases=self.phrases,
            max_tokens=max_tokens,
            truncation_min_tokens=self.cfg.truncation_min_tokens,
        )

    def tier_for_rating(self, rating: int) -> str:
        return self.tiers[rating - 1]


def build_cascade_router(cfg: Config, ladder: TierLadder) -> CascadeRouter:
    """Registry hook: the cascade over the configured base policy."""
    from tierwise.routing.registry import build_policy

    c = cfg.routing.cascade
    return CascadeRouter(ladder, c, build_policy(cfg, c.base_policy, ladder))
