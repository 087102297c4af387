"""The ledger's contract on SQLite and the in-memory store: rows round-trip, writes are batched,
close() drains, failures are counted and never raised, memory stays bounded."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tierwise.config import LedgerConfig
from tierwise.ledger import Ledger, LedgerError, LedgerRow
from tierwise.ledger.memory import MemoryStore
from tierwise.ledger.row import COLUMNS, row_from_values
from tierwise.ledger.store import LedgerURLError, make_store, redact


def make_row(i: int, **overrides: object) -> LedgerRow:
    fields: dict[str, object] = {
        "request_id": f"req-{i:06d}",
        "ts": 1_790_000_000.0 + i,
        "api": "anthropic" if i % 2 else "openai",
        "tier": ("haiku", "sonnet", "opus")[i % 3],
        "model": ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5")[i % 3],
        "deployment_id": f"dep{i % 4}",
        "router": "heuristic",
        "complexity": (i % 100) / 100,
        "scores": {"haiku": 0.5 + i % 7 / 100, "sonnet": 0.25, "opus": 0.125},
        "prompt_chars": 400 + i,
        "prompt_tokens": 100 + i,
        "input_tokens": 110 + i,
        "output_tokens": 50 + i,
        "cost_usd": 0.000123 * (i + 1),
        "latency_ms": 250.5 + i,
        "ttft_ms": None if i % 5 == 0 else 40.25 + i,
        "overhead_ms": 0.375,
        "status": 529 if i % 11 == 0 else 200,
        "error_class": "overloaded" if i % 11 == 0 else None,
        "streamed": i % 2 == 1,
        "fallback_reason": "context_window" if i % 13 == 0 else None,
        "requested_model": "auto",
    }
    fields.update(overrides)
    return LedgerRow(**fields)  # type: ignore[arg-type]


def read_rows(path: Path) -> list[LedgerRow]:
    with sqlite3.connect(path) as conn:
        cur = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM requests ORDER BY request_id")
        return [row_from_values(v) for v in cur.fetchall()]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SignallingStore(MemoryStore):
    """A memory store that wakes a waiter on each committed batch, so tests can await the
    background flusher instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.committed = asyncio.Event()

    async def write(self, rows: Sequence[LedgerRow]) -> None:
        await super().write(rows)
        self.committed.set()


class FlakyStore(MemoryStore):
    """A memory store whose next `failures` writes raise, like a database restarting."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def write(self, rows: Sequence[LedgerRow]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database restarting")
        await super().write(rows)


def test_rows_round_trip_with_every_field(tmp_path: Path) -> None:
    rows = [make_row(i) for i in range(30)]  # covers None/non-None ttft, errors, fallbacks

    async def go() -> None:
        async with Ledger.from_url(f"sqlite:///{tmp_path}/l.db") as ledger:
            for r in rows:
                ledger.record(r)

    asyncio.run(go())
    back = read_rows(tmp_path / "l.db")
    assert back == rows
    assert {type(r.streamed) for r in back} == {bool}


def test_many_rows_are_written_in_few_transactions(tmp_path: Path) -> None:
    ledger = Ledger.from_url(f"sqlite:///{tmp_path}/l.db", batch_size=100)

    async def go() -> None:
        await ledger.start()
        for i in range(1000):  # no await in between: the flusher cannot run until flush()
            ledger.record(make_row(i))
        await ledger.flush()
        assert ledger.stats["written"] == 1000
        assert ledger.store.transactions == 10  # type: ignore[union-attr]
        for i in range(1000, 1005):
            ledger.record(make_row(i))
        await ledger.close()

    asyncio.run(go())
    assert ledger.store.transactions == 11  # type: ignore[union-attr]
    assert len(read_rows(tmp_path / "l.db")) == 1005


def test_flusher_writes_a_full_batch_without_being_asked() -> None:
    store = SignallingStore()
    ledger = Ledger(store, batch_size=8, flush_interval_s=3600)  # the interval never fires

    async def go() -> None:
        await ledger.start()
        for i in range(8):
            ledger.record(make_row(i))
        await asyncio.wait_for(store.committed.wait(), timeout=10)
        assert [r.request_id for r in store.rows] == [make_row(i).request_id for i in range(8)]
        await ledger.close()

    asyncio.run(go())


def test_size_wakeups_write_full_batches_only() -> None:
    """A wake-up by size leaves the remainder for the interval, so transactions stay full."""
    store = SignallingStore()
    ledger = Ledger(store, batch_size=256, flush_interval_s=3600)

    async def go() -> None:
        await ledger.start()
        for i in range(300):
            ledger.record(make_row(i))
        await asyncio.wait_for(store.committed.wait(), timeout=10)
        async with ledger._lock:  # the flusher has finished this wake-up
            assert len(store.rows) == 256
            assert ledger.stats["queued"] == 44
        await ledger.close()
        assert len(store.rows) == 300 and store.transactions == 2

    asyncio.run(go())


def test_flusher_writes_a_partial_batch_when_the_interval_passes() -> None:
    store = SignallingStore()
    ledger = Ledger(store, batch_size=1000, flush_interval_s=0.01)

    async def go() -> None:
        await ledger.start()
        ledger.record(make_row(1))
        await asyncio.wait_for(store.committed.wait(), timeout=10)
        assert len(store.rows) == 1
        await ledger.close()

    asyncio.run(go())


def test_close_writes_everything_queued(tmp_path: Path) -> None:
    ledger = Ledger.from_url(f"sqlite:///{tmp_path}/l.db", batch_size=64, flush_interval_s=3600)

    async def go() -> None:
        await ledger.start()
        for i in range(333):
            ledger.record(make_row(i))
        await ledger.close()
        await ledger.close()  # idempotent

    asyncio.run(go())
    assert ledger.stats == {
        "recorded": 333,
        "written": 333,
        "failed_batches": 0,
        "failed_rows": 0,
        "dropped": 0,
        "queued": 0,
    }
    assert len(read_rows(tmp_path / "l.db")) == 333


def test_unwritable_sqlite_path_never_raises_and_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger.from_url(
        f"sqlite:///{tmp_path}/no/such/dir/l.db", batch_size=10, retry_delay_s=0
    )

    async def go() -> None:
        await ledger.start()  # must not raise
        for i in range(25):
            assert ledger.record(make_row(i)) is None
        await ledger.close()

    with caplog.at_level(logging.ERROR, logger="tierwise.ledger"):
        asyncio.run(go())
    s = ledger.stats
    assert s["written"] == 0
    assert s["failed_batches"] >= 1
    assert s["recorded"] == 25 == s["written"] + s["failed_rows"] + s["dropped"]
    assert "unable to open database" in caplog.text


def test_postgres_on_a_closed_port_is_counted_and_the_password_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://tw:s3cretpw@127.0.0.1:{closed_port()}/test?connect_timeout=2"
    ledger = Ledger.from_url(url, batch_size=5, retry_delay_s=0)

    async def go() -> None:
        await ledger.start()
        for i in range(12):
            ledger.record(make_row(i))
        await ledger.flush()  # first batch fails; the rest stay queued for a later try
        assert ledger.stats["failed_batches"] == 1
        assert ledger.stats["queued"] == 7
        await ledger.close()

    with caplog.at_level(logging.DEBUG, logger="tierwise.ledger"):
        asyncio.run(go())
    s = ledger.stats
    assert s["written"] == 0 and s["failed_rows"] == 12 and s["queued"] == 0
    assert caplog.records, "failures must be logged"
    assert "s3cretpw" not in caplog.text
    assert "***" in caplog.text
    assert redact(url) == url.replace("s3cretpw", "***")


def test_a_failed_write_is_retried_once() -> None:
    store = FlakyStore(failures=1)
    ledger = Ledger(store, batch_size=10, retry_delay_s=0)

    async def go() -> None:
        for i in range(10):
            ledger.record(make_row(i))
        await ledger.close()

    asyncio.run(go())
    assert ledger.stats["written"] == 10
    assert ledger.stats["failed_batches"] == 0

    store = FlakyStore(failures=2)  # fails the write and its retry: that batch is lost
    ledger = Ledger(store, batch_size=10, retry_delay_s=0)

    async def go2() -> None:
        for i in range(20):
            ledger.record(make_row(i))
        await ledger.flush()  # batch 1 lost, stops; batch 2 waits for the next flush
        await ledger.flush()

    asyncio.run(go2())
    assert ledger.stats["failed_batches"] == 1
    assert [r.request_id for r in store.rows] == [make_row(i).request_id for i in range(10, 20)]


def test_queue_is_bounded_and_drops_the_oldest() -> None:
    store = MemoryStore()
    ledger = Ledger(store, max_queue=100)

    async def go() -> None:
        for i in range(250):  # store not started: everything waits in the queue
            ledger.record(make_row(i))
        assert ledger.stats["queued"] == 100
        assert ledger.stats["dropped"] == 150
        await ledger.close()

    asyncio.run(go())
    assert [r.request_id for r in store.rows] == [make_row(i).request_id for i in range(150, 250)]
    s = ledger.stats
    assert s["recorded"] == s["written"] + s["failed_rows"] + s["dropped"]


def test_record_after_close_is_dropped_not_raised() -> None:
    ledger = Ledger(MemoryStore())

    async def go() -> None:
        await ledger.start()
        await ledger.close()
        ledger.record(make_row(1))

    asyncio.run(go())
    assert ledger.stats["dropped"] == 1 and ledger.stats["queued"] == 0


def test_feedback_on_known_queued_and_unknown_ids(tmp_path: Path) -> None:
    ledger = Ledger.from_url(f"sqlite:///{tmp_path}/l.db", flush_interval_s=3600)

    async def go() -> None:
        await ledger.start()
        ledger.record(make_row(1))
        await ledger.flush()
        assert await ledger.feedback(make_row(1).request_id, 0.75, "good answer") is True
        ledger.record(make_row(2))  # still queued: feedback must write it first
        assert await ledger.feedback(make_row(2).request_id, 0) is True
        assert await ledger.feedback("no-such-request", 1.0) is False
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            await ledger.feedback(make_row(1).request_id, 5)
        with pytest.raises(ValueError):
            await ledger.feedback(make_row(1).request_id, float("nan"))
        await ledger.close()

    asyncio.run(go())
    with sqlite3.connect(tmp_path / "l.db") as conn:
        got = conn.execute("SELECT request_id, score, comment FROM feedback ORDER BY id").fetchall()
    assert got == [(make_row(1).request_id, 0.75, "good answer"), (make_row(2).request_id, 0, None)]


def test_feedback_on_an_unreachable_store_raises_ledger_error(tmp_path: Path) -> None:
    ledger = Ledger.from_url(f"sqlite:///{tmp_path}/missing/l.db")

    async def go() -> None:
        with pytest.raises(LedgerError, match="cannot store feedback"):
            await ledger.feedback("x", 1.0)
        await ledger.close()

    asyncio.run(go())


def test_config_drives_the_ledger(tmp_path: Path) -> None:
    cfg = LedgerConfig(url=f"sqlite:///{tmp_path}/c.db", batch_size=7, flush_interval_s=2.5)
    ledger = Ledger.from_config(cfg)
    assert (ledger.batch_size, ledger.flush_interval_s) == (7, 2.5)
    assert ledger.enabled

    off = Ledger.from_config(LedgerConfig(enabled=False))

    async def go() -> None:
        await off.start()
        off.record(make_row(1))
        assert await off.feedback("x", 1.0) is False
        await off.close()

    asyncio.run(go())
    assert not off.enabled and off.stats["recorded"] == 0


def test_newer_schema_is_refused_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "l.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO ledger_meta VALUES ('schema_version', '999')")
    ledger = Ledger.from_url(f"sqlite:///{path}", retry_delay_s=0)

    async def go() -> None:
        await ledger.start()
        ledger.record(make_row(1))
        await ledger.close()

    with caplog.at_level(logging.ERROR, logger="tierwise.ledger"):
        asyncio.run(go())
    assert ledger.stats["failed_rows"] == 1
    assert "schema version 999" in caplog.text


def test_bad_urls_are_explained() -> None:
    with pytest.raises(LedgerURLError, match="sqlite:///"):
        make_store("mysql://u:pw@h/db")
    with pytest.raises(LedgerURLError, match="sqlite:////absolute") as info:
        make_store("sqlite://relative.db")
    assert "relative.db" in str(info.value)
    with pytest.raises(LedgerURLError) as info2:
        make_store("oracle://u:topsecret@h/db")
    assert "topsecret" not in str(info2.value)


def test_record_costs_no_serialisation_on_the_callers_path() -> None:
    """record() must not touch the row beyond queueing it: a row whose scores cannot be
    serialised is accepted, and only the flusher's write fails (and is counted)."""
    ledger = Ledger(make_store("sqlite:///:memory:"), retry_delay_s=0)
    bad = make_row(1, scores={"haiku": object()})

    async def go() -> None:
        ledger.record(bad)
        ledger.record(make_row(2))
        await ledger.close()

    asyncio.run(go())
    assert ledger.stats["recorded"] == 2 and ledger.stats["failed_rows"] == 2


def test_importing_the_ledger_loads_no_database_driver() -> None:
    code = (
        "import sys, tierwise.ledger, tierwise.ledger.row; "
        "print(any(m in sys.modules for m in ('sqlite3', 'psycopg', 'asyncio')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_writes_are_timestamp_independent() -> None:
    """Rows are stored with the ts the caller gave, not the time of writing."""
    store = MemoryStore()
    ledger = Ledger(store)
    row = make_row(3, ts=time.time() - 86_400)

    async def go() -> None:
        ledger.record(row)
        await ledger.close()

    asyncio.run(go())
    assert store.rows[0].ts == row.ts
