"""An in-memory store: rows and feedback kept in lists. For unit tests and embedding tierwise
where nothing should touch disk; it keeps everything, so it is not for long-running servers."""

from __future__ import annotations

import time
from collections.abc import Sequence

from tierwise.ledger.row import LedgerRow


class MemoryStore:
    where = "memory://"

    def __init__(self) -> None:
        self.rows: list[LedgerRow] = []
        self.feedback: list[tuple[str, float, str | None, float]] = []
        self.transactions = 0
        self._ids: set[str] = set()

    async def open(self) -> None:
        return None

    async def write(self, rows: Sequence[LedgerRow]) -> None:
        for r in rows:
            if r.request_id not in self._ids:  # same idempotence as the SQL stores
                self._ids.add(r.request_id)
                self.rows.append(r)
        self.transactions += 1

    async def add_feedback(
        self, request_id: str, score: float, comment: str | None, ts: float | None = None
    ) -> bool:
        if request_id not in self._ids:
            return False
        self.feedback.append((request_id, score, comment, time.time() if ts is None else ts))
        return True

    async def close(self) -> None:
        return None
