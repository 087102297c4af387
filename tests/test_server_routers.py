"""`router-<name>-<threshold>` models: one policy per name, cheap threshold variants."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tierwise.config import load_config, parse_config
from tierwise.server.app import warmups
from tierwise.server.routers import RouterSet, RouterSpecError
from tierwise.types import ChatRequest

TWO_TIERS = """
tiers:
  - {name: small, model: claude-haiku-4-5, price_in: 1, price_out: 5}
  - {name: big, model: claude-opus-4-5, price_in: 5, price_out: 25}
"""
PROMPT = ChatRequest.from_prompt(
    "Explain step by step why quicksort is O(n log n) on average, and write it in Python."
)


def test_thresholds_of_one_heuristic_share_its_policy_and_cut_where_they_say() -> None:
    rs = RouterSet(parse_config(TWO_TIERS, "<test>"))
    c = rs.default.route(PROMPT).complexity
    assert 0.05 < c < 0.95, c  # the prompt must sit between the two thresholds below
    low = rs.for_model(f"router-heuristic-{c - 0.04:.2f}")
    high = rs.for_model(f"router-heuristic-{c + 0.04:.2f}")
    assert low.policy is not high.policy
    assert low.policy.weights is high.policy.weights  # the built state is shared
    assert low.policy.ladder.thresholds == (round(c - 0.04, 2),)
    assert low.route(PROMPT).tier == "big" and high.route(PROMPT).tier == "small"
    # thresholds are rounded to 0.01: these name one router
    assert rs.for_model("router-heuristic-0.5") is rs.for_model("router-heuristic-0.501")


def test_three_tiers_shift_the_policys_own_cut_points() -> None:
    cfg = load_config(None)
    rs = RouterSet(cfg)
    base = rs.default.policy.ladder.thresholds
    shifted = rs.for_model("router-heuristic-0.6").policy.ladder.thresholds
    assert shifted == pytest.approx([x + 0.1 for x in base])
    assert rs.for_model("router-heuristic-0.5").policy.ladder.thresholds == base


def test_learned_thresholds_share_one_predictor_and_embedder_built_off_the_loop() -> None:
    rs = RouterSet(parse_config(TWO_TIERS, "<test>"))

    async def go() -> list:
        # concurrent first uses of one name: one build (in a worker thread) serves both
        return list(
            await asyncio.gather(
                rs.resolve("router-ensemble-0.05"), rs.resolve("router-ensemble-0.95")
            )
        )

    low, high = asyncio.run(go())
    assert low.policy is not high.policy
    assert low.policy.predictor is high.policy.predictor
    assert low.policy.embedder is high.policy.embedder
    assert rs.for_model("router-ensemble-0.05") is low  # the sync path finds it built
    d_low, d_high = low.route(PROMPT), high.route(PROMPT)
    assert d_low.complexity == pytest.approx(d_high.complexity)
    c = d_low.complexity
    assert d_low.tier == ("big" if c >= 0.05 else "small")
    assert d_high.tier == ("big" if c >= 0.95 else "small")
    mid = rs.for_model(f"router-ensemble-{min(max(c, 0.01), 0.99):.2f}")
    assert mid.policy.predictor is low.policy.predictor


def test_cascade_variant_shifts_the_base_policy_that_decides() -> None:
    rs = RouterSet(parse_config(TWO_TIERS + "routing: {policy: cascade}\n", "<test>"))
    router = rs.for_model("router-cascade-0.3")
    assert router.policy.ladder.thresholds == (0.3,)
    assert router.policy.base.ladder.thresholds == (0.3,)
    assert rs.default.policy.base.ladder.thresholds != (0.3,)  # the default is untouched


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("router-nosuch-0.5", "unknown router 'nosuch'"),
        ("router-heuristic-1.5", "threshold in [0, 1]"),
        ("router-heuristic-x", "threshold in [0, 1]"),
        ("router--0.5", "expected router-<name>-<threshold>"),
    ],
)
def test_bad_router_models_are_named(model: str, message: str) -> None:
    rs = RouterSet(parse_config(TWO_TIERS, "<test>"))
    with pytest.raises(RouterSpecError, match=re.escape(message)):
        rs.for_model(model)
    with pytest.raises(RouterSpecError, match=re.escape(message)):
        asyncio.run(rs.resolve(model))


def test_gateway_start_warms_a_learned_policys_embedder(
    make_gateway: Any, mock_upstream: Any
) -> None:
    cfg = parse_config(TWO_TIERS + "routing: {policy: learned}\n", "<test>")
    gw = make_gateway(cfg.with_upstream(mock_upstream.url))
    embedder = gw.state.routers.default.policy.embedder
    assert embedder._table is not None and embedder._tokenizer is not None  # loaded at start
    assert warmups(gw.state.routers.default.policy) == [embedder.warmup]
    assert warmups(RouterSet(parse_config(TWO_TIERS, "<test>")).default.policy) == []
