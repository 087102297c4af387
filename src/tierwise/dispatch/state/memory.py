"""In-process state: token buckets, cooldown state machine, in-flight counts, latency EWMAs.

One slotted record per deployment, created on first use; every operation is a dict lookup and
a few float ops, so dispatch stays in the microseconds. Time is `time.monotonic()` seconds,
passed in by the caller so one clock read serves a whole dispatch; where the state reads the
time itself (rate-limit buckets) it uses its injectable `clock`, so tests can advance time
instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tierwise.config import CooldownConfig
from tierwise.dispatch.state.base import COOLING, HALF_OPEN, HEALTHY

UNSET = float("-inf")  # a bucket never used yet (full); real levels may go below zero
EWMA_ALPHA = 0.3  # weight of the newest sample: reacts within a few calls, ignores one outlier


class DepState:
    __slots__ = (
        "cool_429",
        "cool_until",
        "ewma_stream",
        "ewma_tok",
        "inflight",
        "probe_until",
        "rpm_level",
        "rpm_ts",
        "tpm_level",
        "tpm_ts",
        "win_fail",
        "win_ok",
        "win_start",
    )

    def __init__(self) -> None:
        self.rpm_level = UNSET
        self.rpm_ts = 0.0
        self.tpm_level = UNSET
        self.tpm_ts = 0.0
        self.win_start = 0.0
        self.win_fail = 0
        self.win_ok = 0
        self.cool_until = 0.0  # 0: not cooling; past: half-open
        self.cool_429 = False  # resting on the upstream's request (429): never called early
        self.probe_until = 0.0  # a half-open probe is in flight until then
        self.inflight = 0
        self.ewma_stream = -1.0  # time to first token (streams), -1: no sample yet
        self.ewma_tok = -1.0  # seconds per output token (non-streaming calls)


def _refill(level: float, ts: float, cap: float, now: float) -> float:
    if level == UNSET:
        return cap
    level += (now - ts) * cap / 60.0
    return cap if level > cap else level


class MemoryState:
    """The default backend, and the local fallback of the Redis backend."""

    name = "memory"

    def __init__(
        self, cooldown: CooldownConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cd = cooldown
        self.clock = clock  # must be the clock the callers' `now` comes from
        self.deps: dict[str, DepState] = {}

    def _s(self, dep_id: str) -> DepState:
        s = self.deps.get(dep_id)
        if s is None:
            s = self.deps[dep_id] = DepState()
        return s

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------ rate limits

    async def acquire(self, dep_id: str, rpm: int | None, tpm: int | None, tokens: int) -> float:
        return self.acquire_local(dep_id, rpm, tpm, tokens, self.clock())

    def acquire_local(
        self, dep_id: str, rpm: int | None, tpm: int | None, tokens: int, now: float
    ) -> float:
        s = self._s(dep_id)
        wait = 0.0
        if rpm is not None:
            s.rpm_level = _refill(s.rpm_level, s.rpm_ts, rpm, now)
            s.rpm_ts = now
            if s.rpm_level < 1.0:
                wait = (1.0 - s.rpm_level) * 60.0 / rpm
        if tpm is not None:
            need = min(tokens, tpm)
            s.tpm_level = _refill(s.tpm_level, s.tpm_ts, tpm, now)
            s.tpm_ts = now
            if s.tpm_level < need:
                wait = max(wait, (need - s.tpm_level) * 60.0 / tpm)
        if wait > 0.0:
            return wait
        if rpm is not None:
            s.rpm_level -= 1.0
        if tpm is not None:
            s.tpm_level -= tokens
        return 0.0

    def charge(self, dep_id: str, tpm: int, tokens: int) -> None:
        s = self._s(dep_id)
        now = self.clock()
        s.tpm_level = _refill(s.tpm_level, s.tpm_ts, tpm, now) - tokens
        s.tpm_ts = now

    def headroom(self, dep_id: str, rpm: int | None, tpm: int | None) -> float:
        s = self.deps.get(dep_id)
        if s is None:
            return 1.0
        now = self.clock()
        room = 1.0
        if rpm is not None:
            room = min(room, _refill(s.rpm_level, s.rpm_ts, rpm, now) / rpm)
        if tpm is not None:
            room = min(room, _refill(s.tpm_level, s.tpm_ts, tpm, now) / tpm)
        return max(room, 0.0)

    # ------------------------------------------------------------------ cooldowns

    def health(self, dep_id: str, now: float) -> int:
        s = self.deps.get(dep_id)
        if s is None or s.cool_until == 0.0:
            return HEALTHY
        if now < s.cool_until or now < s.probe_until:
            return COOLING
        return HALF_OPEN

    def cooldown_left(self, dep_id: str, now: float) -> float:
        s = self.deps.get(dep_id)
        if s is None:
            return 0.0
        return max(s.cool_until - now, s.probe_until - now, 0.0)

    async def claim_probe(self, dep_id: str, now: float, timeout_s: float) -> bool:
        return self.claim_probe_local(dep_id, now, timeout_s)

    def claim_probe_local(self, dep_id: str, now: float, timeout_s: float) -> bool:
        if self.health(dep_id, now) != HALF_OPEN:
            return False
        self.deps[dep_id].probe_until = now + timeout_s
        return True

    def record_success(self, dep_id: str, now: float) -> None:
        s = self._s(dep_id)
        if s.cool_until != 0.0:
            if now < s.cool_until:
                return  # a call that started before the cooldown: not a probe, decides nothing
            s.cool_until = s.probe_until = 0.0  # the probe succeeded: re-admitted
            s.win_start, s.win_fail, s.win_ok = now, 0, 0
        if now - s.win_start > self.cd.window_s:
            s.win_start, s.win_fail, s.win_ok = now, 0, 0
        s.win_ok += 1

    def record_failure(
        self, dep_id: str, now: float, status: int, retry_after: float | None
    ) -> float:
        s = self._s(dep_id)
        if now - s.win_start > self.cd.window_s:
            s.win_start, s.win_fail, s.win_ok = now, 0, 0
        s.win_fail += 1
        cool = 0.0
        if status == 429:
            ra = retry_after if retry_after is not None else 0.0
            cool = ra if ra > 0.0 else self.cd.cooldown_s
        elif s.cool_until != 0.0 and now >= s.cool_until:
            cool = self.cd.cooldown_s  # the half-open probe failed
        elif s.win_fail >= self.cd.failures and (
            s.win_fail >= self.cd.min_failure_ratio * (s.win_fail + s.win_ok)
        ):
            cool = self.cd.cooldown_s
        if cool > 0.0:
            self.start_cooldown(dep_id, now, cool, status == 429)
        return cool

    def start_cooldown(self, dep_id: str, now: float, seconds: float, rate_limited: bool) -> None:
        s = self._s(dep_id)
        if now + seconds > s.cool_until:
            s.cool_until = now + seconds
            s.cool_429 = rate_limited
        s.probe_until = 0.0
        s.win_start, s.win_fail, s.win_ok = now, 0, 0

    def panic_ok(self, dep_id: str) -> bool:
        s = self.deps.get(dep_id)
        return s is not None and not s.cool_429

    # ------------------------------------------------------------------ load and latency

    def begin(self, dep_id: str) -> None:
        self._s(dep_id).inflight += 1

    def end(self, dep_id: str) -> None:
        self._s(dep_id).inflight -= 1

    def inflight(self, dep_id: str) -> int:
        s = self.deps.get(dep_id)
        return 0 if s is None else s.inflight

    def record_latency(self, dep_id: str, stream: bool, seconds: float) -> None:
        s = self._s(dep_id)
        if stream:
            old = s.ewma_stream
            s.ewma_stream = seconds if old < 0.0 else old + EWMA_ALPHA * (seconds - old)
        else:
            old = s.ewma_tok
            s.ewma_tok = seconds if old < 0.0 else old + EWMA_ALPHA * (seconds - old)

    def latency(self, dep_id: str, stream: bool) -> float | None:
        s = self.deps.get(dep_id)
        if s is None:
            return None
        v = s.ewma_stream if stream else s.ewma_tok
        return None if v < 0.0 else v
