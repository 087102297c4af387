"""Two tierwise instances (separate processes) sharing the real Redis enforce one global rpm.

Each process runs its own Dispatcher with `state: redis://...` (the `tierwise serve` CLI is not
in the tree yet; the dispatcher is what enforces the limit either way).
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import time
import urllib.request

from redis_helpers import SHARED, free_port, redis_prefix
from reliability_helpers import rpm_worker

__all__ = ["redis_prefix"]

RPM = 60  # bucket of 60, refilled at 1 request per second


def _start_mock() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tierwise.mock", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("mock upstream did not start") from None
            time.sleep(0.05)


def test_two_processes_share_one_global_rpm_limit(redis_prefix: str) -> None:
    proc, url = _start_mock()
    try:
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(2)
        out = ctx.Queue()
        state_url = f"{SHARED}?key_prefix={redis_prefix}"
        workers = [
            ctx.Process(target=rpm_worker, args=(url, state_url, 100, barrier, out))
            for _ in range(2)
        ]
        for w in workers:
            w.start()
        results = [out.get(timeout=120) for _ in workers]
        for w in workers:
            w.join(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    accepted = sum(r[0] for r in results)
    limited = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    assert accepted + limited == 200
    assert all(r[0] > 0 for r in results)  # both instances were served from the one budget
    # The bucket holds RPM and refills RPM/60 per second while the run lasts.
    expected = RPM + RPM / 60.0 * elapsed
    assert RPM <= accepted <= expected * 1.05 + 1, (accepted, expected)
