"""Gateway overhead and throughput: tierwise in front of the mock upstream vs the mock direct.

    .venv/bin/python benchmarks/bench_gateway.py [--requests 3000] [--concurrency 64]
        [--litellm /tmp/litellm-venv/bin/litellm]

Three processes: the mock upstream, the gateway (`tierwise serve`, heuristic router, SQLite
ledger on), and this client (aiohttp). Latency at concurrency 1: the p50/p99 the gateway adds
over calling the mock directly, plus the gateway's own `x-tierwise-overhead-ms`. Throughput at
concurrency 64: non-streaming, small bodies. RSS of the gateway after each phase shows whether it
grows. With `--litellm`, a LiteLLM proxy (`--num_workers 1`) pointed at the same mock is
measured the same way. Goals: added p50 <= 1 ms, p99 <= 5 ms; >= 1,000 req/s; RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

BODY = {
    "model": "auto",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "max_tokens": 64,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


async def latency(url: str, body: dict[str, Any], n: int) -> dict[str, float]:
    lat: list[float] = []
    overhead: list[float] = []
    conn = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=conn) as s:
        for i in range(n + 200):  # the first 200 warm up connections and caches
            t = time.perf_counter()
            async with s.post(url, json=body, headers={"authorization": "Bearer k"}) as r:
                await r.read()
                assert r.status == 200, r.status
                ovh = r.headers.get("x-tierwise-overhead-ms")
            if i >= 200:
                lat.append((time.perf_counter() - t) * 1000)
                if ovh is not None:
                    overhead.append(float(ovh))
    lat.sort()
    out = {
        "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[int(len(lat) * 0.99)],
        "mean_ms": statistics.fmean(lat),
    }
    if overhead:
        overhead.sort()
        out["own_p50_ms"] = overhead[len(overhead) // 2]
        out["own_p99_ms"] = overhead[int(len(overhead) * 0.99)]
    return out


async def throughput(url: str, body: dict[str, Any], n: int, concurrency: int) -> float:
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:
        remaining = n
        errors = 0

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                async with s.post(url, json=body, headers={"authorization": "Bearer k"}) as r:
                    await r.read()
                    errors += r.status != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm-up
        remaining = n
        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t
    if errors:
        print(f"  warning: {errors} non-200 responses", file=sys.stderr)
    return n / elapsed


def write_config(tmp: Path, mock_url: str, ledger: bool = True) -> Path:
    cfg = tmp / "bench.yaml"
    cfg.write_text(
        "tiers:\n"
        f"  - name: mini\n    model: gpt-4o-mini\n    provider: openai\n"
        f"    price_in: 0.15\n    price_out: 0.6\n"
        f"    deployments: [{{provider: openai, base_url: '{mock_url}/v1', api_key: k}}]\n"
        f"  - name: big\n    model: gpt-4o\n    provider: openai\n"
        f"    price_in: 2.5\n    price_out: 10\n"
        f"    deployments: [{{provider: openai, base_url: '{mock_url}/v1', api_key: k}}]\n"
        "routing: {policy: heuristic}\n"
        f"ledger: {{url: 'sqlite:///{tmp}/ledger.db', enabled: {str(ledger).lower()}}}\n"
    )
    return cfg


def write_litellm_config(tmp: Path, mock_url: str) -> Path:
    cfg = tmp / "litellm.yaml"
    cfg.write_text(
        "model_list:\n"
        "  - model_name: auto\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: {mock_url}/v1\n"
        "      api_key: k\n"
        "litellm_settings:\n  telemetry: false\n"
    )
    return cfg


async def measure(name: str, url: str, args: argparse.Namespace, pid: int | None) -> dict:
    print(f"[{name}] latency c=1 x{args.requests} ...", file=sys.stderr)
    lat = await latency(url, BODY, args.requests)
    rss1 = rss_mb(pid) if pid else None
    print(
        f"[{name}] throughput c={args.concurrency} x{args.throughput_requests} ...", file=sys.stderr
    )
    rps = await throughput(url, BODY, args.throughput_requests, args.concurrency)
    rss2 = rss_mb(pid) if pid else None
    if pid:  # one more round: does RSS keep growing?
        await throughput(url, BODY, args.throughput_requests, args.concurrency)
    rss3 = rss_mb(pid) if pid else None
    return {"name": name, **lat, "rps": rps, "rss_mb": [rss1, rss2, rss3]}


async def main_async(args: argparse.Namespace) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    py = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        mport = free_port()
        mock_url = f"http://127.0.0.1:{mport}"
        procs.append(
            subprocess.Popen(
                [py, "-m", "tierwise.mock", "--port", str(mport)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        await wait_ready(mock_url + "/health", procs[-1])
        gport = free_port()
        gw = subprocess.Popen(
            [
                py,
                "-m",
                "tierwise.cli",
                "serve",
                "--config",
                str(write_config(tmp, mock_url, not args.no_ledger)),
                "--port",
                str(gport),
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        procs.append(gw)
        await wait_ready(f"http://127.0.0.1:{gport}/health", gw)
        results = []
        direct = {**BODY, "model": "gpt-4o-mini"}
        print("[direct] latency ...", file=sys.stderr)
        dl = await latency(mock_url + "/v1/chat/completions", direct, args.requests)
        drps = await throughput(
            mock_url + "/v1/chat/completions", direct, args.throughput_requests, args.concurrency
        )
        results.append({"name": "mock direct", **dl, "rps": drps, "rss_mb": [None] * 3})
        results.append(
            await measure("tierwise", f"http://127.0.0.1:{gport}/v1/chat/completions", args, gw.pid)
        )
        if args.litellm:
            lport = free_port()
            lenv = {
                **env,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_LOG": "ERROR",
                "LITELLM_TELEMETRY": "False",
            }
            ll = subprocess.Popen(
                [
                    args.litellm,
                    "--config",
                    str(write_litellm_config(tmp, mock_url)),
                    "--port",
                    str(lport),
                    "--num_workers",
                    "1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=lenv,
            )
            procs.append(ll)
            await wait_ready(f"http://127.0.0.1:{lport}/health/liveliness", ll, timeout=180)
            results.append(
                await measure(
                    "litellm", f"http://127.0.0.1:{lport}/v1/chat/completions", args, ll.pid
                )
            )
        return results
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def report(results: list[dict], args: argparse.Namespace) -> str:
    base = results[0]
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}. "
        f"Latency: {args.requests} sequential requests (c=1); throughput: "
        f"{args.throughput_requests} requests at c={args.concurrency}; non-streaming, "
        "small bodies, heuristic router, SQLite ledger "
        f"{'off' if args.no_ledger else 'on'}. Client, mock and gateway are "
        "separate processes sharing the same cores.",
        "",
        "| target | p50 ms | p99 ms | added p50 ms | added p99 ms | own overhead p50/p99 ms "
        "| req/s (c=64) | RSS MB (after lat / thr / thr again) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        added = "—" if r is base else f"{r['p50_ms'] - base['p50_ms']:.2f}"
        added99 = "—" if r is base else f"{r['p99_ms'] - base['p99_ms']:.2f}"
        own = f"{r['own_p50_ms']:.3f} / {r['own_p99_ms']:.3f}" if "own_p50_ms" in r else "—"
        rss = " / ".join("—" if x is None else f"{x:.0f}" for x in r["rss_mb"])
        lines.append(
            f"| {r['name']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {added} | {added99} | "
            f"{own} | {r['rps']:.0f} | {rss} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="latency samples (c=1)")
    parser.add_argument("--throughput-requests", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-ledger", action="store_true", help="run the gateway without ledger")
    parser.add_argument("--litellm", metavar="PATH", help="litellm executable to compare")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(report(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
