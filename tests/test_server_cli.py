"""`tierwise serve` and `tierwise demo` as a user runs them: real subprocesses."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest

TIERWISE = [sys.executable, "-m", "tierwise.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(extra)
    return env


def test_demo_runs_without_keys_or_network() -> None:
    out = subprocess.run(
        [*TIERWISE, "demo"], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert out.returncode == 0, out.stderr
    for word in ("haiku", "sonnet", "opus", "openai/sse", "anthropic/sse", "/model opus"):
        assert word in out.stdout
    assert "saved" in out.stdout


def test_serve_without_keys_names_the_variable() -> None:
    out = subprocess.run(
        [*TIERWISE, "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert out.returncode == 2
    assert "ANTHROPIC_API_KEY" in out.stderr and "--upstream" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "80000"], "80000 is out of range: expected 0-65535"),
        (["--port", "http"], "'http' is not a port number"),
        (["--log-level", "chatty"], "invalid choice: 'CHATTY'"),
    ],
)
def test_serve_bad_arguments_are_usage_errors_not_tracebacks(
    args: list[str], message: str
) -> None:
    out = subprocess.run(
        [*TIERWISE, "serve", *args, "--upstream", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_serve_with_upstream_answers_then_flushes_ledger_on_sigterm(
    tmp_path: Path, mock_upstream: Any
) -> None:
    db = tmp_path / "ledger.db"
    cfg = tmp_path / "tierwise.yaml"
    cfg.write_text(
        "tiers:\n"
        "  - {name: small, model: claude-haiku-4-5, price_in: 1, price_out: 5}\n"
        "  - {name: big, model: claude-opus-4-5, price_in: 5, price_out: 25}\n"
        "ledger:\n"
        f"  url: sqlite:///{db}\n"
        "  flush_interval_s: 60\n"  # only the shutdown flush can write the row in time
    )
    proc = subprocess.Popen(
        [
            *TIERWISE,
            "serve",
            "--config",
            str(cfg),
            "--port",
            "0",
            "--upstream",
            mock_upstream.url,
            "--log-level",
            "info",  # any case
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stderr is not None
        port = ledger_line = None
        for line in proc.stderr:  # blocks until the server logs its address and ledger
            m = re.search(r"gateway on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
            if "ledger:" in line:
                ledger_line = line
                break
        assert port, "serve never reported its address"
        assert ledger_line is not None and f"sqlite:///{db}" in ledger_line
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="big", messages=[{"role": "user", "content": "hi"}]
        )
        rid = raw.headers["x-tierwise-request-id"]
        assert raw.parse().model == "claude-opus-4-5"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert db.exists(), "serve wrote no ledger database on shutdown"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT tier, model, status, output_tokens FROM requests WHERE request_id = ?", (rid,)
        ).fetchall()
    assert rows == [("big", "claude-opus-4-5", 200, 16)]
