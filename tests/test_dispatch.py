"""Dispatcher behaviour with a scripted provider: retries, fallbacks, cooldowns, streaming."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import pytest

from dispatch_helpers import (
    FAST_RETRY,
    ScriptedProvider,
    always,
    config,
    decision,
    fail_first,
    req,
    three_tiers,
    tier,
)
from tierwise.config import Config
from tierwise.dispatch import Dispatcher, DispatchResult
from tierwise.dispatch.fallback import default_fallbacks
from tierwise.dispatch.state import MemoryState
from tierwise.providers.base import UpstreamError


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def make(cfg: Config, prov: ScriptedProvider, **kw: Any) -> Dispatcher:
    return Dispatcher(cfg, None, providers={"anthropic": prov}, **kw)  # type: ignore[arg-type]


async def _no_sleep(_: float) -> None:
    raise AssertionError("dispatch slept although it had somewhere else to go")


class ManualTime:
    """Stands in for the `time` module inside the dispatcher: `monotonic()` moves only when
    the test advances it, so cooldowns are waited out without sleeping."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str) -> Any:  # anything else: the real module
        return getattr(time, name)


def test_one_of_two_deployments_failing_gives_no_client_errors() -> None:
    cfg = three_tiers(["http://h"], ["http://bad", "http://good"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({"http://bad": always(500)})
    d = make(cfg, prov, sleep=_no_sleep)

    async def go() -> list[DispatchResult]:
        return [await d.complete(req(), decision("sonnet")) for _ in range(200)]

    results = run(go())
    assert all(r.tier == "sonnet" and r.fallback_reason is None for r in results)
    # The bad deployment is cooled after `cooldown.failures` (3) failures and then skipped.
    assert prov.counts["http://bad"] == 3
    assert prov.counts["http://good"] == 200


def test_non_retryable_error_is_raised_at_once() -> None:
    cfg = three_tiers(["http://h"], ["http://s1", "http://s2"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({"http://s1": always(400), "http://s2": always(400)})
    d = make(cfg, prov)
    with pytest.raises(UpstreamError) as ei:
        run(d.complete(req(), decision("sonnet")))
    assert ei.value.status == 400
    assert len(prov.calls) == 1  # no retry, no fallback


def test_bad_key_on_one_deployment_moves_to_the_other() -> None:
    cfg = three_tiers(["http://h"], ["http://s1", "http://s2"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({"http://s1": always(401)})
    d = make(cfg, prov)

    async def go() -> list[DispatchResult]:
        return [await d.complete(req(), decision("sonnet")) for _ in range(20)]

    assert {r.deployment_id for r in run(go())} == {cfg.tier("sonnet").deployments[1].id}


def test_tier_down_falls_back_with_a_reason() -> None:
    cfg = three_tiers(["http://h"], ["http://s"], ["http://o1", "http://o2"], FAST_RETRY)
    prov = ScriptedProvider({"http://o1": always(529), "http://o2": always(529)})
    r = run(make(cfg, prov).complete(req(), decision("opus")))
    assert r.tier == "sonnet" and r.model == "m-sonnet"
    assert r.fallback_reason is not None
    assert r.fallback_reason.startswith("opus unavailable: 3x 529")
    assert r.fallback_reason.endswith("fell back to sonnet")
    assert r.attempts == 4


def test_all_tiers_down_raises_the_last_upstream_error() -> None:
    cfg = three_tiers(["http://h"], ["http://s"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({u: always(503) for u in ("http://h", "http://s", "http://o")})
    with pytest.raises(UpstreamError) as ei:
        run(make(cfg, prov).complete(req(), decision("opus")))
    assert ei.value.status == 503
    assert prov.counts == {"http://o": 3, "http://s": 3, "http://h": 3}


def test_default_fallbacks_are_neighbours() -> None:
    names = ["haiku", "sonnet", "opus"]
    assert default_fallbacks(names, "opus") == ["sonnet", "haiku"]
    assert default_fallbacks(names, "sonnet") == ["haiku"]
    assert default_fallbacks(names, "haiku") == ["sonnet"]


def test_configured_fallbacks_replace_the_default() -> None:
    cfg = config(
        tier("haiku", ["http://h"])
        + tier("sonnet", ["http://s"])
        + tier("opus", ["http://o"], more="    fallbacks: [haiku]\n"),
        FAST_RETRY,
    )
    prov = ScriptedProvider({"http://o": always(500)})
    r = run(make(cfg, prov).complete(req(), decision("opus")))
    assert r.tier == "haiku"
    assert "http://s" not in prov.counts


def test_empty_fallbacks_mean_no_fallback() -> None:
    cfg = config(
        tier("haiku", ["http://h"], more="    fallbacks: []\n") + tier("sonnet", ["http://s"]),
        FAST_RETRY,
    )
    prov = ScriptedProvider({"http://h": always(500)})
    with pytest.raises(UpstreamError):
        run(make(cfg, prov).complete(req(), decision("haiku")))
    assert "http://s" not in prov.counts


def test_context_window_fallback_is_chosen_before_the_call() -> None:
    cfg = config(
        tier("haiku", ["http://h"], window=1000)
        + tier("sonnet", ["http://s"], window=1000)
        + tier("opus", ["http://o"], window=100000),
        FAST_RETRY,
    )
    prov = ScriptedProvider({})
    r = run(make(cfg, prov).complete(req("x" * 20000), decision("haiku")))
    assert r.tier == "opus"
    assert r.fallback_reason is not None and r.fallback_reason.startswith("context: ~5000 tokens")
    assert list(prov.counts) == ["http://o"]  # the small tiers were never called


def test_cooling_tier_falls_back_without_waiting() -> None:
    cfg = three_tiers(["http://h"], ["http://s"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({"http://o": always(429, retry_after=30.0)})
    d = make(cfg, prov, sleep=_no_sleep)

    async def go() -> list[DispatchResult]:
        return [await d.complete(req(), decision("opus")) for _ in range(5)]

    results = run(go())
    assert all(r.tier == "sonnet" for r in results)
    assert prov.counts["http://o"] == 1  # 429 cooled it; later requests go straight to sonnet
    assert results[-1].fallback_reason == (
        "opus unavailable: all deployments cooling down; fell back to sonnet"
    )


def test_retry_after_is_honoured_on_the_last_tier() -> None:
    cfg = config(
        tier("haiku", ["http://h"], more="    fallbacks: []\n") + tier("sonnet", ["http://s"]),
        FAST_RETRY,
    )
    prov = ScriptedProvider({"http://h": fail_first(1, 429, retry_after=0.2)})
    r = run(make(cfg, prov).complete(req(), decision("haiku")))
    assert r.tier == "haiku" and r.attempts == 2
    (_, t0), (_, t1) = prov.calls
    assert t1 - t0 >= 0.2


def test_backoff_honours_retry_after_as_a_floor() -> None:
    cfg = config(
        tier("haiku", ["http://h"], more="    fallbacks: []\n") + tier("sonnet", ["http://s"]),
        "retry: {backoff_base_s: 0.001, backoff_max_s: 0.01, jitter: 0.0}\n"
        "cooldown: {failures: 100}\n",
    )
    slept: list[float] = []

    async def record(s: float) -> None:
        slept.append(s)

    prov = ScriptedProvider({"http://h": fail_first(2, 503, retry_after=0.5)})
    r = run(make(cfg, prov, sleep=record).complete(req(), decision("haiku")))
    assert r.attempts == 3
    assert slept == [0.5, 0.5]


def test_deadline_bounds_the_whole_request() -> None:
    cfg = config(
        tier("haiku", ["http://h"]) + tier("sonnet", ["http://s"]),
        "retry: {deadline_s: 0.3, backoff_base_s: 0.0, backoff_max_s: 0.0}\n",
    )
    prov = ScriptedProvider({"http://h": lambda _: 5.0, "http://s": lambda _: 5.0})
    slept: list[float] = []

    async def record(s: float) -> None:
        slept.append(s)

    with pytest.raises(UpstreamError) as ei:
        run(make(cfg, prov, sleep=record).complete(req(), decision("haiku")))
    # Without the deadline the stalled call would answer after 5 s (no error at all), or a
    # per-call-only limit would go on to retries and the sonnet fallback. Instead: one call,
    # cut off at the deadline, and nothing after it: no retry, no pause, no fallback.
    assert ei.value.status == 0 and ei.value.error_type == "timeout_error"
    assert [url for url, _ in prov.calls] == ["http://h"]
    assert slept == []


def test_timeout_is_retried_on_another_deployment() -> None:
    cfg = config(
        tier("haiku", ["http://slow", "http://fast"]).replace("k}", "k, timeout_s: 0.05}")
        + tier("sonnet", ["http://s"]),
        FAST_RETRY,
    )
    prov = ScriptedProvider({"http://slow": lambda _: 5.0})

    async def go() -> list[DispatchResult]:
        return [await make(cfg, prov).complete(req(), decision("haiku")) for _ in range(5)]

    assert all(r.tier == "haiku" for r in run(go()))


def test_half_open_probe_readmits_a_recovered_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = three_tiers(
        ["http://h"],
        ["http://s1", "http://s2"],
        ["http://o"],
        FAST_RETRY + "cooldown: {failures: 1, cooldown_s: 30}\n",
    )
    clock = ManualTime()
    monkeypatch.setattr(importlib.import_module("tierwise.dispatch.dispatcher"), "time", clock)
    prov = ScriptedProvider({"http://s1": fail_first(1)})
    d = make(cfg, prov, state=MemoryState(cfg.cooldown, clock=clock.monotonic))

    async def go() -> None:
        await d.complete(req(), decision("sonnet"))  # may or may not hit s1 first
        while prov.counts.get("http://s1", 0) == 0:
            await d.complete(req(), decision("sonnet"))
        s1 = cfg.tier("sonnet").deployments[0].id
        assert d.state.health(s1, clock.now) == 1  # cooling
        clock.advance(29.0)
        seen = {(await d.complete(req(), decision("sonnet"))).deployment_id for _ in range(20)}
        assert seen == {cfg.tier("sonnet").deployments[1].id}  # still cooling: not called
        clock.advance(1.5)  # the cooldown is over: half-open
        seen = {(await d.complete(req(), decision("sonnet"))).deployment_id for _ in range(40)}
        assert s1 in seen  # the probe succeeded and s1 is back in rotation

    run(go())


def test_unknown_tier_is_a_clear_400() -> None:
    cfg = three_tiers(["http://h"], ["http://s"], ["http://o"])
    with pytest.raises(UpstreamError) as ei:
        run(make(cfg, ScriptedProvider({})).complete(req(), decision("gpt")))
    assert ei.value.status == 400 and "gpt" in ei.value.message


def test_rpm_limit_rejects_with_429_and_retry_after() -> None:
    cfg = config(
        tier("haiku", ["http://h"], more="    fallbacks: []\n").replace("k}", "k, rpm: 5}")
        + tier("sonnet", ["http://s"]),
        FAST_RETRY,
    )
    prov = ScriptedProvider({})
    d = make(cfg, prov)

    async def go() -> tuple[int, list[UpstreamError]]:
        ok, errs = 0, []
        for _ in range(8):
            try:
                await d.complete(req(), decision("haiku"))
                ok += 1
            except UpstreamError as e:
                errs.append(e)
        return ok, errs

    ok_count, errs = run(go())
    assert ok_count == 5
    assert {e.status for e in errs} == {429}
    assert all(e.retry_after is not None and 0 < e.retry_after <= 12.0 for e in errs)


def test_rpm_limit_spills_to_a_second_deployment() -> None:
    cfg = config(
        tier("haiku", ["http://h1", "http://h2"]).replace("k}", "k, rpm: 3}")
        + tier("sonnet", ["http://s"]),
        FAST_RETRY,
    )
    prov = ScriptedProvider({})
    d = make(cfg, prov)

    async def go() -> None:
        for _ in range(6):
            assert (await d.complete(req(), decision("haiku"))).tier == "haiku"
        r = await d.complete(req(), decision("haiku"))
        assert r.tier == "sonnet"
        assert r.fallback_reason is not None and "rpm/tpm limits" in r.fallback_reason

    run(go())
    assert prov.counts == {"http://h1": 3, "http://h2": 3, "http://s": 1}


def test_thirty_percent_random_500s_stay_under_a_tenth_of_a_percent() -> None:
    import random

    rng = random.Random(7)

    def flaky(_: int) -> UpstreamError | None:
        return UpstreamError(500, "random") if rng.random() < 0.3 else None

    cfg = three_tiers(["http://h"], ["http://s"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({u: flaky for u in ("http://h", "http://s", "http://o")})
    d = make(cfg, prov)

    async def go() -> int:
        errors = 0
        for i in range(3000):
            try:
                await d.complete(req(), decision(("haiku", "sonnet", "opus")[i % 3]))
            except UpstreamError:
                errors += 1
        return errors

    assert run(go()) < 3  # < 0.1% of 3000


# ---------------------------------------------------------------------- streaming


def test_stream_retries_before_the_first_event() -> None:
    cfg = three_tiers(["http://h"], ["http://s"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({"http://s": fail_first(2, 529)})
    d = make(cfg, prov)

    async def go() -> tuple[Any, list[dict[str, Any]]]:
        sd = await d.stream(req(), decision("sonnet"))
        return sd, [ev async for ev in sd.events]

    sd, events = run(go())
    assert sd.tier == "sonnet" and sd.attempts == 3 and sd.fallback_reason is None
    assert [e["type"] for e in events] == ["message_start", "content_block_delta", "message_stop"]
    assert d.state.inflight(sd.deployment_id) == 0


def test_stream_falls_back_when_the_tier_is_down() -> None:
    cfg = three_tiers(["http://h"], ["http://s"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({"http://o": always(500)})

    async def go() -> Any:
        sd = await make(cfg, prov).stream(req(), decision("opus"))
        return sd, [ev async for ev in sd.events]

    sd, events = run(go())
    assert sd.tier == "sonnet" and events[0]["type"] == "message_start"
    assert sd.fallback_reason is not None and "opus unavailable" in sd.fallback_reason


def test_stream_failure_after_first_event_is_an_error_event_not_a_retry() -> None:
    cfg = three_tiers(["http://h"], ["http://s"], ["http://o"], FAST_RETRY)
    prov = ScriptedProvider({}, mid_stream_error=True)
    d = make(cfg, prov)

    async def go() -> Any:
        sd = await d.stream(req(), decision("haiku"))
        return sd, [ev async for ev in sd.events]

    sd, events = run(go())
    assert [e["type"] for e in events] == ["message_start", "content_block_delta", "error"]
    assert events[-1]["error"]["type"] == "overloaded_error"
    assert len(prov.calls) == 1
    assert d.state.inflight(sd.deployment_id) == 0
