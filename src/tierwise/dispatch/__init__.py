"""Dispatch: deployments, load-balancing strategies, retries, fallbacks, cooldowns, shared state.

The server builds one `Dispatcher(cfg, session)`, awaits `start()`, then calls `complete()` or
`stream()` with the router's `Decision`. See docs/reliability.md for the behaviour in full.
"""

from tierwise.dispatch.dispatcher import Dispatcher, error_event
from tierwise.dispatch.result import DispatchResult, StreamDispatch

__all__ = ["DispatchResult", "Dispatcher", "StreamDispatch", "error_event"]
