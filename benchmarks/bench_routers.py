"""Routing quality of the baseline routers on every shared dataset, and heuristic decision time.

    .venv/bin/python benchmarks/bench_routers.py [ROUTER ...] [--data DIR] [--no-timing]

Routers: heuristic, length and random always, plus any names given (e.g. learned ones from
`tierwise.routing.registry.router_names()`). Prints markdown for docs/benchmarks.md. Run by
hand; speed goals live here, never in the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import os
import platform
import pstats
import sys
import time
from pathlib import Path

import numpy as np

from tierwise.config import load_config
from tierwise.eval.datasets import find_datasets, load_dataset
from tierwise.eval.runner import evaluate_dataset
from tierwise.routing.heuristic import HeuristicRouter
from tierwise.routing.ladder import TierLadder
from tierwise.types import ChatRequest

BASELINES = ["heuristic", "length", "random"]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GOAL_US = 200.0  # heuristic decision time goal for a 2,000-token prompt


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    today = datetime.date.today().isoformat()
    return (f"{today}; {os.cpu_count()} CPUs (nproc), {cpu}; Python {platform.python_version()}"
            f" ({platform.python_implementation()}), numpy {np.__version__}")


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def num(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def quality_table(data: Path, routers: list[str]) -> str:
    cfg = load_config(None, require_env=False)
    rows = ["| dataset | tiers | router | APGR | APGR cost | CPT(50%) | CPT(80%) | "
            "cost @95% of strongest | random→oracle | eval s |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for folder in find_datasets(data):
        ds = load_dataset(folder)
        oracle_done = False
        for name in routers:
            start = time.perf_counter()
            try:
                ev = evaluate_dataset(ds, cfg, name)
            except Exception as exc:  # a router that cannot be built here is reported, not fatal
                rows.append(f"| {ds.name} | | {name} | n/a: {type(exc).__name__}: {exc} |"
                            " | | | | | |")
                continue
            took = time.perf_counter() - start
            s = ev.summary
            n_tiers = len(s["tiers"])
            two = s["two_tier"]
            f = s["frontier"]
            if two:
                r = two["router"]
                cells = [num(r["apgr"]), num(r["apgr_cost"]), pct(r["cpt50"]), pct(r["cpt80"]),
                         pct(r["cost_at_95"])]
            else:
                cells = ["-", "-", "-", "-", pct(f["router"]["cost_at_95_share"])]
            rows.append(f"| {ds.name} | {n_tiers} | {name} | " + " | ".join(cells)
                        + f" | {num(f['position'], 2)} | {took:.1f} |")
            if not oracle_done:
                oracle_done = True
                if two:
                    o = two["oracle"]
                    ocells = [num(o["apgr"]), num(o["apgr_cost"]), pct(o["cpt50"]),
                              pct(o["cpt80"]), pct(o["cost_at_95"])]
                else:
                    ocells = ["-", "-", "-", "-", pct(f["oracle"]["cost_at_95_share"])]
                rcell = pct(two["random"]["cost_at_95"] if two
                            else f["random"]["cost_at_95_share"])
                oracle_row = (f"| {ds.name} | {n_tiers} | *oracle* | " + " | ".join(ocells)
                              + " | 1.00 | |")
                random_row = (f"| {ds.name} | {n_tiers} | *random mixing* | 0.500 | 0.500 | "
                              f"50.0% | 80.0% | {rcell} | 0.00 | |")
        rows.extend([random_row, oracle_row])
    return "\n".join(rows)


def prompt_of(tokens: int) -> str:
    """English with a little code and math, about `tokens` tokens at 4 characters per token."""
    base = (
        "Please explain why the following function is slow and how to optimize it. "
        "def f(xs): return sorted(xs)[0] if xs else None; then compare it with a heap. "
        "What is the complexity, and is 3x^2 + 2 = 0 solvable over the reals? "
    )
    text = base * (tokens * 4 // len(base) + 1)
    return text[: tokens * 4]


def time_heuristic(iterations: int) -> tuple[str, list[tuple[int, float, float]]]:
    cfg = load_config(None, require_env=False)
    router = HeuristicRouter(TierLadder.from_config(cfg), cfg.routing.heuristic)
    rows = ["| prompt tokens | p50 µs | p99 µs | iterations |", "|---|---|---|---|"]
    results = []
    for tokens in (20, 200, 2000):
        request = ChatRequest.from_prompt(prompt_of(tokens))
        for _ in range(200):
            router.route(request)
        samples = np.empty(iterations)
        clock = time.perf_counter_ns
        for i in range(iterations):
            t0 = clock()
            router.route(request)
            samples[i] = clock() - t0
        p50, p99 = np.percentile(samples, [50, 99]) / 1000.0
        results.append((tokens, p50, p99))
        rows.append(f"| {tokens} | {p50:.1f} | {p99:.1f} | {iterations} |")
    return "\n".join(rows), results


def profile_heuristic(tokens: int = 2000, calls: int = 2000) -> str:
    cfg = load_config(None, require_env=False)
    router = HeuristicRouter(TierLadder.from_config(cfg), cfg.routing.heuristic)
    request = ChatRequest.from_prompt(prompt_of(tokens))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        router.route(request)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routers", nargs="*", help="extra router names to evaluate")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of datasets")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="always print a cProfile of the 2,000-token case")
    args = parser.parse_args(argv)
    routers = BASELINES + [r for r in args.routers if r not in BASELINES]

    print(f"Machine: {machine()}\n")
    if not args.no_quality:
        print("## Routing quality: baselines\n")
        print(quality_table(Path(args.data), routers))
        print()
    if not args.no_timing:
        print("## Heuristic decision time\n")
        table, results = time_heuristic(args.iterations)
        print(table)
        p50_2000 = results[-1][1]
        verdict = "meets" if p50_2000 < GOAL_US else "MISSES"
        print(f"\n2,000-token p50 {p50_2000:.1f} µs {verdict} the {GOAL_US:.0f} µs goal.")
        if args.profile or p50_2000 >= GOAL_US:
            print("\n```\n" + profile_heuristic() + "```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
