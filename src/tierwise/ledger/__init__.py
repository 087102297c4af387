"""The request ledger: one row per request, written in batches off the hot path.

    ledger = Ledger.from_config(cfg.ledger)
    await ledger.start()
    ledger.record(LedgerRow(...))      # O(1), never raises
    await ledger.feedback(request_id, 1.0)
    await ledger.close()               # drains the queue

Names resolve lazily so importing this package costs nothing until a ledger is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierwise.ledger.core import Ledger, LedgerError
    from tierwise.ledger.row import LedgerRow

__all__ = ["Ledger", "LedgerError", "LedgerRow"]


def __getattr__(name: str) -> Any:
    if name in ("Ledger", "LedgerError"):
        from tierwise.ledger import core

        return getattr(core, name)
    if name == "LedgerRow":
        from tierwise.ledger.row import LedgerRow

        return LedgerRow
    raise AttributeError(f"module 'tierwise.ledger' has no attribute {name!r}")
