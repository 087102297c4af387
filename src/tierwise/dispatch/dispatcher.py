"""Dispatch: get the routed request answered by some deployment of the chosen tier, or of a
fallback tier, despite failures.

One loop serves both streaming and non-streaming calls:

    for each tier of the chain (decision tier + fallbacks, filtered by context window):
        up to retry.max_attempts calls:
            pick a deployment (skip cooling ones; prefer one not yet failed in this request;
            the strategy chooses; rpm/tpm admission; half-open probe claim)
            call it with timeout min(deployment timeout, time left to the deadline)
            success -> done.   non-retryable error -> raise it.
            retryable -> count it (cooldowns), then retry at once on another healthy
            deployment, else back off (exponential, jittered, >= Retry-After)
        nothing healthy left -> next tier (never wait on a cooling tier if a fallback exists)

A stream counts as answered once its first event arrives; after that, failures become an
`{"type": "error"}` event at the end of the stream, never a retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from tierwise.config import Config, TierConfig
from tierwise.dispatch.deployment import Deployment
from tierwise.dispatch.fallback import fallback_names, fit_chain
from tierwise.dispatch.result import DispatchResult, StreamDispatch
from tierwise.dispatch.retry import DEPLOYMENT_FAULTS, backoff_s
from tierwise.dispatch.state import COOLING, HALF_OPEN, StateBackend, make_state
from tierwise.dispatch.strategies import Strategy, make_strategy
from tierwise.providers.base import (
    ChatResponse,
    Provider,
    StreamEvent,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from tierwise.types import ChatRequest, Decision, estimate_tokens

log = logging.getLogger("tierwise.dispatch")


class _Tier:
    __slots__ = ("cfg", "chain", "deps", "name", "strategy")

    def __init__(self, cfg: TierConfig, deps: list[Deployment], strategy: Strategy) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.deps = deps
        self.strategy = strategy
        self.chain: list[_Tier] = []


class _Unavailable:
    """Why a tier offered no deployment: all cooling, or all at their rate limits."""

    __slots__ = ("cooling", "limited", "wait_s")

    def __init__(self) -> None:
        self.cooling = 0
        self.limited = 0
        self.wait_s = float("inf")


def error_event(err: UpstreamError) -> StreamEvent:
    """The canonical (Anthropic-shaped) in-stream error event the server renders per caller."""
    return {
        "type": "error",
        "error": {"type": err.error_type, "message": err.message, "status": err.status},
    }


class Dispatcher:
    """Deployments, strategies, retries, fallbacks and cooldowns for every configured tier."""

    def __init__(
        self,
        cfg: Config,
        session: aiohttp.ClientSession,
        *,
        providers: Mapping[str, Provider] | None = None,
        state: StateBackend | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.cfg = cfg
        self.session = session
        self.state = state if state is not None else make_state(cfg)
        self.rng = rng or random.Random()
        self._sleep = sleep
        self._providers: dict[str, Provider] = dict(providers or {})
        self._tasks: set[asyncio.Task[Any]] = set()
        self.tiers: dict[str, _Tier] = {}
        for t in cfg.tiers:
            deps = [Deployment(d, t, self._providers.get(d.provider)) for d in t.deployments]
            strategy = make_strategy(t.strategy, tolerance=t.latency_tolerance, rng=self.rng)
            self.tiers[t.name] = _Tier(t, deps, strategy)
        for t in cfg.tiers:
            rt = self.tiers[t.name]
            rt.chain = [rt] + [self.tiers[n] for n in fallback_names(cfg, t)]
        self._all_tiers = [t for t in cfg.tiers]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.state.start()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.state.close()

    # ------------------------------------------------------------------ public API

    async def complete(self, request: ChatRequest, decision: Decision) -> DispatchResult:
        out = await self._run(request, decision, False)
        assert isinstance(out, DispatchResult)
        return out

    async def stream(self, request: ChatRequest, decision: Decision) -> StreamDispatch:
        out = await self._run(request, decision, True)
        assert isinstance(out, StreamDispatch)
        return out

    # ------------------------------------------------------------------ the loop

    async def _run(
        self, request: ChatRequest, decision: Decision, stream: bool
    ) -> DispatchResult | StreamDispatch:
        rc = self.cfg.retry
        start = time.monotonic()
        deadline = start + rc.deadline_s
        try:
            tier = self.tiers[decision.tier]
        except KeyError:
            raise UpstreamError(
                400,
                f"unknown tier {decision.tier!r}; expected one of {list(self.tiers)}",
                error_type="invalid_request_error",
            ) from None
        tokens = estimate_tokens(request.total_chars())
        need = tokens + (request.max_tokens or 0)
        chain = list(tier.chain)  # private: an upstream context overflow may rewrite its tail
        reason: str | None = None
        if need > min(t.cfg.context_window for t in chain):
            fitted, reason = fit_chain([t.cfg for t in chain], self._all_tiers, need)
            chain = [self.tiers[t.name] for t in fitted]
        attempts = 0
        last_err: UpstreamError | None = None
        unavailable: _Unavailable | None = None
        cooled: list[_Tier] = []
        for panic in (False, True):
            if panic:
                # Every tier of the chain was skipped or failed, some only because they are
                # cooling: one last round over those tiers, ignoring cooldowns (never those
                # resting after a 429) and without backoff pauses, so a cooldown tripped by
                # sparse random errors never turns into a client-visible error.
                if not cooled or time.monotonic() >= deadline:
                    break
                chain = cooled
            for ti, rt in enumerate(chain):
                has_next = ti + 1 < len(chain)
                tried: list[str] | None = None
                fails: dict[int, int] | None = None
                tier_attempts = 0
                max_attempts = rc.max_attempts
                why = ""
                wider: list[_Tier] | None = None  # set when the upstream says "too long"
                while tier_attempts < max_attempts:
                    now = time.monotonic()
                    if now >= deadline:
                        why = "deadline reached"
                        break
                    dep, unav = await self._pick(rt, tried, tokens, stream, now, panic)
                    if dep is None:
                        assert unav is not None
                        unavailable = unav
                        if panic:
                            break
                        wait = self._reopen_wait(rt, now)
                        if (
                            not has_next
                            and unav.limited == 0
                            and now + wait < deadline
                            and (wait <= rc.backoff_max_s or self._resting(rt))
                        ):
                            # The last tier re-opens soon, or rests on the upstream's
                            # Retry-After (which a last-resort call must not break): wait.
                            await self._sleep(wait)
                            tier_attempts += 1
                            continue
                        if unav.limited and not unav.cooling:
                            why = "all deployments at their rpm/tpm limits"
                        else:
                            why = "all deployments cooling down"
                            cooled.append(rt)
                        break
                    tier_attempts += 1
                    attempts += 1
                    timeout = min(dep.timeout_s, deadline - now)
                    try:
                        if stream:
                            it, first = await self._call_stream(dep, request, timeout, now)
                        else:
                            resp = await self._call(dep, request, timeout, now)
                    except UpstreamError as err:
                        last_err = err
                        if fails is None:
                            fails = {}
                        fails[err.status] = fails.get(err.status, 0) + 1
                        if tried is None:
                            tried = []
                        tried.append(dep.id)
                        if not err.retryable:
                            if err.status in DEPLOYMENT_FAULTS and self._has_other(rt, tried):
                                tier_attempts -= 1  # a misconfigured deployment, not a retry
                                continue
                            if err.context_overflow and not panic:
                                wider = self._wider_tiers(rt, chain[ti + 1 :])
                                if wider:
                                    break
                            raise
                        if tier_attempts >= max_attempts:
                            break
                        if self._has_other(rt, tried):
                            continue  # another healthy deployment: try it right away
                        if panic:
                            continue
                        if self.state.health(dep.id, time.monotonic()) == COOLING:
                            if has_next:
                                break  # don't wait on a cooling deployment; fall back
                            continue  # last tier: wait if it re-opens soon, else panic round
                        delay = backoff_s(
                            tier_attempts,
                            rc.backoff_base_s,
                            rc.backoff_max_s,
                            rc.jitter,
                            err.retry_after,
                            self.rng,
                        )
                        if time.monotonic() + delay >= deadline:
                            break
                        await self._sleep(delay)
                        tried = None  # after a pause, every deployment is fair game again
                        continue
                    fb = reason
                    if panic:
                        note = f"every tier cooling; last-resort round on {rt.name}"
                        fb = note if fb is None else f"{fb}; {note}"
                    if stream:
                        end = _StreamEnd(self.state, dep, it)
                        return StreamDispatch(
                            rt.name,
                            dep.model,
                            dep.id,
                            attempts,
                            fb,
                            self._relay(dep, it, first, end),
                            dep.price_in,
                            dep.price_out,
                            dep.price_cache_read,
                            end,
                        )
                    return DispatchResult(
                        resp,
                        rt.name,
                        dep.model,
                        dep.id,
                        attempts,
                        fb,
                        dep.price_in,
                        dep.price_out,
                        dep.price_cache_read,
                    )
                if wider:
                    # The estimate fitted but the upstream counted more tokens than the window:
                    # only tiers with a larger window can answer, so they replace the chain.
                    chain[ti + 1 :] = wider
                    note = (
                        f"context: {rt.name}'s upstream refused the prompt as too long for its "
                        f"{rt.cfg.context_window}-token window; used {wider[0].name}"
                    )
                    reason = note if reason is None else f"{reason}; {note}"
                    continue
                if has_next:
                    summary = why or _summarise(fails)
                    note = f"{rt.name} unavailable: {summary}; fell back to {chain[ti + 1].name}"
                    reason = note if reason is None else f"{reason}; {note}"
        if last_err is not None:
            raise last_err
        if unavailable is not None and unavailable.limited and not unavailable.cooling:
            wait = unavailable.wait_s
            raise UpstreamError(
                429,
                "every deployment of the tier and its fallbacks is at its rpm/tpm limit",
                error_type="rate_limit_error",
                retry_after=None if wait == float("inf") else round(wait, 3),
            )
        raise UpstreamError(
            503,
            "every deployment of the tier and its fallbacks is cooling down after failures",
            error_type="overloaded_error",
            retry_after=1.0,
        )

    def _wider_tiers(self, rt: _Tier, rest: list[_Tier]) -> list[_Tier]:
        """Where a prompt too long for `rt` can go: the rest of the chain whose windows are
        larger, or else the smallest-window such tier of all (the cheapest on a tie)."""
        window = rt.cfg.context_window
        keep = [t for t in rest if t.cfg.context_window > window]
        if keep:
            return keep
        larger = [t for t in self._all_tiers if t.context_window > window]
        if not larger:
            return []
        best = min(larger, key=lambda t: t.context_window)  # min keeps config (cost) order
        return [self.tiers[best.name]]

    # ------------------------------------------------------------------ picking

    async def _pick(
        self,
        rt: _Tier,
        tried: list[str] | None,
        tokens: int,
        stream: bool,
        now: float,
        panic: bool = False,
    ) -> tuple[Deployment | None, _Unavailable | None]:
        state = self.state
        cands: list[Deployment] = []
        unav: _Unavailable | None = None
        for d in rt.deps:
            cooling = state.health(d.id, now) == COOLING
            if panic:
                if cooling and state.panic_ok(d.id):
                    cands.append(d)
            elif cooling:
                if unav is None:
                    unav = _Unavailable()
                unav.cooling += 1
            else:
                cands.append(d)
        if tried and len(cands) > 1:
            fresh = [d for d in cands if d.id not in tried]
            if fresh:
                cands = fresh
        while cands:
            d = cands[0] if len(cands) == 1 else rt.strategy.choose(cands, state, tokens, stream)
            if d.limited:
                wait = await state.acquire(d.id, d.rpm, d.tpm, tokens)
                if wait > 0.0:
                    if unav is None:
                        unav = _Unavailable()
                    unav.limited += 1
                    unav.wait_s = min(unav.wait_s, wait)
                    cands.remove(d)
                    continue
            if not panic and state.health(d.id, now) == HALF_OPEN:
                probe_s = min(d.timeout_s, self.cfg.cooldown.cooldown_s)
                if not await state.claim_probe(d.id, now, probe_s):
                    if unav is None:
                        unav = _Unavailable()
                    unav.cooling += 1
                    cands.remove(d)
                    continue
            return d, None
        return None, unav or _Unavailable()

    def _has_other(self, rt: _Tier, tried: list[str]) -> bool:
        now = time.monotonic()
        health = self.state.health
        return any(d.id not in tried and health(d.id, now) != COOLING for d in rt.deps)

    def _resting(self, rt: _Tier) -> bool:
        panic_ok = self.state.panic_ok
        return not any(panic_ok(d.id) for d in rt.deps)

    def _reopen_wait(self, rt: _Tier, now: float) -> float:
        return min(self.state.cooldown_left(d.id, now) for d in rt.deps)

    # ------------------------------------------------------------------ calls

    def _provider(self, dep: Deployment) -> Provider:
        p = dep.provider
        if p is None:
            p = self._providers.get(dep.cfg.provider)
            if p is None:
                from tierwise.providers import get_provider  # type: ignore[attr-defined]

                p = self._providers[dep.cfg.provider] = get_provider(dep.cfg.provider)
            dep.provider = p
        return p

    def _failed(self, dep: Deployment, err: UpstreamError) -> None:
        now = time.monotonic()
        if err.retryable or err.status in DEPLOYMENT_FAULTS:
            cool = self.state.record_failure(dep.id, now, err.status, err.retry_after)
            if cool > 0.0:
                log.warning(
                    "deployment %s (%s) cooling for %.1fs after %s",
                    dep.id,
                    dep.tier,
                    cool,
                    err.status or err.error_type,
                )

    async def _call(
        self, dep: Deployment, request: ChatRequest, timeout: float, now: float
    ) -> ChatResponse:
        provider = self._provider(dep)
        state = self.state
        state.begin(dep.id)
        try:
            async with asyncio.timeout(timeout):
                resp = await provider.complete(self.session, dep.cfg, request)
        except UpstreamError as err:
            self._failed(dep, err)
            raise
        except TimeoutError:
            err = UpstreamTimeout(f"no answer from {dep.tier} deployment within {timeout:.1f}s")
            self._failed(dep, err)
            raise err from None
        except (OSError, aiohttp.ClientError) as exc:
            err = UpstreamConnectionError(f"{type(exc).__name__}: {exc}")
            self._failed(dep, err)
            raise err from None
        finally:
            state.end(dep.id)
        end = time.monotonic()
        state.record_success(dep.id, end)
        out_tokens = resp.usage.output_tokens
        state.record_latency(dep.id, False, (end - now) / (out_tokens if out_tokens > 0 else 1))
        if dep.tpm is not None and out_tokens:
            state.charge(dep.id, dep.tpm, out_tokens)
        return resp

    async def _call_stream(
        self, dep: Deployment, request: ChatRequest, timeout: float, now: float
    ) -> tuple[AsyncIterator[StreamEvent], StreamEvent]:
        provider = self._provider(dep)
        state = self.state
        state.begin(dep.id)
        it = provider.stream(self.session, dep.cfg, request)
        try:
            async with asyncio.timeout(timeout):
                first = await anext(it)
        except BaseException as exc:
            state.end(dep.id)
            await _aclose(it)
            if isinstance(exc, UpstreamError):
                err = exc
            elif isinstance(exc, TimeoutError):
                err = UpstreamTimeout(f"no first event from {dep.tier} within {timeout:.1f}s")
            elif isinstance(exc, StopAsyncIteration):
                err = UpstreamConnectionError("upstream closed the stream before any event")
            elif isinstance(exc, OSError | aiohttp.ClientError):
                err = UpstreamConnectionError(f"{type(exc).__name__}: {exc}")
            else:
                raise
            self._failed(dep, err)
            if err is exc:
                raise
            raise err from None
        end = time.monotonic()
        state.record_success(dep.id, end)
        state.record_latency(dep.id, True, end - now)
        return it, first

    async def _relay(
        self,
        dep: Deployment,
        it: AsyncIterator[StreamEvent],
        first: StreamEvent,
        end: _StreamEnd,
    ) -> AsyncIterator[StreamEvent]:
        """Yield the stream; a failure after the first byte ends it with one error event."""
        try:
            yield first
            while True:
                try:
                    async with asyncio.timeout(dep.timeout_s):
                        ev = await anext(it)
                except StopAsyncIteration:
                    break
                if ev.get("type") == "message_delta":
                    end.out_tokens = ev.get("usage", {}).get("output_tokens", end.out_tokens)
                yield ev
        except UpstreamError as err:
            self._failed(dep, err)
            yield error_event(err)
        except TimeoutError:
            err = UpstreamTimeout(f"stream from {dep.tier} stalled for {dep.timeout_s:.1f}s")
            self._failed(dep, err)
            yield error_event(err)
        except (OSError, aiohttp.ClientError) as exc:
            err = UpstreamConnectionError(f"stream interrupted: {type(exc).__name__}: {exc}")
            self._failed(dep, err)
            yield error_event(err)
        finally:
            await end()


class _StreamEnd:
    """Ends one upstream stream exactly once: in-flight count, tpm charge, the connection.

    Called from the relay's `finally` and from `StreamDispatch.close()`, because a relay the
    server never started (client gone before the first write) never runs its `finally`.
    """

    __slots__ = ("dep", "done", "it", "out_tokens", "state")

    def __init__(self, state: StateBackend, dep: Deployment, it: AsyncIterator[StreamEvent]):
        self.state = state
        self.dep = dep
        self.it = it
        self.out_tokens = 0
        self.done = False

    async def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        dep = self.dep
        self.state.end(dep.id)
        if dep.tpm is not None and self.out_tokens:
            self.state.charge(dep.id, dep.tpm, self.out_tokens)
        await _aclose(self.it)


def _summarise(fails: dict[int, int] | None) -> str:
    if not fails:
        return "no attempt succeeded"
    return ", ".join(
        f"{n}x {status if status else 'timeout/connection error'}" for status, n in fails.items()
    )


async def _aclose(it: AsyncIterator[StreamEvent]) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken upstream stream must not mask the real error
            log.debug("error while closing an upstream stream", exc_info=True)
