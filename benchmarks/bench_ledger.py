"""Ledger speed, by hand: `python benchmarks/bench_ledger.py [--rows N] [--pg URL]`.

Measures (1) record()'s cost on the caller's path, in microseconds per row, and (2) end-to-end
write throughput (record N rows, close(), which drains them in batches) to SQLite in a temp dir
and to PostgreSQL (in a throwaway schema, dropped afterwards). Not a test: numbers vary by box.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid

from tierwise.ledger import Ledger, LedgerRow
from tierwise.ledger.memory import MemoryStore


def make_row(i: int) -> LedgerRow:
    return LedgerRow(
        request_id=f"bench-{i:08d}", ts=time.time(), api="openai", tier="haiku",
        model="claude-haiku-4-5", deployment_id="dep0", router="heuristic", complexity=0.31,
        scores={"haiku": 0.7, "sonnet": 0.2, "opus": 0.1}, prompt_chars=812, prompt_tokens=203,
        input_tokens=210, output_tokens=95, cost_usd=0.000685, latency_ms=812.5, ttft_ms=120.25,
        overhead_ms=0.42, status=200, error_class=None, streamed=True, fallback_reason=None,
        requested_model="auto",
    )  # fmt: skip


def bench_record(n: int) -> float:
    """µs per record() call, rows pre-built (the server builds its row anyway)."""
    rows = [make_row(i) for i in range(n)]
    ledger = Ledger(MemoryStore(), max_queue=n + 1, batch_size=256)  # wakes a (absent) flusher
    record = ledger.record
    t0 = time.perf_counter()
    for r in rows:
        record(r)
    return (time.perf_counter() - t0) / n * 1e6


async def bench_write(url: str, n: int, batch_size: int) -> tuple[float, dict[str, int]]:
    ledger = Ledger.from_url(url, batch_size=batch_size, flush_interval_s=3600)
    await ledger.start()
    rows = [make_row(i) for i in range(n)]
    t0 = time.perf_counter()
    for r in rows:
        ledger.record(r)
    await ledger.close()
    return n / (time.perf_counter() - t0), ledger.stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()

    best = min(bench_record(args.rows) for _ in range(5))
    print(f"record():  {best:.3f} µs per row (best of 5 x {args.rows:,})")

    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/bench.db"
        rate, stats = asyncio.run(bench_write(url, args.rows, args.batch_size))
        print(f"sqlite:    {rate:,.0f} rows/s  (batch {args.batch_size}, WAL)  {stats}")

    try:
        import psycopg

        schema = f"tw_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.pg, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:
        print(f"postgres:  skipped ({exc})")
        return
    try:
        sep = "&" if "?" in args.pg else "?"
        url = f"{args.pg}{sep}options=-csearch_path%3D{schema}"
        rate, stats = asyncio.run(bench_write(url, args.rows, args.batch_size))
        print(f"postgres:  {rate:,.0f} rows/s  (batch {args.batch_size}, COPY)  {stats}")
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
