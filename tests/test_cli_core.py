"""The route / score / config commands as a user runs them, and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tierwise.cli import COMMANDS, main


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tierwise.cli", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
    )


def test_route_json_has_the_contract_fields() -> None:
    out = run_cli("route", "--json", "Explain and prove the Cauchy-Schwarz inequality")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert {"tier", "model", "router", "complexity", "scores", "reason"} <= set(d)
    assert d["router"] == "heuristic" and 0 <= d["complexity"] <= 1


def test_route_human_output_and_stdin(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("hi"))
    assert main(["route", "-"]) == 0
    out = capsys.readouterr().out
    assert "tier:       haiku" in out and "reason:" in out


def test_route_errors_are_clear(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "hi", "--router", "nope"]) == 2
    assert "unknown router 'nope'" in capsys.readouterr().err
    assert main(["route", "hi", "--model", "gpt-9"]) == 2
    assert "unknown model 'gpt-9'" in capsys.readouterr().err
    assert main(["rout", "hi"]) == 2
    assert "did you mean 'route'" in capsys.readouterr().err


def test_route_with_bad_config_file_exits_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("tiers: []\n")
    with pytest.raises(SystemExit) as info:
        main(["route", "hi", "--config", str(bad)])
    assert info.value.code == 2
    assert "tiers: found 0 tier(s); expected at least 2" in capsys.readouterr().err


def test_score_contract_bad_lines_and_strict(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        {"id": 1, "prompt": "hi"},
        {"id": "b", "messages": [{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": "Prove that sqrt(2) is irrational."}]},
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n" + '{"prompt": "x"}\n')
    dst = tmp_path / "out.jsonl"
    res = run_cli("score", "--input", str(src), "--output", str(dst))
    assert res.returncode == 1
    assert f"{src}:3: not valid JSON" in res.stderr
    assert f"{src}:4: missing 'id'" in res.stderr
    rows = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, "b"]
    for r in rows:
        assert set(r) == {"id", "tier", "complexity", "tier_probs"}
        assert sum(r["tier_probs"].values()) == pytest.approx(1.0, abs=1e-4)
    assert rows[1]["complexity"] > rows[0]["complexity"]

    strict = run_cli("score", "--input", str(src), "--output", str(tmp_path / "s.jsonl"),
                     "--strict")
    assert strict.returncode == 1
    assert not (tmp_path / "s.jsonl").exists()  # nothing written before the bad line stopped it


def test_score_missing_input_file(tmp_path: Path) -> None:
    res = run_cli("score", "--input", str(tmp_path / "none.jsonl"), "--output", "-")
    assert res.returncode == 2 and "no such file" in res.stderr


def test_every_command_has_working_help() -> None:
    for name in COMMANDS:
        res = run_cli(name, "--help")
        assert res.returncode == 0, f"{name}: {res.stderr}"
        assert f"tierwise {name}" in res.stdout or "usage" in res.stdout.lower()


def test_import_is_light_and_does_no_io() -> None:
    code = (
        "import sys, builtins\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "builtins.open = lambda *a, **k: (opened.append(a[0]), real_open(*a, **k))[1]\n"
        "import tierwise, tierwise.cli, tierwise.config, tierwise.types\n"
        "heavy = [m for m in ('numpy', 'aiohttp', 'yaml', 'onnxruntime', 'sklearn', 'matplotlib')"
        " if m in sys.modules]\n"
        "print(heavy, opened)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[] []", res.stdout + res.stderr


def test_score_unwritable_output(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "prompt": "hi"}\n')
    res = run_cli("score", "--input", str(src), "--output", str(tmp_path / "no" / "dir" / "o.jsonl"))
    assert res.returncode == 2
    assert "cannot write (No such file or directory)" in res.stderr
    assert "Traceback" not in res.stderr
