"""Each load-balancing strategy, the cooldown state machine, rate buckets and backoff."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from tierwise.config import ConfigError, CooldownConfig, DeploymentConfig, TierConfig, parse_config
from tierwise.dispatch.deployment import Deployment
from tierwise.dispatch.retry import backoff_s
from tierwise.dispatch.state import COOLING, HALF_OPEN, HEALTHY, MemoryState
from tierwise.dispatch.strategies import make_strategy
from tierwise.providers.base import UpstreamError

TIER = TierConfig(name="t", model="m", price_in=1.0, price_out=2.0)


def deps(*specs: dict[str, object]) -> list[Deployment]:
    out = []
    for i, spec in enumerate(specs):
        cfg = DeploymentConfig(base_url=f"http://d{i}", model="m", **spec)  # type: ignore[arg-type]
        out.append(Deployment(cfg, TIER, None))
    return out


def picks(name: str, ds: list[Deployment], st: MemoryState, n: int = 2000, **kw: object) -> Counter:
    s = make_strategy(name, rng=random.Random(1), **kw)  # type: ignore[arg-type]
    return Counter(s.choose(ds, st, 100, False).cfg.base_url for _ in range(n))


def test_weighted_shuffle_follows_weights() -> None:
    ds = deps({"weight": 1.0}, {"weight": 3.0})
    c = picks("weighted", ds, MemoryState(CooldownConfig()))
    assert 0.70 < c["http://d1"] / 2000 < 0.80


def test_latency_prefers_the_fastest_within_tolerance() -> None:
    ds = deps({}, {}, {})
    st = MemoryState(CooldownConfig())
    for d, lat in zip(ds, (0.100, 0.110, 0.300)):
        st.record_latency(d.id, False, lat)
    c = picks("latency", ds, st, tolerance=0.2)
    assert set(c) == {"http://d0", "http://d1"}  # d1 is within 20% of d0, d2 is not
    c = picks("latency", ds, st, tolerance=0.05)
    assert set(c) == {"http://d0"}


def test_latency_explores_deployments_without_samples() -> None:
    ds = deps({}, {})
    st = MemoryState(CooldownConfig())
    st.record_latency(ds[0].id, False, 0.05)
    assert set(picks("latency", ds, st, n=50)) == {"http://d1"}


def test_least_busy_picks_fewest_in_flight() -> None:
    ds = deps({}, {}, {})
    st = MemoryState(CooldownConfig())
    for _ in range(3):
        st.begin(ds[0].id)
    st.begin(ds[2].id)
    assert set(picks("least-busy", ds, st, n=50)) == {"http://d1"}


def test_cost_picks_the_cheapest_deployment() -> None:
    ds = deps({"price_in": 3.0, "price_out": 15.0}, {"price_in": 0.5}, {})
    # d1 costs 0.5 + 2.0 (tier's out price); d2 the tier's 1.0 + 2.0
    assert set(picks("cost", ds, MemoryState(CooldownConfig()), n=50)) == {"http://d1"}


def test_usage_aware_picks_the_most_headroom() -> None:
    ds = deps({"rpm": 10}, {"rpm": 10}, {"tpm": 10000})
    st = MemoryState(CooldownConfig())
    now = time.monotonic()
    for _ in range(5):
        st.acquire_local(ds[0].id, 10, None, 0, now)
    st.acquire_local(ds[1].id, 10, None, 0, now)
    st.acquire_local(ds[2].id, None, 10000, 2000, now)
    # headroom ~0.5, ~0.9, ~0.8
    assert set(picks("usage", ds, st, n=50)) == {"http://d1"}


def test_priority_uses_lowest_first() -> None:
    ds = deps({"priority": 2}, {"priority": 1}, {"priority": 1, "weight": 3.0})
    c = picks("priority", ds, MemoryState(CooldownConfig()))
    assert set(c) == {"http://d1", "http://d2"} and c["http://d2"] > c["http://d1"]


def test_unknown_strategy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown dispatch strategy 'fastest'"):
        make_strategy("fastest")


# ---------------------------------------------------------------------- cooldown state machine


def test_failures_in_window_trip_a_cooldown_then_a_half_open_probe() -> None:
    st = MemoryState(CooldownConfig(failures=3, window_s=60, cooldown_s=30))
    for t in (0.0, 1.0):
        assert st.record_failure("d", t, 500, None) == 0.0
    assert st.record_failure("d", 2.0, 500, None) == 30.0
    assert st.health("d", 10.0) == COOLING
    assert st.health("d", 32.5) == HALF_OPEN
    assert st.claim_probe_local("d", 32.5, 5.0)
    assert not st.claim_probe_local("d", 32.6, 5.0)  # one probe at a time
    assert st.health("d", 33.0) == COOLING
    st.record_success("d", 34.0)
    assert st.health("d", 34.0) == HEALTHY


def test_failed_probe_cools_again() -> None:
    st = MemoryState(CooldownConfig(failures=1, cooldown_s=10))
    st.record_failure("d", 0.0, 503, None)
    assert st.claim_probe_local("d", 11.0, 5.0)
    assert st.record_failure("d", 11.5, 503, None) == 10.0
    assert st.health("d", 15.0) == COOLING


def test_sparse_failures_do_not_trip_when_most_calls_succeed() -> None:
    st = MemoryState(CooldownConfig(failures=3, min_failure_ratio=0.5))
    t = 0.0
    for _ in range(20):
        for _ in range(3):
            st.record_success("d", t)
            t += 0.1
        assert st.record_failure("d", t, 500, None) == 0.0
    assert st.health("d", t) == HEALTHY


def test_429_cools_at_once_for_retry_after_and_forbids_last_resort_calls() -> None:
    st = MemoryState(CooldownConfig(cooldown_s=30))
    assert st.record_failure("d", 0.0, 429, 2.5) == 2.5
    assert st.health("d", 2.0) == COOLING and not st.panic_ok("d")
    assert st.health("d", 2.6) == HALF_OPEN
    assert st.record_failure("e", 0.0, 429, None) == 30.0


def test_window_expiry_forgets_old_failures() -> None:
    st = MemoryState(CooldownConfig(failures=2, window_s=1.0))
    st.record_failure("d", 0.0, 500, None)
    assert st.record_failure("d", 5.0, 500, None) == 0.0


def test_success_before_cooldown_ended_is_not_a_probe() -> None:
    st = MemoryState(CooldownConfig(failures=1, cooldown_s=10))
    st.record_failure("d", 0.0, 500, None)
    st.record_success("d", 1.0)  # a call that started before the cooldown
    assert st.health("d", 1.0) == COOLING


# ---------------------------------------------------------------------- rate buckets


def test_rpm_bucket_refills_continuously() -> None:
    st = MemoryState(CooldownConfig())
    assert all(st.acquire_local("d", 60, None, 0, 0.0) == 0.0 for _ in range(60))
    assert st.acquire_local("d", 60, None, 0, 0.0) == pytest.approx(1.0)
    assert st.acquire_local("d", 60, None, 0, 1.0) == 0.0  # one more per second


def test_tpm_bucket_admits_oversized_requests_when_full() -> None:
    st = MemoryState(CooldownConfig())
    assert st.acquire_local("d", None, 1000, 5000, 0.0) == 0.0  # capped at capacity
    assert st.acquire_local("d", None, 1000, 10, 0.0) > 0.0


# ---------------------------------------------------------------------- retry


def test_backoff_is_exponential_capped_and_jittered() -> None:
    assert [backoff_s(n, 0.25, 1.0, 0.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]
    rng = random.Random(3)
    vals = [backoff_s(3, 0.25, 8.0, 0.5, rng=rng) for _ in range(200)]
    assert all(0.5 <= v <= 1.0 for v in vals) and len(set(vals)) > 100


def test_retry_after_is_a_floor() -> None:
    assert backoff_s(1, 0.25, 8.0, 0.0, retry_after=3.0) == 3.0
    assert backoff_s(5, 0.25, 8.0, 0.0, retry_after=0.1) == 4.0


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (529, True),
        (0, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
    ],
)
def test_error_classes(status: int, retryable: bool) -> None:
    assert UpstreamError(status, "x").retryable is retryable


# ---------------------------------------------------------------------- config


def test_dispatch_config_errors_name_the_key() -> None:
    text = """
tiers:
  - {name: a, model: m, price_in: 1, price_out: 1,
     deployments: [{rpm: 0, price_in: -1}], latency_tolerance: -0.1}
  - {name: b, model: m, price_in: 1, price_out: 1}
retry: {jitter: 2}
cooldown: {min_failure_ratio: 1.5, failures: 0}
"""
    with pytest.raises(ConfigError) as ei:
        parse_config(text, "x.yaml")
    msg = str(ei.value)
    for key in (
        "tiers[0].deployments[0].rpm",
        "tiers[0].deployments[0].price_in",
        "tiers[0].latency_tolerance",
        "retry.jitter",
        "cooldown.min_failure_ratio",
        "cooldown.failures",
    ):
        assert key in msg
