"""The Redis state backend against a real Redis: shared limits, cooldowns, probes, load, and
graceful degradation when Redis goes away."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from redis_helpers import SHARED, PrivateRedis, free_port, private_redis, redis_prefix
from tierwise.config import CooldownConfig
from tierwise.dispatch.state import COOLING, HALF_OPEN, HEALTHY
from tierwise.dispatch.state.redis import RedisState, split_prefix

__all__ = ["private_redis", "redis_prefix"]  # fixtures, re-exported for pytest


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def pair(prefix: str, cd: CooldownConfig | None = None) -> tuple[RedisState, RedisState]:
    url = f"{SHARED}?key_prefix={prefix}"
    cd = cd or CooldownConfig()
    return RedisState(url, cd, sync_s=60), RedisState(url, cd, sync_s=60)


def test_split_prefix_strips_our_parameter() -> None:
    assert split_prefix("redis://h:1/0?key_prefix=abc&ssl_cert_reqs=none") == (
        "redis://h:1/0?ssl_cert_reqs=none",
        "abc",
    )
    assert split_prefix("redis://h:1/0") == ("redis://h:1/0", "tierwise")


def test_two_instances_share_one_rpm_bucket(redis_prefix: str) -> None:
    async def go() -> list[float]:
        a, b = pair(redis_prefix)
        await a.start()
        await b.start()
        try:
            waits = []
            for i in range(14):
                st = a if i % 2 else b
                waits.append(await st.acquire("dep1", 10, None, 0))
            return waits
        finally:
            await a.close()
            await b.close()

    waits = run(go())
    assert sum(1 for w in waits if w == 0.0) == 10
    assert all(0.0 < w <= 6.0 for w in waits[10:])  # 1 request per 6 s refills the bucket


def test_tpm_bucket_counts_tokens_and_later_charges(redis_prefix: str) -> None:
    async def go() -> tuple[float, float, float]:
        a, b = pair(redis_prefix)
        await a.start()
        await b.start()
        try:
            first = await a.acquire("dep1", None, 1000, 600)
            a.charge("dep1", 1000, 300)  # output tokens learnt after the call
            await a.sync_once()
            second = await b.acquire("dep1", None, 1000, 200)  # only 100 left
            third = await b.acquire("dep1", None, 1000, 50)
            return first, second, third
        finally:
            await a.close()
            await b.close()

    first, second, third = run(go())
    assert first == 0.0 and second > 0.0 and third == 0.0


def test_cooldown_started_on_one_instance_is_seen_by_the_other(redis_prefix: str) -> None:
    async def go() -> tuple[int, int, bool]:
        a, b = pair(redis_prefix)
        await a.start()
        await b.start()
        try:
            now = time.monotonic()
            before = b.health("dep1", now)
            a.record_failure("dep1", now, 429, 30.0)
            await a.sync_once()  # publishes the cooldown
            await b.sync_once()  # pulls it
            return before, b.health("dep1", time.monotonic()), b.panic_ok("dep1")
        finally:
            await a.close()
            await b.close()

    before, after, panic_ok = run(go())
    assert before == HEALTHY and after == COOLING
    assert panic_ok is False  # a 429 rest is never cut short


def test_only_one_instance_wins_the_half_open_probe(redis_prefix: str) -> None:
    async def go() -> list[bool]:
        a, b = pair(redis_prefix)
        await a.start()
        await b.start()
        try:
            now = time.monotonic()
            for st in (a, b):
                st.start_cooldown("dep1", now - 10, 1.0, False)  # expired: half-open
                assert st.health("dep1", now) == HALF_OPEN
            return [await a.claim_probe("dep1", now, 5.0), await b.claim_probe("dep1", now, 5.0)]
        finally:
            await a.close()
            await b.close()

    assert sorted(run(go())) == [False, True]


def test_in_flight_and_latency_are_summed_across_instances(redis_prefix: str) -> None:
    async def go() -> tuple[int, float | None]:
        a, b = pair(redis_prefix)
        await a.start()
        await b.start()
        try:
            a.begin("dep1")
            a.begin("dep1")
            b.begin("dep1")
            a.record_latency("dep1", True, 0.4)
            b.record_latency("dep1", True, 0.2)
            await a.sync_once()
            await b.sync_once()
            return b.inflight("dep1"), b.latency("dep1", True)
        finally:
            await a.close()
            await b.close()

    inflight, lat = run(go())
    assert inflight == 3
    assert lat == pytest.approx(0.3)


def test_redis_going_away_falls_back_to_local_state_and_recovers(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        st = RedisState(private_redis.url, CooldownConfig(), sync_s=60)
        await st.start()
        try:
            assert st.connected
            assert await st.acquire("dep1", 100, None, 0) == 0.0
            private_redis.stop()
            redis_calls = 0
            real_rate = st._rate

            async def counted(*args: Any, **kwargs: Any) -> Any:
                nonlocal redis_calls
                redis_calls += 1
                return await real_rate(*args, **kwargs)

            st._rate = counted
            with caplog.at_level(logging.WARNING, "tierwise.dispatch.state"):
                for _ in range(20):
                    assert await st.acquire("dep1", 100, None, 0) == 0.0
            assert not st.connected
            # One failed Redis call switched it to local state: no per-request stalls on Redis.
            assert redis_calls == 1
            warnings = [r for r in caplog.records if "using local dispatch state" in r.message]
            assert len(warnings) == 1  # said once, not per request
            # Local bucket carried on from the shared level: 100 - 21 left.
            assert st.headroom("dep1", 100, None) == pytest.approx(0.79, abs=0.02)
            private_redis.start()
            assert await st._connect()
            assert st.connected
            assert await st.acquire("dep1", 100, None, 0) == 0.0
        finally:
            await st.close()

    run(go())


def test_unreachable_redis_at_start_still_serves() -> None:
    async def go() -> float:
        st = RedisState(f"redis://127.0.0.1:{free_port()}/0", CooldownConfig(), sync_s=60)
        await st.start()
        try:
            assert not st.connected
            return await st.acquire("dep1", 1, None, 0)
        finally:
            await st.close()

    assert run(go()) == 0.0


# ---------------------------------------------------------------------- credentials in logs

PASSWORD = "S3cretPassw0rd"


def test_password_of_an_unreachable_redis_never_reaches_the_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://user:{PASSWORD}@127.0.0.1:{free_port()}/0?key_prefix=t"

    async def go() -> None:
        st = RedisState(url, CooldownConfig(), sync_s=60)
        await st.start()
        try:
            assert not st.connected
            await st.acquire("dep1", 1, None, 0)
            await st._connect()
        finally:
            await st.close()

    with caplog.at_level(logging.DEBUG):
        run(go())
    assert "redis://user:***@127.0.0.1" in caplog.text  # it did say where
    assert PASSWORD not in caplog.text


def test_password_stays_out_of_logs_through_connect_failure_and_recovery(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    def require_password() -> None:
        with redis.Redis(port=private_redis.port) as r:
            r.config_set("requirepass", PASSWORD)

    require_password()
    url = f"redis://:{PASSWORD}@127.0.0.1:{private_redis.port}/0"

    async def go() -> None:
        st = RedisState(url, CooldownConfig(), sync_s=60)
        await st.start()
        try:
            assert st.connected  # the password really is used
            private_redis.stop()
            await st.acquire("dep1", 100, None, 0)  # fails over: logs the driver's error
            assert not st.connected
            private_redis.start()
            require_password()
            assert await st._connect()
            # A driver message that quotes the password (any form) is scrubbed too.
            assert PASSWORD not in st._describe(OSError(f"AUTH {PASSWORD} rejected"))
        finally:
            await st.close()

    with caplog.at_level(logging.DEBUG):
        run(go())
    text = caplog.text
    assert "Redis state at redis://:***@127.0.0.1" in text and "failed (" in text
    assert PASSWORD not in text


def test_malformed_url_error_does_not_quote_the_password() -> None:
    st = RedisState(f"redis://:{PASSWORD}@127.0.0.1:notaport/0", CooldownConfig())
    with pytest.raises(ValueError) as ei:
        run(st.start())
    assert "redis://:***@127.0.0.1:notaport/0" in str(ei.value)
    assert PASSWORD not in str(ei.value)


# ---------------------------------------------------------------------- batched writes


def test_writes_queued_for_a_failed_sync_are_applied_once_redis_is_back(
    private_redis: PrivateRedis,
) -> None:
    """Redis dies in the middle of a sync: the charge already sent is not sent again, the
    ones not sent (and a charge that arrived during the sync) are, and so is the cooldown."""
    import redis

    async def go() -> tuple[dict[str, str | None], str | None, int]:
        st = RedisState(private_redis.url, CooldownConfig(), sync_s=60)
        await st.start()
        try:
            assert st.connected
            st.charge("a", 1000, 100)
            st.charge("b", 1000, 200)
            st.charge("b", 1000, 50)
            st.record_failure("c", time.monotonic(), 429, 30.0)
            real_rate = st._rate
            sent = 0

            async def rate_then_die(*args: Any, **kwargs: Any) -> Any:
                nonlocal sent
                out = await real_rate(*args, **kwargs)
                sent += 1
                if sent == 1:  # "a" has landed; Redis dies before "b" and the cooldown
                    st.charge("a", 1000, 7)  # work arriving while the sync is under way
                    private_redis.stop()
                return out

            st._rate = rate_then_die
            await st.sync_once()
            assert not st.connected
            private_redis.start()  # a fresh, empty Redis on the same port
            assert await st._connect()
            await st.sync_once()
            assert st.connected
        finally:
            await st.close()
        with redis.Redis(port=private_redis.port, decode_responses=True) as r:
            levels = {dep: r.hget(f"tierwise:rl:{dep}", "k") for dep in ("a", "b")}
            cool = r.hget("tierwise:cool", "c")
            secs, micros = r.time()
        return levels, cool, secs * 1000 + micros // 1000

    levels, cool, redis_ms = run(go())
    # A full bucket (1000) minus what was still pending: "a"'s first 100 went to the old
    # Redis and is not re-sent; its 7 (arrived mid-sync) and "b"'s 250 are.
    assert levels == {"a": "993", "b": "750"}
    assert cool is not None
    deadline_ms, _, rate_limited = cool.partition(":")
    assert rate_limited == "1"
    assert 0 < int(deadline_ms) - redis_ms <= 30_000  # what was left of it, not extended
