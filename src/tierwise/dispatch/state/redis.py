"""Redis-backed state shared by every tierwise instance, with local state as the safety net.

What is shared, and how (never read-modify-write from Python):
- rpm/tpm: one token bucket per deployment, checked and debited atomically by a Lua script
  using Redis' clock, so every instance draws from the same budget.
- cooldowns: a hash `cool` of deployment -> "deadline_ms:rate_limited", written by a Lua script
  that only ever extends a deadline; half-open probes are claimed with SET NX PX, so exactly one
  instance probes a recovering deployment.
- in-flight counts and latency EWMAs: each instance publishes its own numbers (absolute values,
  in a hash that expires unless refreshed) and sums/averages the others'; a crashed instance's
  in-flight count disappears with its hash instead of leaking.

Reads on the hot path come from the local view (`MemoryState` plus the remote numbers pulled by
a background loop every `sync_s`); only rpm/tpm admission and probe claims wait on Redis. If
Redis is unreachable, a warning is logged once, every operation uses the local state, and the
loop keeps trying to reconnect; requests keep flowing throughout. Writes batched for a sync that
fails stay queued and go out once Redis is back. Logs and errors show the URL without its
password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tierwise.config import CooldownConfig
from tierwise.dispatch.state.memory import MemoryState
from tierwise.urls import redact, scrub

log = logging.getLogger("tierwise.dispatch.state")

INSTANCE_TTL_MS = 2000  # an instance silent this long no longer counts towards in-flight/latency

_RATE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm = tonumber(ARGV[1]); local tpm = tonumber(ARGV[2]); local tok = tonumber(ARGV[3])
local force = ARGV[4] == '1'
local v = redis.call('HMGET', KEYS[1], 'r', 'rt', 'k', 'kt')
local function refill(level, ts, cap)
  if level == nil then return cap end
  level = level + (now - ts) * cap / 60000
  if level > cap then level = cap end
  return level
end
local r = -1; local k = -1; local wait = 0
if rpm > 0 then
  r = refill(tonumber(v[1]), tonumber(v[2]), rpm)
  if r < 1 and not force then wait = (1 - r) * 60000 / rpm end
end
if tpm > 0 then
  k = refill(tonumber(v[3]), tonumber(v[4]), tpm)
  local need = math.min(tok, tpm)
  if k < need and not force then
    local w = (need - k) * 60000 / tpm
    if w > wait then wait = w end
  end
end
if wait == 0 then
  if rpm > 0 and not force then r = r - 1 end
  if tpm > 0 then k = k - tok end
end
if rpm > 0 then redis.call('HSET', KEYS[1], 'r', tostring(r), 'rt', tostring(now)) end
if tpm > 0 then redis.call('HSET', KEYS[1], 'k', tostring(k), 'kt', tostring(now)) end
redis.call('PEXPIRE', KEYS[1], 120000)
return {tostring(wait / 1000), tostring(r), tostring(k)}
"""

_COOL_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local c = tonumber(string.match(cur, '^(%d+)'))
  if c and c >= deadline then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d:%s', deadline, ARGV[3]))
redis.call('PEXPIRE', KEYS[1], 86400000)
return 1
"""


def split_prefix(url: str) -> tuple[str, str]:
    """Take our `key_prefix` query parameter off a redis:// URL (redis-py rejects unknown ones)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = "tierwise"
    rest = []
    for k, v in query:
        if k == "key_prefix":
            prefix = v or prefix
        else:
            rest.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


class RedisState(MemoryState):
    name = "redis"

    def __init__(
        self,
        url: str,
        cooldown: CooldownConfig,
        *,
        sync_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(cooldown, clock=clock)
        self.url, prefix = split_prefix(url)
        self.where = redact(self.url)  # for logs and errors: never the password
        self.prefix = prefix + ":"
        self.sync_s = sync_s
        self.instance = os.urandom(6).hex()
        self.connected = False
        self._r: Any = None
        self._rate: Any = None
        self._cool: Any = None
        self._task: asyncio.Task[None] | None = None
        self._errors = (OSError, asyncio.TimeoutError)
        # Work queued for the next sync (batched writes). Cooldown changes keep only the
        # latest per deployment: (local deadline, rate_limited) to share, or None to clear.
        self._charges: dict[str, tuple[int, int]] = {}
        self._cool_ops: dict[str, tuple[float, bool] | None] = {}
        self._last_error = ""
        # Numbers published by the other instances.
        self._r_inflight: dict[str, int] = {}
        self._r_lat: dict[tuple[str, bool], float] = {}

    # ------------------------------------------------------------------ connection

    async def start(self) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError, asyncio.TimeoutError)
        try:
            self._r = aioredis.from_url(
                self.url, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True
            )
        except ValueError as exc:
            raise ValueError(f"state URL {self.where!r}: {scrub(str(exc), self.url)}") from None
        self._rate = self._r.register_script(_RATE_LUA)
        self._cool = self._r.register_script(_COOL_LUA)
        await self._connect()
        if not self.connected:
            log.warning(
                "Redis at %s is unreachable (%s); dispatch state is local to this instance until "
                "it comes back (rate limits and cooldowns are not shared meanwhile)",
                self.where,
                self._last_error,
            )
        self._task = asyncio.create_task(self._loop(), name="tierwise-redis-state")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._r is not None:
            if self.connected:
                try:
                    await self._r.delete(self._k("inst", self.instance))
                    await self._r.zrem(self._k("instances"), self.instance)
                except self._errors:
                    pass
            await self._r.aclose()

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def _connect(self) -> bool:
        try:
            await self._r.ping()
        except self._errors as exc:
            self._last_error = self._describe(exc)
            return False
        if not self.connected:
            self.connected = True
            log.info("Redis state at %s connected (instance %s)", self.where, self.instance)
        return True

    def _down(self, exc: BaseException) -> None:
        if self.connected:
            self.connected = False
            self._r_inflight.clear()
            self._r_lat.clear()
            log.warning(
                "Redis at %s failed (%s); using local dispatch state until it is back",
                self.where,
                self._describe(exc),
            )

    def _describe(self, exc: BaseException) -> str:
        """`Type: message` of a driver error, with the URL's password scrubbed out."""
        return scrub(f"{type(exc).__name__}: {exc}", self.url)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.sync_s)
            try:
                if self.connected:
                    await self.sync_once()
                elif await self._connect():
                    log.warning("Redis at %s is back; dispatch state is shared again", self.where)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything; requests depend on nothing here
                log.exception("Redis state sync failed")

    # ------------------------------------------------------------------ sync

    async def sync_once(self) -> None:
        """Flush queued writes, publish this instance's numbers, pull the others' view."""
        try:
            await self._sync()
        except self._errors as exc:
            self._down(exc)

    async def _sync(self) -> None:
        r = self._r
        clears = await self._flush()
        now_ms = int(time.time() * 1000)
        mine: dict[str, str] = {}
        for dep, s in self.deps.items():
            if s.inflight or s.ewma_stream >= 0.0 or s.ewma_tok >= 0.0:
                mine[dep] = f"{s.inflight}|{s.ewma_stream}|{s.ewma_tok}"
        inst_key = self._k("inst", self.instance)
        try:
            async with r.pipeline(transaction=False) as p:
                for dep in clears:
                    p.hdel(self._k("cool"), dep)
                    p.delete(self._k("probe", dep))
                if mine:
                    p.hset(inst_key, mapping=mine)
                p.pexpire(inst_key, INSTANCE_TTL_MS)
                p.zadd(self._k("instances"), {self.instance: now_ms})
                p.zremrangebyscore(self._k("instances"), "-inf", now_ms - 5 * INSTANCE_TTL_MS)
                p.zrangebyscore(self._k("instances"), now_ms - INSTANCE_TTL_MS, "+inf")
                p.time()
                p.hgetall(self._k("cool"))
                out = await p.execute()
        except BaseException:
            for dep in clears:  # not known to have landed: clear again next time, unless newer
                self._cool_ops.setdefault(dep, None)  # work for that deployment came meanwhile
            raise
        others = [i for i in out[-3] if i != self.instance]
        secs, micros = out[-2]
        redis_ms = int(secs) * 1000 + int(micros) // 1000
        self._adopt_cooldowns(out[-1], redis_ms)
        inflight: dict[str, int] = {}
        lat_sum: dict[tuple[str, bool], float] = {}
        lat_n: dict[tuple[str, bool], int] = {}
        if others:
            async with r.pipeline(transaction=False) as p:
                for i in others:
                    p.hgetall(self._k("inst", i))
                views = await p.execute()
            for view in views:
                for dep, raw in view.items():
                    n, ls, lt = raw.split("|")
                    inflight[dep] = inflight.get(dep, 0) + int(n)
                    for key, val in (((dep, True), float(ls)), ((dep, False), float(lt))):
                        if val >= 0.0:
                            lat_sum[key] = lat_sum.get(key, 0.0) + val
                            lat_n[key] = lat_n.get(key, 0) + 1
        self._r_inflight = inflight
        self._r_lat = {k: v / lat_n[k] for k, v in lat_sum.items()}

    async def _flush(self) -> list[str]:
        """Send the queued tpm charges and cooldowns, one script call each. Whatever is not
        known to have landed when a call fails goes back into the queues, merged with work
        queued meanwhile: charges add up, and a deployment's newer cooldown change wins over
        the older one. The call that failed is re-sent too: when Redis did run it but the
        reply was lost (a timeout) those tokens count twice, which errs on the safe side of a
        limit, whereas dropping them would let the deployment overrun it. Clears go out
        with the publish pipeline in `_sync`: returns those deployments."""
        charges, self._charges = self._charges, {}
        ops, self._cool_ops = self._cool_ops, {}
        clears: list[str] = []
        try:
            for dep in list(charges):
                tpm, tokens = charges[dep]
                await self._rate(keys=[self._k("rl", dep)], args=[0, tpm, tokens, 1])
                del charges[dep]
            now = self.clock()
            for dep in list(ops):
                op = ops[dep]
                if op is None:
                    clears.append(dep)
                else:
                    left_ms = int((op[0] - now) * 1000)
                    if left_ms > 0:  # the time left, not the original length: a late send
                        await self._cool(  # (after an outage) must not extend the cooldown
                            keys=[self._k("cool")], args=[dep, left_ms, int(op[1])]
                        )
                del ops[dep]
        except BaseException:
            for dep, (tpm, tokens) in charges.items():
                newer = self._charges.get(dep)
                self._charges[dep] = (tpm, tokens) if newer is None else (tpm, tokens + newer[1])
            for dep, op in ops.items():
                self._cool_ops.setdefault(dep, op)
            for dep in clears:
                self._cool_ops.setdefault(dep, None)
            raise
        return clears

    def _adopt_cooldowns(self, cool: dict[str, str], redis_ms: int) -> None:
        now = self.clock()
        for dep, raw in cool.items():
            deadline_ms, _, flag = raw.partition(":")
            left = (int(deadline_ms) - redis_ms) / 1000.0
            if left <= 0.0:
                continue
            s = self._s(dep)
            if now + left > s.cool_until + 0.05:  # extend only; tolerate clock rounding
                s.cool_until = now + left
                s.cool_429 = flag == "1"

    # ------------------------------------------------------------------ shared decisions

    async def acquire(self, dep_id: str, rpm: int | None, tpm: int | None, tokens: int) -> float:
        if not self.connected:
            return self.acquire_local(dep_id, rpm, tpm, tokens, self.clock())
        try:
            wait_s, r, k = await self._rate(
                keys=[self._k("rl", dep_id)], args=[rpm or 0, tpm or 0, tokens, 0]
            )
        except self._errors as exc:
            self._down(exc)
            return self.acquire_local(dep_id, rpm, tpm, tokens, self.clock())
        s = self._s(dep_id)  # mirror the shared bucket locally: headroom, and the fallback
        now = self.clock()
        if rpm is not None:
            s.rpm_level, s.rpm_ts = float(r), now
        if tpm is not None:
            s.tpm_level, s.tpm_ts = float(k), now
        return float(wait_s)

    def charge(self, dep_id: str, tpm: int, tokens: int) -> None:
        super().charge(dep_id, tpm, tokens)
        if self.connected:
            prev = self._charges.get(dep_id, (tpm, 0))[1]
            self._charges[dep_id] = (tpm, prev + tokens)

    async def claim_probe(self, dep_id: str, now: float, timeout_s: float) -> bool:
        if not self.claim_probe_local(dep_id, now, timeout_s):
            return False
        if not self.connected:
            return True
        try:
            won = await self._r.set(
                self._k("probe", dep_id), self.instance, nx=True, px=int(timeout_s * 1000)
            )
        except self._errors as exc:
            self._down(exc)
            return True
        if not won:  # another instance is probing: treat as cooling until it reports
            self.deps[dep_id].probe_until = now + min(timeout_s, self.sync_s * 5)
        return bool(won)

    def record_success(self, dep_id: str, now: float) -> None:
        s = self.deps.get(dep_id)
        was_cooling = s is not None and s.cool_until != 0.0
        super().record_success(dep_id, now)
        if was_cooling and self.deps[dep_id].cool_until == 0.0 and self.connected:
            self._cool_ops[dep_id] = None

    def start_cooldown(self, dep_id: str, now: float, seconds: float, rate_limited: bool) -> None:
        super().start_cooldown(dep_id, now, seconds, rate_limited)
        if self.connected:  # share the resulting local cooldown (the longer one wins locally)
            s = self.deps[dep_id]
            self._cool_ops[dep_id] = (s.cool_until, s.cool_429)

    # ------------------------------------------------------------------ merged views

    def inflight(self, dep_id: str) -> int:
        return super().inflight(dep_id) + self._r_inflight.get(dep_id, 0)

    def latency(self, dep_id: str, stream: bool) -> float | None:
        mine = super().latency(dep_id, stream)
        theirs = self._r_lat.get((dep_id, stream))
        if theirs is None:
            return mine
        return theirs if mine is None else (mine + theirs) / 2.0
