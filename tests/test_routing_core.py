"""Manual, heuristic, random and length routing through the one Router interface."""

from __future__ import annotations

from collections import Counter

import pytest

from tierwise.config import load_config, parse_config
from tierwise.routing.base import Router, route_many
from tierwise.routing.heuristic import HeuristicRouter, extract_signals
from tierwise.routing.ladder import TierLadder, UnknownModelError
from tierwise.routing.registry import UnknownRouterError, build_policy, build_router
from tierwise.types import ChatRequest, Message

DESIGN_PROMPT = """Design a distributed rate limiter for a multi-region API gateway.
Explain the trade-offs between token bucket and sliding window, analyze the failure modes,
then implement it in Go step by step:

```go
type Limiter interface {
    Allow(key string) bool
}
```
1. Describe the data model.
2. Write the Redis Lua script.
3. Prove that the limit holds under concurrent access.
Why does clock skew matter? How would you test it?
"""


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, environ={})


def four_tier_config():
    tiers = "\n".join(
        f"  - {{name: t{i}, model: m{i}, price_in: {i + 1}, price_out: {i + 1}, "
        f"context_window: {1000 * (i + 1)}}}"
        for i in range(4)
    )
    return parse_config(f"tiers:\n{tiers}\n", "four.yaml", environ={})


def test_every_builtin_policy_satisfies_the_protocol(cfg) -> None:
    for name in ("heuristic", "length", "random", "manual"):
        router = build_policy(cfg, name)
        assert isinstance(router, Router)
        d = router.route(ChatRequest.from_prompt("hello there"))
        assert d.tier in cfg.tier_names
        assert 0.0 <= d.complexity <= 1.0
        assert set(d.scores) == set(cfg.tier_names)
        assert sum(d.scores.values()) == pytest.approx(1.0)


def test_unknown_router_lists_valid_names(cfg) -> None:
    with pytest.raises(UnknownRouterError, match=r"unknown router 'smart'.*heuristic"):
        build_policy(cfg, "smart")


def test_greeting_and_design_request_land_on_different_tiers_with_reasons(cfg) -> None:
    router = build_router(cfg, "heuristic")
    hi = router.route(ChatRequest.from_prompt("hi"))
    hard = router.route(ChatRequest.from_prompt(DESIGN_PROMPT))
    assert hi.tier == "haiku"
    assert cfg.tier_names.index(hard.tier) > cfg.tier_names.index(hi.tier)
    assert hard.complexity > hi.complexity
    for signal in ("reasoning", "code", "multi_step"):
        assert signal in hard.reason
    assert "simple" in hi.reason


def test_heuristic_signals_respond_to_their_features() -> None:
    cfg = load_config(None, environ={}).routing.heuristic
    plain = extract_signals(ChatRequest.from_prompt("tell me about cats"), cfg).values
    code = extract_signals(ChatRequest.from_prompt("def f(x):\n    return x;\n```py\n```"), cfg)
    maths = extract_signals(ChatRequest.from_prompt("Solve the integral \\int x^2 dx"), cfg)
    tools = extract_signals(ChatRequest.from_prompt("hi", tools=[{"name": "t"}]), cfg)
    assert plain["code"] == plain["math"] == plain["tools"] == 0.0
    assert code.values["code"] > 0
    assert maths.values["math"] > 0
    assert tools.values["tools"] == 1.0
    deep = ChatRequest(messages=[Message("user", "q"), Message("assistant", "a")] * 5)
    assert extract_signals(deep, cfg).values["depth"] > 0


def test_heuristic_weights_come_from_config() -> None:
    base = load_config(None, environ={})
    text = "Explain why the sky is blue and analyze the physics."
    default = HeuristicRouter(TierLadder.from_config(base), base.routing.heuristic)
    tuned_cfg = parse_config(
        "tiers:\n  - {name: a, model: a, price_in: 1, price_out: 1}\n"
        "  - {name: b, model: b, price_in: 2, price_out: 2}\n"
        "routing:\n  heuristic:\n    weights: {reasoning: 0.0}\n",
        "t.yaml",
        environ={},
    )
    tuned = HeuristicRouter(TierLadder.from_config(tuned_cfg), tuned_cfg.routing.heuristic)
    req = ChatRequest.from_prompt(text)
    assert tuned.route(req).complexity < default.route(req).complexity
    assert "reasoning" not in tuned.route(req).reason


def test_never_picks_a_tier_whose_context_window_is_too_small() -> None:
    cfg = four_tier_config()  # windows 1000, 2000, 3000, 4000 tokens
    router = HeuristicRouter(TierLadder.from_config(cfg, thresholds=[0.9, 0.95, 0.99]))
    long_simple = ChatRequest.from_prompt("hello " * 1200)  # ~1800 tokens
    d = router.route(long_simple)
    assert cfg.tier(d.tier).context_window >= 1800
    assert "exceed t0's 1000-token window" in d.reason


def test_heuristic_works_for_any_number_of_tiers() -> None:
    cfg = four_tier_config()
    router = build_policy(cfg, "heuristic")
    tiers = {router.route(ChatRequest.from_prompt(p)).tier for p in ("hi", DESIGN_PROMPT)}
    assert tiers <= set(cfg.tier_names)
    assert len(router.route(ChatRequest.from_prompt("hi")).scores) == 4


def test_manual_choices_beat_the_policy(cfg) -> None:
    router = build_router(cfg, "heuristic")
    assert router.route(ChatRequest.from_prompt(DESIGN_PROMPT, model="haiku")).tier == "haiku"
    assert router.route(ChatRequest.from_prompt("hi", model="claude-opus-4-5")).tier == "opus"
    assert router.route(ChatRequest.from_prompt("hi", model="strong")).tier == "opus"  # alias
    d = router.route(ChatRequest.from_prompt("hi", model="opus", tier_override="sonnet"))
    assert d.tier == "sonnet" and d.router == "manual"


def test_model_command_is_honoured_and_stripped(cfg) -> None:
    router = build_router(cfg, "heuristic")
    req = ChatRequest.from_prompt("/model opus\nhi there")
    d = router.route(req)
    assert (d.tier, d.router) == ("opus", "manual")
    assert req.messages[0].content == "hi there"

    blocks = ChatRequest(messages=[Message("user", [{"type": "text", "text": "/model sonnet hi"}])])
    assert router.route(blocks).tier == "sonnet"
    assert blocks.messages[0].content == [{"type": "text", "text": "hi"}]

    both = ChatRequest.from_prompt("/model opus\nhi", tier_override="sonnet")
    assert router.route(both).tier == "sonnet"  # the override wins...
    assert both.messages[0].content == "hi"  # ...and the command is still not sent upstream

    auto = ChatRequest.from_prompt("/model auto\nhi")
    assert router.route(auto).router == "heuristic"
    assert auto.messages[0].content == "hi"


def test_unknown_model_lists_valid_names(cfg) -> None:
    router = build_router(cfg, "heuristic")
    with pytest.raises(UnknownModelError) as info:
        router.route(ChatRequest.from_prompt("hi", model="gpt-9"))
    assert "'gpt-9'" in str(info.value)
    assert "opus" in info.value.valid and "claude-haiku-4-5" in info.value.valid


def test_random_router_follows_its_mix_and_seed() -> None:
    cfg = parse_config(
        "tiers:\n  - {name: a, model: a, price_in: 1, price_out: 1}\n"
        "  - {name: b, model: b, price_in: 2, price_out: 2}\n"
        "  - {name: c, model: c, price_in: 3, price_out: 3}\n"
        "routing:\n  random: {mix: {a: 0.3, b: 0.5, c: 0.2}, seed: 7}\n",
        "r.yaml",
        environ={},
    )
    reqs = [ChatRequest.from_prompt("x")] * 5000
    first = [d.tier for d in route_many(build_policy(cfg, "random"), reqs)]
    again = [d.tier for d in route_many(build_policy(cfg, "random"), reqs)]
    assert first == again
    share = Counter(first)
    assert share["a"] / 5000 == pytest.approx(0.3, abs=0.03)
    assert share["b"] / 5000 == pytest.approx(0.5, abs=0.03)
    assert share["c"] / 5000 == pytest.approx(0.2, abs=0.03)


def test_length_router_is_monotone_in_length(cfg) -> None:
    router = build_policy(cfg, "length")
    values = [router.route(ChatRequest.from_prompt("word " * n)).complexity for n in (1, 50, 2000)]
    assert values == sorted(values) and values[0] < values[-1]


def test_thresholds_move_the_cut(cfg) -> None:
    low = TierLadder.from_config(cfg, thresholds=[0.01, 0.02])
    high = TierLadder.from_config(cfg, thresholds=[0.98, 0.99])
    req = ChatRequest.from_prompt(DESIGN_PROMPT)
    assert HeuristicRouter(low).route(req).tier == "opus"
    assert HeuristicRouter(high).route(req).tier == "haiku"


def test_chain_route_many_matches_route_and_batches_the_policy(cfg) -> None:
    calls: list[int] = []
    policy = build_policy(cfg, "heuristic")

    class Counting:
        name = "counting"

        def route(self, request: ChatRequest):
            return policy.route(request)

        def route_many(self, requests):
            calls.append(len(requests))
            return [policy.route(r) for r in requests]

    from tierwise.routing.chain import ChainRouter
    from tierwise.routing.manual import ManualRouter

    chain = ChainRouter(ManualRouter(TierLadder.from_config(cfg)), Counting())
    prompts = ["hi", "/model opus\nhi", DESIGN_PROMPT, "what is 2+2?"]
    batch = chain.route_many([ChatRequest.from_prompt(p) for p in prompts])
    single = [chain.route(ChatRequest.from_prompt(p)) for p in prompts]
    assert [d.tier for d in batch] == [d.tier for d in single]
    assert batch[1].router == "manual" and batch[1].tier == "opus"
    assert calls == [3]  # the three auto requests went to the policy in one batch
