"""The Ledger: accepts one row per request on the hot path, writes them in batches off it.

record() appends to a deque and returns (no serialisation, no I/O, no awaits). A background
task wakes when a batch is full or the flush interval passes, and writes batches through a
Store, one transaction each. Failures are logged, retried once, then counted, never raised to
the request; the queue is bounded, dropping (and counting) its oldest rows, so a dead database
costs bounded memory. close() drains everything that was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from tierwise.ledger.row import LedgerRow
from tierwise.ledger.store import Store, make_store, url_password

if TYPE_CHECKING:
    from tierwise.config import LedgerConfig

log = logging.getLogger("tierwise.ledger")

MAX_QUEUE = 100_000
RETRY_DELAY_S = 0.2
LOG_EVERY_S = 30.0  # at most one failure log line per this interval (plus the first)


class LedgerError(RuntimeError):
    """A ledger operation a caller explicitly awaited (feedback) could not reach the store."""


class Ledger:
    def __init__(
        self,
        store: Store | None,
        *,
        batch_size: int = 256,
        flush_interval_s: float = 1.0,
        max_queue: int = MAX_QUEUE,
        retry_delay_s: float = RETRY_DELAY_S,
    ) -> None:
        """`store=None` is a disabled ledger: record() does nothing."""
        self.store = store
        self.batch_size = max(1, int(batch_size))
        self.flush_interval_s = max(0.001, float(flush_interval_s))
        self.max_queue = max(1, int(max_queue))
        self.retry_delay_s = retry_delay_s
        self._queue: deque[LedgerRow] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one store operation at a time (one connection)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._secret = url_password(getattr(store, "url", "") or "")
        self._last_log = -math.inf
        self.recorded = 0
        self.written = 0
        self.failed_batches = 0
        self.failed_rows = 0
        self.dropped = 0

    @classmethod
    def from_config(cls, cfg: LedgerConfig) -> Ledger:
        """sqlite:///PATH (default) or postgresql://...; a disabled config gives a no-op ledger."""
        if not cfg.enabled:
            return cls(None)
        return cls.from_url(
            cfg.url, batch_size=cfg.batch_size, flush_interval_s=cfg.flush_interval_s
        )

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Ledger:
        return cls(make_store(url), **kwargs)

    @property
    def enabled(self) -> bool:
        return self.store is not None

    @property
    def stats(self) -> dict[str, int]:
        """Counters; after close(), recorded == written + failed_rows + dropped."""
        return {
            "recorded": self.recorded,
            "written": self.written,
            "failed_batches": self.failed_batches,
            "failed_rows": self.failed_rows,
            "dropped": self.dropped,
            "queued": len(self._queue),
        }

    # ------------------------------------------------------------------ hot path

    def record(self, row: LedgerRow) -> None:
        """Queue one row. O(1), never raises, never blocks. Call from the event loop's thread."""
        if self.store is None:
            return
        self.recorded += 1
        if self._closed:
            self.dropped += 1
            return
        q = self._queue
        if len(q) >= self.max_queue:
            q.popleft()
            self.dropped += 1
        q.append(row)
        if len(q) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the store (creating the schema) and start the flusher. Never raises: a store
        that cannot open is logged and retried with each batch."""
        if self.store is None or self._task is not None:
            return
        try:
            async with self._lock:
                await self.store.open()
        except Exception as exc:
            self._log_failure(f"cannot open ledger {self.store.where}: {self._safe(exc)}")
        self._task = asyncio.create_task(self._run(), name="tierwise-ledger-flusher")

    async def flush(self) -> None:
        """Write every row queued before this call (rows behind a failed batch stay queued)."""
        if self.store is None:
            return
        async with self._lock:
            await self._drain()

    async def close(self) -> None:
        """Stop the flusher, write everything queued, close the store. Idempotent."""
        if self.store is None or self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._lock:
            await self._drain()  # nothing new can arrive: record() drops once closed
            if self._queue:  # the store failed during the final drain: account for the rest
                self.failed_rows += len(self._queue)
                self._queue.clear()
            try:
                await self.store.close()
            except Exception as exc:
                self._log_failure(f"closing ledger {self.store.where}: {self._safe(exc)}")

    async def __aenter__(self) -> Ledger:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ feedback

    async def feedback(self, request_id: str, score: float, comment: str | None = None) -> bool:
        """Attach a quality score in [0, 1] (1 = good) to a request. False if the id is unknown.

        Raises ValueError for a score outside [0, 1] and LedgerError when the store is
        unreachable (the caller is a feedback endpoint, which should answer 503, not 200).
        """
        if not (isinstance(score, int | float) and math.isfinite(score) and 0 <= score <= 1):
            raise ValueError(f"feedback score must be a number in [0, 1] (1 = good); got {score!r}")
        if self.store is None:
            return False
        now = time.time()
        ok = await self._add_feedback(request_id, float(score), comment, now)
        if not ok and any(r.request_id == request_id for r in self._queue):
            await self.flush()  # the row is still queued: write it, then attach the feedback
            ok = await self._add_feedback(request_id, float(score), comment, now)
        return ok

    async def _add_feedback(self, rid: str, score: float, comment: str | None, ts: float) -> bool:
        assert self.store is not None
        try:
            async with self._lock:
                return await self.store.add_feedback(rid, score, comment, ts)
        except Exception as exc:
            msg = f"cannot store feedback in {self.store.where}: {self._safe(exc)}"
            self._log_failure(msg)
            raise LedgerError(msg) from None

    # ------------------------------------------------------------------ flusher

    async def _run(self) -> None:
        while not self._closed:
            timed_out = False
            try:
                async with asyncio.timeout(self.flush_interval_s):
                    await self._wake.wait()
            except TimeoutError:
                timed_out = True
            self._wake.clear()
            if self._closed:
                break  # close() does the final drain under the lock
            try:
                async with self._lock:
                    # Woken by size: full batches only, the remainder waits for more rows or the
                    # interval. Either way only what is queued now, so a steady trickle of rows
                    # during a write never degrades into one tiny transaction per row.
                    n = len(self._queue)
                    await self._drain(n if timed_out else n - n % self.batch_size)
            except Exception as exc:  # a bug, not a store failure: keep the flusher alive
                log.exception("ledger flusher error: %s", self._safe(exc))

    async def _drain(self, limit: int | None = None) -> None:
        """Caller holds the lock. Writes up to `limit` rows (default: all queued now) in
        batches; stops early at a failed batch, leaving the rest queued for a later try."""
        q = self._queue
        left = len(q) if limit is None else min(limit, len(q))
        while left > 0 and q:
            n = min(self.batch_size, left, len(q))
            batch = [q.popleft() for _ in range(n)]
            left -= n
            if not await self._write(batch):
                return

    async def _write(self, batch: list[LedgerRow]) -> bool:
        assert self.store is not None
        error: Exception | None = None
        for attempt in range(2):
            try:
                await self.store.write(batch)
            except Exception as exc:
                error = exc
                if attempt == 0 and self.retry_delay_s > 0:
                    await asyncio.sleep(self.retry_delay_s)
                continue
            self.written += len(batch)
            return True
        self.failed_batches += 1
        self.failed_rows += len(batch)
        self._log_failure(
            f"lost a batch of {len(batch)} rows after 2 attempts writing to "
            f"{self.store.where}: {self._safe(error)} "
            f"(failed batches so far: {self.failed_batches})"
        )
        return False

    def _safe(self, exc: BaseException | None) -> str:
        text = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
        return text.replace(self._secret, "***") if self._secret else text

    def _log_failure(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            log.error("ledger: %s", message)
        else:
            log.debug("ledger: %s", message)
