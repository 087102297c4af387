"""Dispatch through the real provider adapters against real mock upstreams with faults.

Each mock instance is one deployment; its fault config makes it healthy, flaky or down.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from redis_helpers import PrivateRedis, private_redis
from reliability_helpers import decision, faulty, mocks, req, stats, status_count, tiers_config
from tierwise.dispatch import Dispatcher
from tierwise.mock.config import MockConfig
from tierwise.providers.base import UPSTREAM_HEADERS_KEY, UpstreamError

__all__ = ["private_redis"]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def fire(d: Dispatcher, tier: str, n: int, concurrency: int = 8) -> tuple[int, list[Any]]:
    """n requests, `concurrency` at a time; returns (client-visible errors, results)."""
    sem = asyncio.Semaphore(concurrency)
    results: list[Any] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        async with sem:
            try:
                results.append(await d.complete(req(), decision(tier)))
            except UpstreamError:
                errors += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return errors, results


def test_one_of_two_deployments_returning_500_gives_zero_client_errors() -> None:
    async def go() -> None:
        async with mocks(faulty(1.0), MockConfig()) as (bad, good), aiohttp.ClientSession() as s:
            cfg = tiers_config({"haiku": ["http://x"], "sonnet": [bad, good], "opus": ["http://y"]})
            d = Dispatcher(cfg, s)
            await d.start()
            errors, results = await fire(d, "sonnet", 200)
            await d.close()
            assert errors == 0
            assert all(r.tier == "sonnet" and r.response.text() for r in results)
            # Cooldown takes the bad one out after `cooldown.failures` failures.
            assert status_count(await stats(s, bad), 500) <= 3 + 8  # + calls already in flight
            assert status_count(await stats(s, good), 200) == 200

    run(go())


def test_thirty_percent_random_500s_per_tier_stay_under_a_tenth_of_a_percent() -> None:
    async def go() -> None:
        cfgs = [faulty(0.3, seed=i) for i in range(3)]
        async with mocks(*cfgs) as (h, so, o), aiohttp.ClientSession() as s:
            cfg = tiers_config({"haiku": [h], "sonnet": [so], "opus": [o]})
            d = Dispatcher(cfg, s)
            await d.start()
            total_errors = 0
            for tier in ("haiku", "sonnet", "opus"):
                errors, _ = await fire(d, tier, 500)
                total_errors += errors
            await d.close()
            assert total_errors <= 1  # < 0.1% of 1500
            injected = 0
            for u in (h, so, o):
                injected += status_count(await stats(s, u), 500)
            assert injected > 300  # the faults really happened

    run(go())


def test_tier_fully_down_is_answered_by_the_fallback_tier() -> None:
    async def go() -> None:
        async with (
            mocks(faulty(1.0, "529:1"), MockConfig()) as (down, ok),
            aiohttp.ClientSession() as s,
        ):
            cfg = tiers_config({"haiku": [ok], "sonnet": [ok], "opus": [down]})
            d = Dispatcher(cfg, s)
            errors, results = await fire(d, "opus", 50)
            await d.close()
            assert errors == 0
            assert {r.tier for r in results} == {"sonnet"}
            assert all(r.model == "claude-sonnet-4-5" for r in results)
            assert all(
                r.fallback_reason and "opus unavailable" in r.fallback_reason for r in results
            )
            # Cooled after 3 x 529: later requests skip opus without calling it.
            assert status_count(await stats(s, down), 529) <= 3 + 8

    run(go())


def test_429_storm_honours_retry_after() -> None:
    async def go() -> None:
        async with (
            mocks(faulty(1.0, "429:1", retry_after=0.4), MockConfig()) as (
                storm,
                ok,
            ),
            aiohttp.ClientSession() as s,
        ):
            cfg = tiers_config({"haiku": [ok], "sonnet": [ok], "opus": [storm]})
            d = Dispatcher(cfg, s)
            t0 = time.monotonic()
            n_ok = 0
            while time.monotonic() - t0 < 1.0:
                r = await d.complete(req(), decision("opus"))
                n_ok += r.tier == "sonnet"
            elapsed = time.monotonic() - t0
            await d.close()
            calls = status_count(await stats(s, storm), 429)
            # One call per Retry-After window at most (the half-open probe), not one per request.
            assert calls <= elapsed / 0.4 + 1
            assert n_ok > 20

    run(go())


def test_retry_after_is_waited_out_when_no_fallback_remains() -> None:
    async def go() -> None:
        async with mocks(MockConfig()) as (u,), aiohttp.ClientSession() as s:
            cfg = tiers_config(
                {"haiku": [u], "sonnet": [u]}, tier_extra={"haiku": ", fallbacks: []"}
            )
            d = Dispatcher(cfg, s)
            headers = {
                "x-mock-fail-first": "1",
                "x-mock-status": "429",
                "x-mock-retry-after": "0.3",
                "x-mock-key": "ra-test",
            }
            t0 = time.monotonic()
            r = await d.complete(req(extra={UPSTREAM_HEADERS_KEY: headers}), decision("haiku"))
            elapsed = time.monotonic() - t0
            await d.close()
            assert r.tier == "haiku" and r.attempts == 2
            assert elapsed >= 0.3

    run(go())


def test_stream_retries_before_first_byte_and_reports_mid_stream_errors() -> None:
    async def go() -> None:
        async with mocks(MockConfig()) as (u,), aiohttp.ClientSession() as s:
            cfg = tiers_config({"haiku": [u], "sonnet": [u], "opus": [u]})
            d = Dispatcher(cfg, s)
            before = {"x-mock-fail-first": "2", "x-mock-status": "529", "x-mock-key": "st-1"}
            sd = await d.stream(req(extra={UPSTREAM_HEADERS_KEY: before}), decision("sonnet"))
            events = [e async for e in sd.events]
            assert sd.attempts == 3 and sd.tier == "sonnet"
            assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"

            mid = {"x-mock-stream-error-after": "3", "x-mock-status": "529"}
            sd = await d.stream(req(extra={UPSTREAM_HEADERS_KEY: mid}), decision("sonnet"))
            events = [e async for e in sd.events]
            assert sd.attempts == 1
            assert events[0]["type"] == "message_start"
            assert events[-1]["type"] == "error"
            assert sd.deployment_id and d.state.inflight(sd.deployment_id) == 0
            await d.close()

    run(go())


def test_openai_compatible_deployments_work_the_same() -> None:
    async def go() -> None:
        async with mocks(faulty(1.0), MockConfig()) as (bad, good), aiohttp.ClientSession() as s:
            cfg = tiers_config(
                {"haiku": [bad, good], "sonnet": [good], "opus": [good]}, provider="openai"
            )
            d = Dispatcher(cfg, s)
            errors, results = await fire(d, "haiku", 40)
            await d.close()
            assert errors == 0 and all(r.response.text() for r in results)

    run(go())


def test_service_continues_when_redis_stops_mid_run(private_redis: PrivateRedis) -> None:
    async def go() -> None:
        async with mocks(MockConfig()) as (u,), aiohttp.ClientSession() as s:
            cfg = tiers_config(
                {"haiku": [u], "sonnet": [u]},
                extra=f"state: '{private_redis.url}'",
                dep_extra=", rpm: 100000",
            )
            d = Dispatcher(cfg, s)
            await d.start()
            assert d.state.connected  # type: ignore[attr-defined]
            e1, _ = await fire(d, "haiku", 100)
            private_redis.stop()
            e2, _ = await fire(d, "haiku", 100)
            assert not d.state.connected  # type: ignore[attr-defined]
            await d.close()
            assert e1 == 0 and e2 == 0

    run(go())
