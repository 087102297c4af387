"""Table definitions for SQLite and PostgreSQL, kept side by side so they cannot drift.

Two tables: `requests` (one row per request, keyed by request_id) and `feedback` (any number of
scores per request). `ledger_meta` holds the schema version so a newer tierwise can migrate an
older ledger, and an older one refuses a newer ledger instead of corrupting it.
"""

from __future__ import annotations

from tierwise.ledger.row import COLUMNS

SCHEMA_VERSION = 1

# column -> (sqlite type, postgres type)
_TYPES: dict[str, tuple[str, str]] = {
    "request_id": ("TEXT PRIMARY KEY", "TEXT PRIMARY KEY"),
    "ts": ("REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    "api": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "tier": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "model": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "deployment_id": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "router": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "complexity": ("REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    "scores": ("TEXT NOT NULL", "TEXT NOT NULL"),  # JSON object tier -> score
    "prompt_chars": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "prompt_tokens": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "input_tokens": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "output_tokens": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "cost_usd": ("REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    "latency_ms": ("REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    "ttft_ms": ("REAL", "DOUBLE PRECISION"),
    "overhead_ms": ("REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    "status": ("INTEGER NOT NULL", "INTEGER NOT NULL"),
    "error_class": ("TEXT", "TEXT"),
    "streamed": ("INTEGER NOT NULL", "BOOLEAN NOT NULL"),
    "fallback_reason": ("TEXT", "TEXT"),
    "requested_model": ("TEXT NOT NULL", "TEXT NOT NULL"),
}
assert set(_TYPES) == set(COLUMNS), "schema and LedgerRow disagree"


def _requests_ddl(dialect: int) -> str:
    cols = ",\n  ".join(f"{c} {_TYPES[c][dialect]}" for c in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS requests (\n  {cols}\n)"


SQLITE_DDL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _requests_ddl(0),
    "CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts)",
    "CREATE TABLE IF NOT EXISTS feedback (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  request_id TEXT NOT NULL,\n"
    "  ts REAL NOT NULL,\n"
    "  score REAL NOT NULL,\n"
    "  comment TEXT\n)",
    "CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id)",
)

POSTGRES_DDL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _requests_ddl(1),
    "CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts)",
    "CREATE TABLE IF NOT EXISTS feedback (\n"
    "  id BIGSERIAL PRIMARY KEY,\n"
    "  request_id TEXT NOT NULL,\n"
    "  ts DOUBLE PRECISION NOT NULL,\n"
    "  score DOUBLE PRECISION NOT NULL,\n"
    "  comment TEXT\n)",
    "CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id)",
)


class SchemaVersionError(RuntimeError):
    """The ledger was written by a newer tierwise; writing to it could corrupt it."""


def check_version(found: str | None, where: str) -> None:
    if found is not None and int(found) > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"ledger {where} has schema version {found}, newer than this tierwise's "
            f"{SCHEMA_VERSION}; upgrade tierwise or point ledger.url at another database"
        )


_COLS = ", ".join(COLUMNS)
SQLITE_INSERT = f"INSERT OR IGNORE INTO requests ({_COLS}) VALUES ({', '.join('?' * len(COLUMNS))})"
