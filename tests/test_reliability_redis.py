"""Two `tierwise serve` processes sharing the real Redis enforce one global rpm limit.

Everything is a real process on loopback: a `tierwise mock-upstream`, two `tierwise serve`
gateways with `state: redis://127.0.0.1:6379/0?key_prefix=<unique>` whose only cheap
deployment allows RPM requests per minute, and the official openai SDK alternating between
them. Without sharing, each gateway would admit RPM on its own (twice the limit).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis

from redis_helpers import SHARED, redis_prefix
from reliability_helpers import Service, fire_alternating, global_rpm_config, status_count

__all__ = ["redis_prefix"]

RPM = 60  # a bucket of 60, refilled at 1 request per second
REQUESTS = 200  # well past what the bucket can give during the burst, so it runs dry


def test_two_serve_processes_share_one_global_rpm_limit(redis_prefix: str, tmp_path: Path) -> None:
    services: list[Service] = []
    try:
        mock = Service(["mock-upstream"], tmp_path / "mock.log")
        services.append(mock)
        mock.wait_ready()
        cfg = tmp_path / "tierwise.yaml"
        cfg.write_text(global_rpm_config(mock.url, f"{SHARED}?key_prefix={redis_prefix}", RPM))
        for i in range(2):  # spawn both, then wait: they start in parallel
            services.append(Service(["serve", "--config", str(cfg)], tmp_path / f"gw{i}.log"))
        gateways = services[1:]
        for g in gateways:
            g.wait_ready()
            assert "Redis state at redis://127.0.0.1:6379/0 connected" in g.log(), g.log()

        run = asyncio.run(fire_alternating([g.url for g in gateways], REQUESTS))

        upstream_ok = status_count(mock.get_json("/mock/stats"), 200)
        r = redis.Redis.from_url(SHARED)
        buckets = list(r.scan_iter(match=f"{redis_prefix}:rl:*"))
        r.close()
        exit_codes = [g.stop() for g in gateways]
        logs = [g.log() for g in gateways]
    finally:
        for s in reversed(services):
            s.stop()

    # A gateway that lost Redis mid-run would count on its own: say so instead of a bad count.
    assert not any("using local dispatch state" in log for log in logs), logs
    assert exit_codes == [0, 0], logs  # SIGTERM: graceful shutdown
    assert len(buckets) == 1  # one bucket for the deployment, whichever process admitted
    accepted = run.total_accepted
    assert accepted + run.limited == REQUESTS
    assert all(a > 0 for a in run.accepted), run.accepted  # both served from the one budget
    assert upstream_ok == accepted  # admitted requests, and only those, reached the upstream
    low, high = run.allowance(RPM)
    # Exactness (bucket arithmetic in one Lua script; the last token can be left unused).
    # One limit per gateway would admit about twice as many, far above `high`. There is no
    # "close to `high`" check: where in the bracket the count lands depends on how long the
    # first and last answers took, i.e. on machine load, not on correctness.
    assert low - 1.5 <= accepted <= high + 0.5, (accepted, low, high, run.elapsed)
