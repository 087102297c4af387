"""The small endpoints: models, route (decision only), feedback, health, metrics."""

from __future__ import annotations

import orjson
from aiohttp import web

from tierwise.providers import anthropic_format, openai_format
from tierwise.providers.errors import RequestError, error_body
from tierwise.routing.ladder import UnknownModelError
from tierwise.server.chat import json_response, read_json, request_error
from tierwise.server.mix import render_mix
from tierwise.server.outcome import Outcome
from tierwise.server.routers import RouterSpecError
from tierwise.server.state import STATE, GatewayState, log
from tierwise.types import ChatRequest, estimate_tokens

MODELS_CREATED = 1_700_000_000  # fixed: listings are stable across restarts


def caller_api(request: web.Request) -> str:
    """Anthropic SDKs send `anthropic-version` / `x-api-key`; everything else is OpenAI."""
    h = request.headers
    return "anthropic" if "anthropic-version" in h or "x-api-key" in h else "openai"


def model_ids(state: GatewayState) -> list[str]:
    ids = ["auto"]
    for t in state.cfg.tiers:
        for label in (t.name, *t.aliases, t.model, *(d.model for d in t.deployments)):
            if label not in ids:
                ids.append(label)
    return ids


async def models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ids = model_ids(state)
    if caller_api(request) == "anthropic":
        body = {
            "data": [
                {"type": "model", "id": i, "display_name": i, "created_at": "2023-11-14T22:13:20Z"}
                for i in ids
            ],
            "has_more": False,
            "first_id": ids[0],
            "last_id": ids[-1],
        }
    else:
        body = {
            "object": "list",
            "data": [
                {"id": i, "object": "model", "created": MODELS_CREATED, "owned_by": "tierwise"}
                for i in ids
            ],
        }
    return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())


def _route_request(body: object, api: str) -> ChatRequest:
    """`{"prompt": ...}`, or a body in either chat format (model defaults to auto)."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    if "messages" not in body:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise RequestError("expected 'prompt' (a string) or 'messages'", "prompt")
        model = body.get("model", "auto")
        return ChatRequest.from_prompt(prompt, model=model if isinstance(model, str) else "auto")
    body = {"model": "auto", **body}
    if api == "anthropic" or "system" in body or "stop_sequences" in body:
        chat = anthropic_format.parse_request({"max_tokens": 1, **body})
        chat.max_tokens = body.get("max_tokens")  # type: ignore[assignment]
        return chat
    return openai_format.parse_request(body)


async def route(request: web.Request) -> web.Response:
    """The decision the chat endpoints would make, without calling any upstream."""
    state = request.app[STATE]
    o = Outcome(caller_api(request))
    try:
        chat = _route_request(await read_json(request, state), o.api)
    except RequestError as exc:
        return request_error(o, exc)
    override = request.headers.get("x-tierwise-tier")
    if override:
        chat.tier_override = override
    o.requested_model = chat.model
    try:
        decision = (await state.routers.resolve(chat.model)).route(chat)
    except (UnknownModelError, RouterSpecError) as exc:
        return json_response(o, 400, error_body(o.api, 400, str(exc), "model", "model_not_found"))
    o.decided(decision)
    out = decision.to_dict()
    out["request_id"] = o.request_id
    out["prompt_tokens"] = estimate_tokens(chat.total_chars())
    return json_response(o, 200, out)


async def feedback(request: web.Request) -> web.Response:
    """`{request_id, score in [0, 1], comment?}` attached to a ledger row."""
    state = request.app[STATE]
    api = caller_api(request)
    try:
        body = await read_json(request, state)
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        rid, score, comment = body.get("request_id"), body.get("score"), body.get("comment")
        if not isinstance(rid, str) or not rid:
            raise RequestError("expected the x-tierwise-request-id of a request", "request_id")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise RequestError("expected a number in [0, 1] (1 = good)", "score")
        if comment is not None and not isinstance(comment, str):
            raise RequestError("expected a string", "comment")
    except RequestError as exc:
        return _plain_error(api, exc.status, exc.message, exc.param)
    if state.ledger is None:
        return _plain_error(api, 503, "the ledger is disabled or unavailable; feedback not stored")
    try:
        found = await state.ledger.feedback(rid, float(score), comment)
    except ValueError as exc:
        return _plain_error(api, 400, str(exc), "score")
    except Exception as exc:  # store unreachable: tell the caller to retry later
        log.warning("feedback for %s failed: %s", rid, type(exc).__name__)
        return _plain_error(api, 503, "the ledger store is unavailable; retry later")
    if not found:
        return _plain_error(
            api,
            404,
            f"no request with id {rid!r} in the ledger (use a response's x-tierwise-request-id)",
            "request_id",
            "request_not_found",
        )
    return web.json_response({"request_id": rid, "recorded": True})


def _plain_error(
    api: str, status: int, message: str, param: str | None = None, code: str | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(error_body(api, status, message, param, code)),
        status=status,
        content_type="application/json",
    )


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = {
        "status": "ok" if state.ready else "starting",
        "tiers": state.cfg.tier_names,
        "router": state.router_name,
        "dispatcher": type(state.dispatcher).__name__,
        "ledger": state.ledger is not None,
    }
    return web.json_response(body, status=200 if state.ready else 503)


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    text = state.metrics.render() + render_mix(state.mix.drift(), state.mix.manual)
    return web.Response(
        body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


async def route_stats(request: web.Request) -> web.Response:
    """The live tier mix of routed requests against `routing.target_mix` (see server/mix.py)."""
    state = request.app[STATE]
    body = state.mix.view(state.router_name)
    return web.Response(body=orjson.dumps(body), content_type="application/json")
