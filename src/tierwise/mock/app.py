"""The aiohttp application: routes, the app factory and an in-process starter."""

from __future__ import annotations

import time

from aiohttp import web

from tierwise.mock import anthropic_api, openai_api
from tierwise.mock.common import STATE, MockState, counted, json_response
from tierwise.mock.config import MockConfig

_CREATED = 1_700_000_000  # fixed so /v1/models is byte-stable across runs


async def _health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _models(request: web.Request) -> web.Response:
    """List models in whichever provider's format the caller looks like it speaks."""
    models = request.app[STATE].config.models
    headers = request.headers
    if "anthropic-version" in headers or "x-api-key" in headers:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": models[0] if models else None,
                "last_id": models[-1] if models else None,
            }
        )
    return json_response(
        {
            "object": "list",
            "data": [
                {
                    "id": m,
                    "object": "model",
                    "created": _CREATED,
                    "owned_by": "anthropic" if m.startswith("claude") else "openai",
                }
                for m in models
            ],
        }
    )


async def _stats(request: web.Request) -> web.Response:
    out = request.app[STATE].stats.to_json()
    out["time"] = time.time()
    return json_response(out)


async def _reset(request: web.Request) -> web.Response:
    """Zero the counters and fault state so each test can assert on its own traffic."""
    state = request.app[STATE]
    state.stats.reset()
    state.faults.reset()
    return json_response({"status": "reset"})


def create_app(config: MockConfig | None = None) -> web.Application:
    """Build the mock app; all state hangs off the app so several can run side by side."""
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[STATE] = MockState(config or MockConfig())
    app.router.add_post("/v1/messages", counted(anthropic_api.API, anthropic_api.messages))
    app.router.add_post(
        "/v1/chat/completions", counted(openai_api.API, openai_api.chat_completions)
    )
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    app.router.add_get("/mock/stats", _stats)
    app.router.add_post("/mock/reset", _reset)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """A runner that cancels handlers when the client goes away.

    Cancellation matters for a fault emulator: a gateway that hedges or times out
    should be seen to abandon the upstream call (counted in ``/mock/stats``).
    Access logs are off because the mock sits in throughput benchmarks.
    """
    return web.AppRunner(app, access_log=None, handler_cancellation=True)


async def start_mock(
    config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Start the mock on the running loop; returns the runner and ``http://host:port``.

    ``port=0`` picks a free port. The base URL has no ``/v1`` suffix: pass it as is to
    the Anthropic SDK, and with ``/v1`` appended to the OpenAI SDK. Stop it with
    ``await runner.cleanup()``.
    """
    runner = make_runner(create_app(config))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}"
