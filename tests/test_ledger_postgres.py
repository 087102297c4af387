"""The ledger against the real PostgreSQL at 127.0.0.1:5432, database `test`.

Each test gets its own schema (dropped afterwards), selected with the URL's
`options=-csearch_path=...`, so parallel runs never see each other's tables.
Skips when the server is unreachable, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_ledger import make_row  # tests/ is on sys.path (pytest rootdir-less import)
from tierwise.config import load_config
from tierwise.ledger import Ledger
from tierwise.ledger.report import build_report
from tierwise.ledger.row import COLUMNS, row_from_values
from tierwise.ledger.store import open_reader

psycopg = pytest.importorskip("psycopg")


def _base_url() -> str | None:
    users = [os.environ["PGUSER"]] if os.environ.get("PGUSER") else ["postgres", "root"]
    errors = []
    for user in users:
        url = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return url
        except psycopg.Error as exc:
            errors.append(f"{user}: {exc}")
    _base_url.errors = errors  # type: ignore[attr-defined]
    return None


@pytest.fixture(scope="module")
def pg_base() -> str:
    url = _base_url()
    if url is None:
        reason = "PostgreSQL at 127.0.0.1:5432/test unreachable: " + "; ".join(
            _base_url.errors  # type: ignore[attr-defined]
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_url(pg_base: str) -> Iterator[str]:
    schema = f"tw_ledger_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{pg_base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg_base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _read(url: str) -> list:
    with psycopg.connect(url) as conn:
        cur = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM requests ORDER BY request_id")
        return [row_from_values(v) for v in cur.fetchall()]


def test_rows_round_trip_batched_and_flushed_on_close(pg_url: str) -> None:
    rows = [make_row(i) for i in range(250)]
    ledger = Ledger.from_url(pg_url, batch_size=100, flush_interval_s=3600)

    async def go() -> None:
        await ledger.start()
        for r in rows:
            ledger.record(r)
        await ledger.close()

    asyncio.run(go())
    assert _read(pg_url) == rows
    assert ledger.store.transactions == 3  # type: ignore[union-attr]
    assert ledger.stats["written"] == 250 and ledger.stats["failed_batches"] == 0


def test_rewriting_a_batch_is_idempotent(pg_url: str) -> None:
    async def go() -> None:
        async with Ledger.from_url(pg_url) as ledger:
            ledger.record(make_row(1))
            await ledger.flush()
            ledger.record(make_row(1))  # e.g. a retried batch whose commit was in doubt
            ledger.record(make_row(2))

    asyncio.run(go())
    assert [r.request_id for r in _read(pg_url)] == [make_row(1).request_id, make_row(2).request_id]


def test_feedback_known_and_unknown(pg_url: str) -> None:
    async def go() -> None:
        async with Ledger.from_url(pg_url, flush_interval_s=3600) as ledger:
            ledger.record(make_row(1))
            assert await ledger.feedback(make_row(1).request_id, 0.25, "meh") is True
            assert await ledger.feedback("unknown-id", 1.0) is False

    asyncio.run(go())
    with psycopg.connect(pg_url) as conn:
        got = conn.execute("SELECT request_id, score, comment FROM feedback").fetchall()
    assert got == [(make_row(1).request_id, 0.25, "meh")]


def test_report_on_postgres_matches_sqlite(pg_url: str, tmp_path: Path) -> None:
    """The report's SQL is portable: the same rows give the same figures on both databases."""
    rows = [make_row(i) for i in range(60)]
    sqlite_url = f"sqlite:///{tmp_path}/l.db"

    async def fill(url: str) -> None:
        async with Ledger.from_url(url) as ledger:
            for r in rows:
                ledger.record(r)
            await ledger.flush()
            for i in range(0, 60, 4):
                assert await ledger.feedback(rows[i].request_id, (i % 10) / 10)

    tiers = load_config().tiers
    reports = []
    for url in (pg_url, sqlite_url):
        asyncio.run(fill(url))
        reader = open_reader(url)
        try:
            rep = build_report(reader, tiers, since=rows[10].ts)
        finally:
            reader.close()
        rep["window"].pop("until")
        reports.append(rep)
    assert reports[0]["total"]["requests"] == 50
    assert _close(reports[0], reports[1])


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys()
        return all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b)
        return all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9)
        return True
    assert a == b
    return True
