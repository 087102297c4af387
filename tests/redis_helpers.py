"""Redis fixtures: the shared server at 127.0.0.1:6379 (unique key prefix, cleaned up), or a
private `redis-server` on a free port for tests that stop it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

SHARED = "redis://127.0.0.1:6379/0"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def need_redis() -> None:
    if not _reachable("127.0.0.1", 6379):
        if os.environ.get("CI") == "true":
            pytest.fail("Redis at 127.0.0.1:6379 is required in CI but unreachable")
        pytest.skip("Redis at 127.0.0.1:6379 unreachable; start redis-server to run this test")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the shared Redis; every key under it is deleted afterwards."""
    need_redis()
    import redis

    prefix = f"tierwise-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    r = redis.Redis.from_url(SHARED)
    keys = list(r.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        r.delete(*keys)
    r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A throw-away redis-server we may stop and restart without disturbing the shared one."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server binary required in CI")
            pytest.skip("redis-server binary not installed")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tierwise-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until it answers PING. The first start moves to another port if
        someone took the one `free_port` picked; a restart keeps its port (clients know it)."""
        tries = 1 if self.started else 3
        for attempt in range(tries):
            if attempt:
                self.port = free_port()
            if self._spawn_and_wait(timeout):
                self.started = True
                return
        raise RuntimeError(
            f"redis-server did not answer PING on port {self.port} within {timeout:.0f} s"
        )

    def _spawn_and_wait(self, timeout: float) -> bool:
        proc = self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                self.stop()
                return False
            try:
                proc.wait(timeout=0.02)  # the pause between PINGs; returns if it exited
            except subprocess.TimeoutExpired:
                continue
            self.proc = None  # exited: most likely the port was taken
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    pr = PrivateRedis()
    try:
        pr.start()
        yield pr
    finally:
        pr.stop()
        shutil.rmtree(pr.dir, ignore_errors=True)
