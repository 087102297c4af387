"""Live tier mix vs `routing.target_mix`: `GET /v1/route/stats` and the `tierwise_routed_*`
metrics count the routing policy's decisions only (not manual choices, not /v1/route previews).

The expected tier of each prompt comes from the gateway itself (`POST /v1/route`, which must
not count), so the test holds whatever the heuristic's weights are.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from tierwise.config import ConfigError, parse_config
from tierwise.default_config import DEFAULT_CONFIG_YAML

TARGET = {"haiku": 0.5, "sonnet": 0.3, "opus": 0.2}
PROMPTS = [
    "hi",
    "What is the capital of France?",
    "thanks!",
    "Explain, step by step, how to design and prove correct a lock-free concurrent hash map "
    "in C++; analyze the memory ordering trade-offs, derive the complexity of resize, and "
    "implement the algorithm with code. " * 6,
    "Debug this Python function and explain the algorithm's complexity:\n"
    "```python\ndef f(xs):\n    return sorted(xs)[len(xs) // 2]\n```\n" * 4,
]


def config_yaml(extra: str) -> str:
    return DEFAULT_CONFIG_YAML + extra


def mix_config(mock_url: str) -> Any:
    yaml = config_yaml("  target_mix: {haiku: 0.5, sonnet: 0.3, opus: 0.2}\n")
    return parse_config(yaml, "<mix test config>").with_upstream(mock_url)


class Http:
    """Plain GET/POST on the fixtures' loop (the endpoints here have no SDK method)."""

    def __init__(self, gw: Any) -> None:
        self.gw = gw

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        async def go() -> tuple[int, Any, str]:
            async with (
                aiohttp.ClientSession() as s,
                s.request(method, self.gw.url + path, json=body) as r,
            ):
                text = await r.text()
                is_json = r.content_type == "application/json"
                return r.status, (orjson.loads(text) if is_json else None), text

        return self.gw.servers.run(go())

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, obj, text = self._call(method, path, body)
        assert status == 200, text
        return obj

    def text(self, path: str) -> str:
        status, _, text = self._call("GET", path)
        assert status == 200, text
        return text


def metric_values(text: str, name: str) -> dict[str, float]:
    """{tier label (or "" when unlabelled): value} for one metric in Prometheus text."""
    out = {}
    for m in re.finditer(rf'^{name}(?:\{{tier="([^"]*)"\}})? (\S+)$', text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


# --------------------------------------------------------------------------- config


def test_target_mix_is_optional_and_parsed() -> None:
    assert parse_config(DEFAULT_CONFIG_YAML, "<default>").routing.target_mix == {}
    cfg = parse_config(config_yaml("  target_mix: {haiku: 0.6, opus: 0.4}\n"), "<t>")
    assert cfg.routing.target_mix == {"haiku": 0.6, "opus": 0.4}


@pytest.mark.parametrize(
    ("mix", "path", "fragment"),
    [
        ("{haiku: 0.5, sonet: 0.5}", "routing.target_mix.sonet", "did you mean 'sonnet'"),
        ("{haiku: 1.2, opus: -0.2}", "routing.target_mix.opus", "expected a share >= 0"),
        ("{haiku: 0.5, opus: 0.3}", "routing.target_mix", "sum to 0.8; expected 1"),
    ],
)
def test_bad_target_mix_names_the_key(mix: str, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config_yaml(f"  target_mix: {mix}\n"), "<t>")
    problems = [p for p in err.value.problems if p.path == path]
    assert problems, str(err.value)
    assert fragment in problems[0].message


def test_target_mix_within_tolerance_is_accepted() -> None:
    cfg = parse_config(
        config_yaml("  target_mix: {haiku: 0.333, sonnet: 0.333, opus: 0.333}\n"), "<t>"
    )
    assert sum(cfg.routing.target_mix.values()) == pytest.approx(0.999)


# --------------------------------------------------------------------------- gateway


def test_stats_and_metrics_count_policy_decisions_against_target(
    make_gateway: Any, mock_upstream: Any
) -> None:
    gw = make_gateway(mix_config(mock_upstream.url))
    http = Http(gw)
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key="k", max_retries=0)
    an = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)

    # Previews: what the policy decides for each prompt. They must not be counted.
    expected_tier = {}
    for p in PROMPTS:
        expected_tier[p] = http.json("POST", "/v1/route", {"prompt": p})["tier"]
    assert len(set(expected_tier.values())) >= 2, "prompts should reach several tiers"
    empty = http.json("GET", "/v1/route/stats")
    assert empty["total"] == 0 and empty["manual"] == 0

    # Policy decisions: each prompt through both front ends, one of them streamed.
    sent: Counter[str] = Counter()
    for p in PROMPTS:
        oa.chat.completions.create(model="auto", messages=[{"role": "user", "content": p}])
        an.messages.create(model="auto", max_tokens=32, messages=[{"role": "user", "content": p}])
        sent[expected_tier[p]] += 2
    with oa.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": PROMPTS[0]}], stream=True
    ) as stream:
        for _ in stream:
            pass
    sent[expected_tier[PROMPTS[0]]] += 1

    # Manual choices (counted apart) and a router-<name>-<threshold> model (another target).
    oa.chat.completions.create(model="opus", messages=[{"role": "user", "content": "hi"}])
    oa.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "/model sonnet hi"}]
    )
    oa.with_options(default_headers={"x-tierwise-tier": "haiku"}).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": PROMPTS[3]}]
    )
    oa.chat.completions.create(
        model="router-heuristic-0.9", messages=[{"role": "user", "content": "hi"}]
    )
    # A request that fails before routing is no decision at all.
    with pytest.raises(openai.NotFoundError):
        oa.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])

    stats = http.json("GET", "/v1/route/stats")
    total = sum(sent.values())
    assert stats["router"] == "heuristic"
    assert stats["thresholds"] == pytest.approx([1 / 3, 2 / 3])
    assert stats["total"] == total
    assert stats["manual"] == 3
    assert stats["named"] == 1
    worst = 0.0
    for tier, share in TARGET.items():
        row = stats["tiers"][tier]
        actual = sent[tier] / total
        assert row["count"] == sent[tier]
        assert row["actual"] == pytest.approx(actual)
        assert row["target"] == pytest.approx(share)
        assert row["delta"] == pytest.approx(actual - share)
        worst = max(worst, abs(actual - share))
    assert stats["max_abs_delta"] == pytest.approx(worst)

    text = http.text("/metrics")
    shares = metric_values(text, "tierwise_routed_share")
    targets = metric_values(text, "tierwise_routed_target_share")
    counts = metric_values(text, "tierwise_routed_decisions_total")
    assert set(shares) == set(targets) == set(counts) == set(TARGET)
    for tier, share in TARGET.items():
        assert shares[tier] == pytest.approx(sent[tier] / total)
        assert targets[tier] == pytest.approx(share)
        assert counts[tier] == sent[tier]
    assert metric_values(text, "tierwise_routed_mix_max_abs_delta")[""] == pytest.approx(worst)
    assert metric_values(text, "tierwise_manual_decisions_total")[""] == 3


def test_without_target_only_actual_shares_are_reported(gateway: Any) -> None:
    http = Http(gateway)
    oa = openai.OpenAI(base_url=gateway.openai_base_url, api_key="k", max_retries=0)
    before = http.json("GET", "/v1/route/stats")["total"]
    oa.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hello"}])
    stats = http.json("GET", "/v1/route/stats")
    assert stats["total"] == before + 1
    assert stats["max_abs_delta"] is None
    assert all(row["target"] is None and row["delta"] is None for row in stats["tiers"].values())
    assert sum(row["actual"] for row in stats["tiers"].values()) == pytest.approx(1.0)
    text = http.text("/metrics")
    assert metric_values(text, "tierwise_routed_share")
    assert "tierwise_routed_target_share" not in text
    assert "tierwise_routed_mix_max_abs_delta" not in text
