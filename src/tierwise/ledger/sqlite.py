"""SQLite backend: stdlib sqlite3 on a worker thread, WAL mode, one transaction per batch.

One connection, used by one thread at a time (the Ledger serialises writes), so
check_same_thread is off. WAL lets `tierwise report` read while the server writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tierwise.ledger.row import LedgerRow, row_values
from tierwise.ledger.schema import SCHEMA_VERSION, SQLITE_DDL, SQLITE_INSERT, check_version

_FEEDBACK_SQL = (
    "INSERT INTO feedback (request_id, ts, score, comment) "
    "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM requests WHERE request_id = ?)"
)


class SQLiteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.where = f"sqlite:///{path}"
        self.transactions = 0
        self._conn: sqlite3.Connection | None = None

    # -- sync parts, run in a worker thread
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("BEGIN IMMEDIATE")
            for ddl in SQLITE_DDL:
                conn.execute(ddl)
            found = conn.execute(
                "SELECT value FROM ledger_meta WHERE key = 'schema_version'"
            ).fetchone()
            check_version(found[0] if found else None, self.where)
            if found is None:
                conn.execute(
                    "INSERT INTO ledger_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _write(self, rows: Sequence[LedgerRow]) -> None:
        conn = self._connect()
        values = [row_values(r) for r in rows]
        conn.execute("BEGIN")
        try:
            conn.executemany(SQLITE_INSERT, values)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.transactions += 1

    def _feedback(self, request_id: str, score: float, comment: str | None, ts: float) -> bool:
        conn = self._connect()
        cur = conn.execute(_FEEDBACK_SQL, (request_id, ts, score, comment, request_id))
        return cur.rowcount == 1

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- async face
    async def open(self) -> None:
        await asyncio.to_thread(self._connect)

    async def write(self, rows: Sequence[LedgerRow]) -> None:
        await asyncio.to_thread(self._write, rows)

    async def add_feedback(
        self, request_id: str, score: float, comment: str | None, ts: float | None = None
    ) -> bool:
        return await asyncio.to_thread(
            self._feedback, request_id, score, comment, time.time() if ts is None else ts
        )

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


class SQLiteReader:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        if path != ":memory:" and not Path(path).is_file():
            raise FileNotFoundError(
                f"no ledger at {path!r}; start `tierwise serve` (ledger.url in the config) "
                "or pass --ledger sqlite:///PATH"
            )
        uri = f"file:{Path(path).resolve()}?mode=ro" if path != ":memory:" else ":memory:"
        self._conn = sqlite3.connect(uri, uri=path != ":memory:")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        self._conn.close()
