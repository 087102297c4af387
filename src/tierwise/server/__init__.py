"""The OpenAI- and Anthropic-compatible HTTP gateway (aiohttp).

from tierwise.server import create_app, start_gateway
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "start_gateway"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tierwise.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'tierwise.server' has no attribute {name!r}")
