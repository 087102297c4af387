"""The gateway's aiohttp application: factory, lifecycle, and an in-process starter.

`create_app(cfg)` wires the router (built once), one pooled aiohttp ClientSession, the
dispatcher (through one factory seam, `tierwise.dispatch.Dispatcher` by default, so tests can
pin another) and the ledger (when enabled). Startup and shutdown are the
app's on_startup/on_cleanup hooks, so aiohttp's graceful shutdown drains in-flight requests
before the ledger flushes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from tierwise.config import Config
from tierwise.server import chat, endpoints
from tierwise.server.state import STATE, GatewayState, log

DispatcherFactory = Callable[[Config, aiohttp.ClientSession], Any]
CONNECTOR_LIMIT = 1024  # concurrent upstream connections, shared by all deployments
CONNECTOR_LIMIT_PER_HOST = 512


def default_dispatcher_factory() -> DispatcherFactory:
    """`tierwise.dispatch.Dispatcher` (imported when the app is built, not with this module)."""
    from tierwise.dispatch import Dispatcher

    return Dispatcher


def _ledger_from_config(cfg: Config) -> Any:
    if not cfg.ledger.enabled:
        return None
    from tierwise.ledger import Ledger

    return Ledger.from_config(cfg.ledger)


def warmups(policy: Any) -> list[Callable[[], None]]:
    """What to load before the first request: a policy's (or its embedder's) `warmup`, for the
    policy and any policy it wraps (a cascade's `base`). Learned routers load their embedder
    lazily (~80 ms), which the first request would otherwise pay on the event loop."""
    out: list[Callable[[], None]] = []
    seen: set[int] = set()
    while policy is not None and id(policy) not in seen:
        seen.add(id(policy))
        fn = getattr(policy, "warmup", None) or getattr(
            getattr(policy, "embedder", None), "warmup", None
        )
        if callable(fn):
            out.append(fn)
        policy = getattr(policy, "base", None)
    return out


def create_app(
    cfg: Config,
    *,
    router_name: str | None = None,
    dispatcher_factory: DispatcherFactory | None = None,
    ledger: Any = "config",
) -> web.Application:
    """The gateway app. `ledger`: "config" (build from cfg.ledger), None (off), or a Ledger."""
    state = GatewayState(cfg, router_name)
    app = web.Application(client_max_size=cfg.server.max_body_bytes)
    app[STATE] = state
    factory = dispatcher_factory or default_dispatcher_factory()

    async def startup(app: web.Application) -> None:
        for warm in warmups(state.routers.default.policy):
            try:  # in a thread: other apps on this loop (tests, `demo`) keep running
                await asyncio.to_thread(warm)
            except Exception as exc:  # the first request will report it in context
                log.warning("router warm-up failed: %s: %s", type(exc).__name__, exc)
        connector = aiohttp.TCPConnector(
            limit=CONNECTOR_LIMIT,
            limit_per_host=CONNECTOR_LIMIT_PER_HOST,
            ttl_dns_cache=300,
            keepalive_timeout=30,
        )
        state.session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        state.dispatcher = factory(cfg, state.session)
        await state.dispatcher.start()
        lg = _ledger_from_config(cfg) if ledger == "config" else ledger
        if lg is not None:
            try:
                await lg.start()
            except Exception as exc:  # a broken ledger must not keep the gateway down
                log.error("ledger failed to start (%s); requests will not be recorded", exc)
                lg = None
        state.ledger = lg
        state.ready = True

    async def cleanup(app: web.Application) -> None:
        state.ready = False
        if state.dispatcher is not None:
            await state.dispatcher.close()
        if state.ledger is not None:
            try:
                await state.ledger.close()  # flushes queued rows
            except Exception as exc:
                log.error("ledger close failed: %s", exc)
        if state.session is not None:
            await state.session.close()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    r = app.router
    r.add_post("/v1/chat/completions", chat.openai_chat)
    r.add_post("/v1/messages", chat.anthropic_messages)
    r.add_get("/v1/models", endpoints.models)
    r.add_post("/v1/route", endpoints.route)
    r.add_get("/v1/route/stats", endpoints.route_stats)
    r.add_post("/v1/feedback", endpoints.feedback)
    r.add_get("/health", endpoints.health)
    r.add_get("/metrics", endpoints.metrics)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """A runner that cancels a handler (and so its upstream call) when the client leaves."""
    return web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=30.0)


async def start_gateway(
    cfg: Config, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
) -> tuple[web.AppRunner, str]:
    """Start the gateway on the running loop; returns the runner and `http://host:port`.

    `port=0` picks a free port. Stop with `await runner.cleanup()` (flushes the ledger).
    Keyword arguments go to create_app.
    """
    runner = make_runner(create_app(cfg, **kwargs))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, f"http://{host}:{runner.addresses[0][1]}"
