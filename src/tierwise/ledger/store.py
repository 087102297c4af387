"""The storage contract the Ledger writes through, and URL -> store/reader selection.

A store does one thing: write a batch of rows in one transaction, add feedback, and report
aggregates through a synchronous `Reader` (reports run in the CLI, not in the server loop).
Backends import their driver lazily, so `import tierwise.ledger` costs no sqlite3 or psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from tierwise.ledger.row import LedgerRow
from tierwise.urls import redact  # re-exported: callers import it from here


class Store(Protocol):
    """Async write side. `transactions` counts committed batches (tests assert batching with it)."""

    transactions: int
    where: str  # a printable location with any password removed

    async def open(self) -> None: ...
    async def write(self, rows: Sequence[LedgerRow]) -> None: ...
    async def add_feedback(
        self, request_id: str, score: float, comment: str | None, ts: float
    ) -> bool: ...
    async def close(self) -> None: ...


class Reader(Protocol):
    """Sync read side for reports. SQL uses `?` placeholders; backends translate."""

    dialect: str  # "sqlite" | "postgresql"

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def close(self) -> None: ...


class LedgerURLError(ValueError):
    pass


def sqlite_path(url: str) -> str:
    """`sqlite:///rel/path`, `sqlite:////abs/path` or `sqlite:///:memory:` -> the file path."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise LedgerURLError(
            f"ledger URL {url!r}: expected sqlite:///relative/path.db or sqlite:////absolute.db"
        )
    return rest[1:]


def make_store(url: str) -> Store:
    if url.startswith("sqlite://"):
        from tierwise.ledger.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from tierwise.ledger.postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("memory://"):
        from tierwise.ledger.memory import MemoryStore

        return MemoryStore()
    raise LedgerURLError(
        f"ledger URL {redact(url)!r}: expected sqlite:///PATH, postgresql://USER@HOST/DB "
        "or memory://"
    )


def open_reader(url: str) -> Reader:
    """A read-only connection for reports; raises LedgerURLError/OSError-like errors clearly."""
    if url.startswith("sqlite://"):
        from tierwise.ledger.sqlite import SQLiteReader

        return SQLiteReader(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from tierwise.ledger.postgres import PostgresReader

        return PostgresReader(url)
    raise LedgerURLError(
        f"ledger URL {redact(url)!r}: reports read sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def url_password(url: str) -> str | None:
    """The password in a URL, so error messages can be scrubbed of it before logging."""
    m = re.search(r"://[^:/@]*:([^@]*)@", url)
    return m.group(1) if m and m.group(1) else None
