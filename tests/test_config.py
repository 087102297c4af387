"""Config loading: the built-in default, and the exact messages users see for their mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierwise.commands.config_cmd import run as config_run
from tierwise.config import ConfigError, load_config, parse_config

GOOD = """
tiers:
  - name: small
    model: m-small
    price_in: 0.1
    price_out: 0.2
    deployments:
      - provider: openai
        base_url: http://127.0.0.1:9/v1/
        api_key: ${TW_TEST_KEY}
  - name: big
    model: m-big
    price_in: 1
    price_out: 2
    context_window: 1000
routing:
  policy: heuristic
  thresholds: [0.4]
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", environ=env or {})
    return [str(p) for p in info.value.problems]


def test_builtin_default_has_three_anthropic_tiers_cheapest_first() -> None:
    cfg = load_config(None, environ={})
    assert cfg.tier_names == ["haiku", "sonnet", "opus"]
    prices = [t.price_out for t in cfg.tiers]
    assert prices == sorted(prices)
    assert all(d.provider == "anthropic" for t in cfg.tiers for d in t.deployments)


def test_good_config_fills_defaults_and_interpolates_env() -> None:
    cfg = parse_config(GOOD, "cfg.yaml", environ={"TW_TEST_KEY": "sk-test"})
    small, big = cfg.tiers
    assert small.deployments[0].api_key == "sk-test"
    assert small.deployments[0].base_url == "http://127.0.0.1:9/v1"  # trailing slash dropped
    assert small.deployments[0].model == "m-small"
    assert big.deployments[0].base_url == "https://api.anthropic.com"
    assert cfg.routing.thresholds == [0.4]


def test_deployment_id_is_deterministic_and_hides_the_key() -> None:
    a = parse_config(GOOD, "a", environ={"TW_TEST_KEY": "sk-secret"})
    b = parse_config(GOOD, "b", environ={"TW_TEST_KEY": "sk-secret"})
    c = parse_config(GOOD, "c", environ={"TW_TEST_KEY": "sk-other"})
    ida, idb, idc = (x.tiers[0].deployments[0].id for x in (a, b, c))
    assert ida == idb != idc
    assert "sk-secret" not in ida


def test_unknown_key_gets_did_you_mean() -> None:
    text = GOOD.replace("policy: heuristic", "polcy: heuristic")
    assert problems(text, {"TW_TEST_KEY": "k"}) == [
        "cfg.yaml: routing.polcy: unknown key (did you mean 'policy'?); valid keys here: "
        "policy, thresholds, default_tier, manual_commands, heuristic, random, learned, target_mix, "
        "cascade"
    ]


def test_wrong_type_names_path_found_and_expected() -> None:
    text = GOOD.replace("price_in: 0.1", "price_in: cheap")
    assert problems(text, {"TW_TEST_KEY": "k"}) == [
        "cfg.yaml: tiers[0].price_in: found str 'cheap'; expected a number"
    ]


def test_unset_environment_variable_is_named() -> None:
    assert problems(GOOD) == [
        "cfg.yaml: tiers[0].deployments[0].api_key: environment variable TW_TEST_KEY is "
        "referenced but not set; export TW_TEST_KEY=... or write ${TW_TEST_KEY:-default}"
    ]


def test_bad_enum_value_lists_choices_with_suggestion() -> None:
    text = GOOD.replace("provider: openai", "provider: opneai")
    assert problems(text, {"TW_TEST_KEY": "k"}) == [
        "cfg.yaml: tiers[0].deployments[0].provider: found 'opneai'; expected one of "
        "'anthropic', 'openai' (did you mean 'openai'?)"
    ]


def test_missing_required_key() -> None:
    text = GOOD.replace("    model: m-big\n", "")
    assert problems(text, {"TW_TEST_KEY": "k"}) == [
        "cfg.yaml: tiers[1].model: missing required key; expected a string"
    ]


def test_threshold_count_must_match_tiers() -> None:
    text = GOOD.replace("thresholds: [0.4]", "thresholds: [0.4, 0.8]")
    assert problems(text, {"TW_TEST_KEY": "k"}) == [
        "cfg.yaml: routing.thresholds: found 2 cut point(s); expected 1 (one fewer than the 2 tiers)"
    ]


def test_duplicate_tier_names_and_unknown_fallback() -> None:
    text = GOOD.replace("name: big", "name: small").replace(
        "context_window: 1000", "context_window: 1000\n    fallbacks: [medium]"
    )
    assert problems(text, {"TW_TEST_KEY": "k"}) == [
        "cfg.yaml: tiers[1]: name or alias 'small' is already used by tier 'small'",
        "cfg.yaml: tiers[1].fallbacks[0]: found 'medium'; expected a tier name (['small', 'small'])",
    ]


def test_invalid_yaml_reports_line() -> None:
    (msg,) = problems("tiers: [\n  - name: x\n")
    assert msg.startswith("cfg.yaml: (top level): not valid YAML at line")
    assert "<unicode string>" not in msg


def test_several_problems_reported_together() -> None:
    text = GOOD.replace("price_in: 0.1", "price_in: -1").replace("policy: heuristic", "policy: x")
    found = problems(text, {"TW_TEST_KEY": "k"})
    assert len(found) == 2
    assert any("routing.policy" in p for p in found)
    assert any("tiers[0].price_in" in p and "negative" in p for p in found)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: \(top level\): file not found"):
        load_config("nope.yaml")


def test_config_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    monkeypatch.setenv("TW_TEST_KEY", "k")
    assert config_run(argparse.Namespace(action="check", file=str(good), no_env=False)) == 0
    assert "ok — 2 tiers (small, big)" in capsys.readouterr().out

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("price_out: 0.2", "price_out: [1]"))
    assert config_run(argparse.Namespace(action="check", file=str(bad), no_env=False)) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}: tiers[0].price_out: found a list; expected a number" in err
    assert "1 problem(s)" in err


def test_reserved_tier_names_and_runtime_limits() -> None:
    text = (GOOD.replace("name: big", "name: auto")
            + "server: {max_body_bytes: 0}\nledger: {batch_size: 0, flush_interval_s: -5}\n")
    assert problems(text, {"TW_TEST_KEY": "k"}) == [
        "cfg.yaml: tiers[1]: name or alias 'auto' is reserved (a request's model 'auto' asks "
        "the router); choose another",
        "cfg.yaml: server.max_body_bytes: found 0; expected bytes >= 1024 (every request would "
        "be refused with 413)",
        "cfg.yaml: ledger.batch_size: found 0; expected rows >= 1",
        "cfg.yaml: ledger.flush_interval_s: found -5.0; expected seconds > 0",
    ]


def test_url_errors_never_echo_passwords() -> None:
    text = GOOD + "state: redsi://:hunter2@127.0.0.1:6379\nledger: {url: 'mysql://u:pw2@h/db'}\n"
    found = problems(text, {"TW_TEST_KEY": "k"})
    assert found == [
        "cfg.yaml: state: found 'redsi://:***@127.0.0.1:6379'; expected 'memory' or a redis:// URL",
        "cfg.yaml: ledger.url: found 'mysql://u:***@h/db'; expected sqlite:///PATH or "
        "postgresql://USER@HOST/DB",
    ]
