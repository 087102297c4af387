"""Reliability under injected faults: requests, client-visible errors, fallbacks, p99 added
latency. Run by hand: `.venv/bin/python benchmarks/bench_reliability.py [--global-rpm-only]`
(needs redis-server, and Redis at 127.0.0.1:6379 for the two-process rpm scenario, which starts
two real `tierwise serve` processes). Prints a Markdown table.

Every deployment is a real mock upstream on loopback (20 ms latency) reached through the real
provider adapters; retry/cooldown settings are the defaults. "p99 added" is the p99 of the
end-to-end dispatch latency minus the fault-free baseline's p99.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from redis_helpers import PrivateRedis
from reliability_helpers import MODELS, decision, faulty, mocks, req
from tierwise.config import parse_config
from tierwise.dispatch import Dispatcher
from tierwise.mock.config import MockConfig
from tierwise.providers.base import ChatResponse, UpstreamError, Usage

LAT = 20.0  # ms of upstream latency on every mock


def cfg_for(urls: dict[str, list[str]], extra: str = "", dep_extra: str = "") -> Any:
    lines = ["tiers:"]
    for name in ("haiku", "sonnet", "opus"):
        deps = ", ".join(
            f"{{base_url: '{u}', api_key: k{dep_extra}}}" for u in urls.get(name, urls["haiku"])
        )
        lines.append(
            f"  - {{name: {name}, model: {MODELS[name]}, price_in: 1, price_out: 5, "
            f"deployments: [{deps}]}}"
        )
    return parse_config("\n".join(lines) + "\n" + extra + "\n", "<bench>")


async def drive(
    d: Dispatcher, tiers: list[str], n: int, conc: int = 16, midway: Any = None
) -> dict[str, Any]:
    lats: list[float] = []
    errors = fallbacks = 0
    sem = asyncio.Semaphore(conc)
    done = 0

    async def one(i: int) -> None:
        nonlocal errors, fallbacks, done
        async with sem:
            t0 = time.perf_counter()
            try:
                r = await d.complete(req(), decision(tiers[i % len(tiers)]))
                fallbacks += r.fallback_reason is not None
            except UpstreamError:
                errors += 1
            lats.append(time.perf_counter() - t0)
            done += 1
            if midway is not None and done == n // 2:
                midway()

    await asyncio.gather(*(one(i) for i in range(n)))
    lats.sort()
    return {"n": n, "errors": errors, "fallbacks": fallbacks, "p99": lats[int(0.99 * (n - 1))]}


async def scenario(
    name: str,
    mock_cfgs: list[MockConfig],
    layout: Any,
    tiers: list[str],
    n: int,
    extra: str = "",
    midway: Any = None,
    dep_extra: str = "",
) -> dict[str, Any]:
    async with mocks(*mock_cfgs) as urls, aiohttp.ClientSession() as s:
        d = Dispatcher(cfg_for(layout(urls), extra, dep_extra), s)
        await d.start()
        out = await drive(d, tiers, n, midway=midway)
        await d.close()
    out["name"] = name
    return out


def m(**kw: Any) -> MockConfig:
    c = faulty(**kw) if kw else MockConfig()
    c.latency_ms = LAT
    return c


async def hot_path_us(n: int = 20000) -> float:
    """Our own time per dispatch (memory state, in-process no-op provider)."""

    class Noop:
        kind = "anthropic"
        resp = ChatResponse("x", "m", [{"type": "text", "text": "ok"}], "end_turn", Usage(1, 1))

        async def complete(self, *a: Any) -> ChatResponse:
            return self.resp

    cfg = cfg_for({"haiku": ["http://a", "http://b"]})
    d = Dispatcher(cfg, None, providers={"anthropic": Noop()})  # type: ignore[arg-type]
    r, dec = req(), decision("sonnet")
    for _ in range(1000):
        await d.complete(r, dec)
    t0 = time.perf_counter()
    for _ in range(n):
        await d.complete(r, dec)
    return (time.perf_counter() - t0) / n * 1e6


def global_rpm(rpm: int = 60, n: int = 300) -> dict[str, Any] | None:
    """Two `tierwise serve` processes on one Redis bucket, as tests/test_reliability_redis.py
    runs them: a mock-upstream subprocess, the openai SDK alternating between the gateways."""
    import tempfile
    import uuid

    import redis

    from redis_helpers import SHARED, _reachable
    from reliability_helpers import Service, fire_alternating, global_rpm_config

    if not _reachable("127.0.0.1", 6379):
        return None
    prefix = f"tierwise-bench-{uuid.uuid4().hex[:10]}"
    tmp = Path(tempfile.mkdtemp(prefix="tierwise-bench-rpm-"))
    services: list[Service] = []
    try:
        mock = Service(["mock-upstream"], tmp / "mock.log")
        services.append(mock)
        mock.wait_ready()
        (tmp / "tierwise.yaml").write_text(
            global_rpm_config(mock.url, f"{SHARED}?key_prefix={prefix}", rpm)
        )
        for i in range(2):
            services.append(
                Service(["serve", "--config", str(tmp / "tierwise.yaml")], tmp / f"gw{i}.log")
            )
        for g in services[1:]:
            g.wait_ready()
        run = asyncio.run(fire_alternating([g.url for g in services[1:]], n))
    finally:
        for svc in reversed(services):
            svc.stop()
        r = redis.Redis.from_url(SHARED)
        keys = list(r.scan_iter(match=f"{prefix}:*"))
        if keys:
            r.delete(*keys)
        r.close()
    low, high = run.allowance(rpm)
    return {
        "rpm": rpm,
        "accepted": run.total_accepted,
        "per_gateway": run.accepted,
        "low": low,
        "high": high,
        "elapsed": run.elapsed,
        "total": n,
    }


def print_global_rpm() -> None:
    g = global_rpm()
    if g is None:
        print("two processes, shared Redis: skipped (no Redis at 127.0.0.1:6379)")
        return
    print(
        f"two `tierwise serve` processes, shared Redis, rpm {g['rpm']}: {g['accepted']} of "
        f"{g['total']} accepted ({' + '.join(map(str, g['per_gateway']))}) in "
        f"{g['elapsed']:.2f} s; the bucket allows {g['low']:.1f}–{g['high']:.1f} over the run "
        f"({g['accepted'] / g['high'] - 1:+.1%} vs the upper bound)"
    )


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    one = lambda u: {"haiku": [u[0]]}  # noqa: E731
    two = lambda u: {"haiku": [u[0], u[1]]}  # noqa: E731
    rows = [await scenario("baseline: 2 healthy deployments", [m(), m()], two, ["haiku"], 2000)]
    rows.append(
        await scenario("1 of 2 deployments returns 500", [m(rate=1.0), m()], two, ["haiku"], 2000)
    )
    rows.append(
        await scenario(
            "30% random 500s, 1 deployment per tier",
            [m(rate=0.3, seed=1), m(rate=0.3, seed=2), m(rate=0.3, seed=3)],
            lambda u: {"haiku": [u[0]], "sonnet": [u[1]], "opus": [u[2]]},
            ["haiku", "sonnet", "opus"],
            3000,
        )
    )
    rows.append(
        await scenario(
            "429 storm on opus (Retry-After 1 s)",
            [m(rate=1.0, mix="429:1", retry_after=1.0), m()],
            lambda u: {"haiku": [u[1]], "sonnet": [u[1]], "opus": [u[0]]},
            ["opus"],
            2000,
        )
    )
    rows.append(
        await scenario(
            "opus fully down (529)",
            [m(rate=1.0, mix="529:1"), m()],
            lambda u: {"haiku": [u[1]], "sonnet": [u[1]], "opus": [u[0]]},
            ["opus"],
            2000,
        )
    )
    pr = PrivateRedis()
    pr.start()
    try:
        rows.append(
            await scenario(
                "Redis stopped mid-run (state: redis, rpm set)",
                [m()],
                one,
                ["haiku"],
                2000,
                extra=f"state: '{pr.url}'",
                midway=pr.stop,
                dep_extra=", rpm: 1000000",
            )
        )
    finally:
        pr.stop()
    base = rows[0]["p99"]
    print("| scenario | requests | client-visible errors | fallbacks taken | p99 added latency |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        added = (r["p99"] - base) * 1000
        print(
            f"| {r['name']} | {r['n']} | {r['errors']} ({r['errors'] / r['n']:.2%}) | "
            f"{r['fallbacks']} | {added:+.1f} ms |"
        )
    print(f"\nbaseline p99 end-to-end: {base * 1000:.1f} ms (mock latency {LAT:.0f} ms)")
    print(f"hot path, memory state: {await hot_path_us():.1f} µs of our own time per dispatch")


if __name__ == "__main__":
    if "--global-rpm-only" not in sys.argv[1:]:
        asyncio.run(main())
    print_global_rpm()  # its own event loop: the gateways and mock are subprocesses
