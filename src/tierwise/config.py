"""Configuration: one validated place for tiers, deployments, routing and runtime settings.

A config is YAML (plus `${ENV}` / `${ENV:-default}` interpolation) checked once at load time
against the dataclasses below. Every problem names the file, the key path, what was found and
what was expected; unknown keys get a did-you-mean. Nothing here runs on the request hot path.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tierwise.urls import redact

BUILTIN_SOURCE = "<built-in default>"

DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com",
}


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """All problems found in one config, reported together so a user fixes them in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        super().__init__("invalid configuration:\n  " + "\n  ".join(lines))


# --------------------------------------------------------------------------- schema


#: Prompt-cache reads as a share of the input price when no `price_cache_read` is configured:
#: Anthropic bills them at 0.1x; OpenAI's cached input is 0.5x for the gpt-4o family (newer
#: models are cheaper - set `price_cache_read` from the model's price list).
CACHE_READ_SHARE = {"anthropic": 0.1, "openai": 0.5}


def cache_read_price(provider: str, price_in: float, explicit: float | None) -> float:
    """USD per million prompt-cache reads: the configured price, else the provider's share."""
    return explicit if explicit is not None else CACHE_READ_SHARE.get(provider, 1.0) * price_in


@dataclass(slots=True)
class DeploymentConfig:
    """One place a tier's model can be called: provider, endpoint, key and limits."""

    provider: Literal["anthropic", "openai"] = "anthropic"
    base_url: str = ""
    api_key: str = ""
    model: str = ""  # empty: the tier's model id
    rpm: int | None = None
    tpm: int | None = None
    weight: float = 1.0
    priority: int = 0
    timeout_s: float = 600.0
    name: str = ""
    # USD per million tokens on this deployment; None: the tier's price (used by `cost`).
    price_in: float | None = None
    price_out: float | None = None
    price_cache_read: float | None = None  # prompt-cache reads; None: see cache_read_price

    @property
    def id(self) -> str:
        """Deterministic id from the settings that identify the endpoint (never the key itself)."""
        key_digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:8] if self.api_key else ""
        raw = f"{self.provider}|{self.base_url}|{self.model}|{key_digest}|{self.name}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


@dataclass(slots=True)
class TierConfig:
    name: str
    model: str
    price_in: float
    price_out: float
    price_cache_read: float | None = None  # USD / M prompt-cache reads; None: see cache_read_price
    provider: Literal["anthropic", "openai"] = "anthropic"
    context_window: int = 200_000
    aliases: list[str] = field(default_factory=list)
    deployments: list[DeploymentConfig] = field(default_factory=list)
    strategy: Literal[
        "weighted", "latency", "least-busy", "cost", "usage", "priority"
    ] = "weighted"
    # Tiers tried, in order, once this tier's retries are exhausted. None: neighbouring tiers
    # (every weaker tier, strongest first; the cheapest tier falls back to the next stronger).
    fallbacks: list[str] | None = None
    # `latency` strategy: deployments within this fraction of the fastest share the traffic.
    latency_tolerance: float = 0.2


@dataclass(slots=True)
class HeuristicConfig:
    """Weights of the rule-based router's signals; complexity = squash(sum of fired weights)."""

    weights: dict[str, float] = field(default_factory=dict)
    # Tokens at which the length signal saturates (log scale between short and long).
    short_tokens: int = 30
    long_tokens: int = 3000
    extra_keywords: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class RandomConfig:
    mix: dict[str, float] = field(default_factory=dict)  # empty: uniform over tiers
    seed: int | None = None


@dataclass(slots=True)
class LearnedConfig:
    artifact: str = "builtin"  # path to a trained router, or "builtin" for the shipped one
    embedder: Literal["static", "minilm"] = "static"


@dataclass(slots=True)
class CascadeConfig:
    """`routing.policy: cascade`: cheap models answer first (or classify) before a strong one."""

    # answer: the cheapest tier answers, weak answers escalate; classify: it rates difficulty.
    mode: Literal["answer", "classify"] = "answer"
    tiers: list[str] = field(default_factory=list)  # empty: every tier, cheapest first
    max_escalations: int = 2
    # An answer shorter than this (scaled down for short questions) counts as weak.
    min_answer_chars: int = 20
    # An answer cut at max_tokens is weak only when the caller's max_tokens is at least this: a
    # smaller budget cuts every tier alike, and escalating it would only cost more.
    truncation_min_tokens: int = 1024
    weak_phrases: list[str] = field(default_factory=list)  # added to the built-in hedges
    classify_tier: str | None = None  # None: the cheapest cascade tier
    # Decides when the classifier's reply is unusable, and answers `POST /v1/route`.
    base_policy: Literal["heuristic", "learned", "random", "manual", "length"] = "heuristic"


@dataclass(slots=True)
class RoutingConfig:
    policy: Literal["heuristic", "learned", "random", "manual", "length", "cascade"] = "heuristic"
    # N-1 increasing cut points on complexity in [0, 1]; None: the policy's own defaults.
    thresholds: list[float] | None = None
    # Tier used by `manual` when the request names none, and by policies that cannot decide.
    default_tier: str | None = None
    manual_commands: bool = True  # honour `/model X` at the start of the last user message
    heuristic: HeuristicConfig = field(default_factory=HeuristicConfig)
    random: RandomConfig = field(default_factory=RandomConfig)
    learned: LearnedConfig = field(default_factory=LearnedConfig)
    # Tier shares the thresholds were calibrated for (`tierwise calibrate`); the gateway reports
    # its live mix against it. Empty: no target.
    target_mix: dict[str, float] = field(default_factory=dict)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)


@dataclass(slots=True)
class RetryConfig:
    max_attempts: int = 3
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0
    deadline_s: float = 120.0
    # Fraction of each backoff delay that is randomised (0: none, 1: full jitter).
    jitter: float = 0.5


@dataclass(slots=True)
class CooldownConfig:
    failures: int = 3
    window_s: float = 60.0
    cooldown_s: float = 30.0
    # Failures trip a cooldown only if they are also at least this share of the window's calls,
    # so a deployment with sparse random errors keeps serving (retries absorb those).
    min_failure_ratio: float = 0.5


@dataclass(slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10 * 1024 * 1024


@dataclass(slots=True)
class LedgerConfig:
    url: str = "sqlite:///tierwise-ledger.db"
    enabled: bool = True
    batch_size: int = 256
    flush_interval_s: float = 1.0


@dataclass(slots=True)
class Config:
    tiers: list[TierConfig]
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    cooldown: CooldownConfig = field(default_factory=CooldownConfig)
    state: str = "memory"  # "memory" or a redis:// URL shared by several instances
    source: str = BUILTIN_SOURCE

    @property
    def tier_names(self) -> list[str]:
        return [t.name for t in self.tiers]

    def tier(self, name: str) -> TierConfig:
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(name)

    def with_upstream(self, base_url: str) -> Config:
        """Every tier served by one deployment at `base_url` (demos, tests, benchmarks)."""
        tiers = []
        for t in self.tiers:
            dep = DeploymentConfig(
                provider=t.provider,
                base_url=base_url.rstrip("/"),
                api_key="tierwise-upstream",
                model=t.model,  # as _fill_defaults does: dispatch calls deployment.model
            )
            tiers.append(dataclasses.replace(t, deployments=[dep]))
        return dataclasses.replace(self, tiers=tiers)


# --------------------------------------------------------------------------- loading

# Request `model` values that ask the router; a tier may not be named after them.
RESERVED_LABELS = frozenset({"auto", "router", "tierwise"})

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NO_FIELD: Any = object()


class _Loader:
    """Turns parsed YAML into the dataclasses, collecting every problem with its key path."""

    def __init__(self, source: str, environ: typing.Mapping[str, str], require_env: bool) -> None:
        self.source = source
        self.environ = environ
        self.require_env = require_env
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.source, path, message))

    def interpolate(self, value: str, path: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            if self.require_env:
                self.problem(
                    path,
                    f"environment variable {name} is referenced but not set; "
                    f"export {name}=... or write ${{{name}:-default}}",
                )
            return ""

        return _ENV_RE.sub(sub, value) if "${" in value else value

    def build(self, tp: Any, value: Any, path: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            return self.build(inner[0], value, path)
        if isinstance(value, str):
            value = self.interpolate(value, path)
        if origin is Literal:
            if value not in args:
                choices = ", ".join(repr(a) for a in args)
                hint = _did_you_mean(str(value), [str(a) for a in args])
                self.problem(path, f"found {value!r}; expected one of {choices}{hint}")
                return args[0]
            return value
        if dataclasses.is_dataclass(tp):
            return self.build_dataclass(tp, value, path)
        if origin is list:
            if not isinstance(value, list):
                self.problem(path, f"found {_describe(value)}; expected a list")
                return []
            return [self.build(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.problem(path, f"found {_describe(value)}; expected a mapping")
                return {}
            return {str(k): self.build(args[1], v, f"{path}.{k}") for k, v in value.items()}
        return self.scalar(tp, value, path)

    def scalar(self, tp: type, value: Any, path: str) -> Any:
        if tp is bool:
            if isinstance(value, bool):
                return value
            self.problem(path, f"found {_describe(value)}; expected true or false")
            return False
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            self.problem(path, f"found {_describe(value)}; expected a whole number")
            return 0
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            self.problem(path, f"found {_describe(value)}; expected a number")
            return 0.0
        if tp is str:
            if isinstance(value, str):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            self.problem(path, f"found {_describe(value)}; expected a string")
            return ""
        raise TypeError(f"unsupported config type {tp!r}")  # a schema bug, not a user error

    def build_dataclass(self, cls: Any, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.problem(path, f"found {_describe(value)}; expected a mapping of {_fields(cls)}")
            value = {}
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
        kwargs: dict[str, Any] = {}
        for key, raw in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in known:
                hint = _did_you_mean(str(key), list(known))
                self.problem(sub, f"unknown key{hint}; valid keys here: {', '.join(known)}")
                continue
            kwargs[key] = self.build(hints[key], raw, sub)
        for name, f in known.items():
            if name in kwargs:
                continue
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                sub = f"{path}.{name}" if path else name
                self.problem(sub, f"missing required key; expected {_expected(hints[name])}")
                kwargs[name] = _placeholder(hints[name])
        return cls(**kwargs)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _expected(tp: Any) -> str:
    if tp is float or tp is int:
        return "a number"
    if tp is str:
        return "a string"
    if typing.get_origin(tp) is list:
        return "a list"
    return "a value"


def _placeholder(tp: Any) -> Any:
    return {float: 0.0, int: 0, str: "", bool: False}.get(tp, [])


def _fields(cls: Any) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls) if f.name != "source")


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_semantics(cfg: Config, problem: typing.Callable[[str, str], None]) -> None:
    """Rules that span keys: tier order, names, thresholds, mixes, fallbacks, URLs."""
    names = cfg.tier_names
    if len(cfg.tiers) < 2:
        problem("tiers", f"found {len(cfg.tiers)} tier(s); expected at least 2, cheapest first")
    seen: dict[str, str] = {}
    for i, t in enumerate(cfg.tiers):
        p = f"tiers[{i}]"
        for label in [t.name, *t.aliases]:
            if label in seen:
                problem(p, f"name or alias {label!r} is already used by tier {seen[label]!r}")
            seen[label] = t.name
            if label.strip().lower() in RESERVED_LABELS or label.startswith("router-"):
                problem(
                    p,
                    f"name or alias {label!r} is reserved (a request's model {label!r} asks "
                    "the router); choose another",
                )
        if t.price_in < 0 or t.price_out < 0:
            problem(f"{p}.price_in", "found a negative price; expected USD per million tokens >= 0")
        if t.price_cache_read is not None and t.price_cache_read < 0:
            problem(f"{p}.price_cache_read", f"found {t.price_cache_read}; expected USD per "
                    "million tokens >= 0 (or omit it: the provider's usual cache discount)")
        if t.context_window <= 0:
            problem(f"{p}.context_window", f"found {t.context_window}; expected tokens > 0")
        for j, d in enumerate(t.deployments):
            dp = f"{p}.deployments[{j}]"
            if d.base_url and not d.base_url.startswith(("http://", "https://")):
                problem(f"{dp}.base_url", f"found {d.base_url!r}; expected an http(s):// URL")
            if d.weight <= 0:
                problem(f"{dp}.weight", f"found {d.weight}; expected a number > 0")
            if d.timeout_s <= 0:
                problem(f"{dp}.timeout_s", f"found {d.timeout_s}; expected seconds > 0")
        for k, fb in enumerate(t.fallbacks or []):
            if fb not in names:
                problem(f"{p}.fallbacks[{k}]", f"found {fb!r}; expected a tier name ({names})")
    r = cfg.routing
    if r.thresholds is not None:
        th = r.thresholds
        if len(th) != len(names) - 1:
            problem(
                "routing.thresholds",
                f"found {len(th)} cut point(s); expected {len(names) - 1} "
                f"(one fewer than the {len(names)} tiers)",
            )
        if any(not 0.0 <= x <= 1.0 for x in th) or any(a > b for a, b in itertools.pairwise(th)):
            problem("routing.thresholds", f"found {th}; expected increasing numbers in [0, 1]")
    if r.default_tier is not None and r.default_tier not in names:
        problem("routing.default_tier", f"found {r.default_tier!r}; expected one of {names}")
    for tier, share in r.random.mix.items():
        if tier not in names:
            hint = _did_you_mean(tier, names)
            problem(f"routing.random.mix.{tier}", f"unknown tier{hint}; expected one of {names}")
        elif share < 0:
            problem(f"routing.random.mix.{tier}", f"found {share}; expected a share >= 0")
    if r.random.mix and sum(r.random.mix.values()) <= 0:
        problem("routing.random.mix", "shares sum to 0; expected at least one positive share")
    for tier, share in r.target_mix.items():
        if tier not in names:
            hint = _did_you_mean(tier, names)
            problem(f"routing.target_mix.{tier}", f"unknown tier{hint}; expected one of {names}")
        elif share < 0:
            problem(f"routing.target_mix.{tier}", f"found {share}; expected a share >= 0")
    if r.target_mix and abs(sum(r.target_mix.values()) - 1.0) > 0.01:
        problem(
            "routing.target_mix",
            f"shares sum to {sum(r.target_mix.values()):g}; expected 1 (± 0.01), "
            "or leave it empty for no target",
        )
    _check_cascade(r.cascade, names, problem)
    if cfg.state != "memory" and not cfg.state.startswith(("redis://", "rediss://", "unix://")):
        problem("state", f"found {redact(cfg.state)!r}; expected 'memory' or a redis:// URL")
    if not cfg.ledger.url.startswith(("sqlite://", "postgresql://", "postgres://")):
        problem(
            "ledger.url",
            f"found {redact(cfg.ledger.url)!r}; expected sqlite:///PATH or "
            "postgresql://USER@HOST/DB",
        )
    if not 0 < cfg.server.port < 65536:
        problem("server.port", f"found {cfg.server.port}; expected a port in 1..65535")
    if cfg.retry.max_attempts < 1:
        problem("retry.max_attempts", f"found {cfg.retry.max_attempts}; expected >= 1")
    if cfg.server.max_body_bytes < 1024:
        problem(
            "server.max_body_bytes",
            f"found {cfg.server.max_body_bytes}; expected bytes >= 1024 (every request would be "
            "refused with 413)",
        )
    if cfg.ledger.batch_size < 1:
        problem("ledger.batch_size", f"found {cfg.ledger.batch_size}; expected rows >= 1")
    if cfg.ledger.flush_interval_s <= 0:
        problem(
            "ledger.flush_interval_s", f"found {cfg.ledger.flush_interval_s}; expected seconds > 0"
        )
    _check_dispatch(cfg, problem)


def _check_cascade(
    c: CascadeConfig, names: list[str], problem: typing.Callable[[str, str], None]
) -> None:
    """Cascade tiers must exist, be distinct, run cheapest first, and fit a 1-9 rating."""
    p = "routing.cascade"
    for k, name in enumerate(c.tiers):
        if name not in names:
            hint = _did_you_mean(name, names)
            problem(f"{p}.tiers[{k}]", f"unknown tier {name!r}{hint}; expected one of {names}")
    known = [n for n in c.tiers if n in names]
    if len(set(known)) != len(known):
        problem(f"{p}.tiers", f"found {c.tiers}; expected each tier at most once")
    elif known != sorted(known, key=names.index):
        problem(f"{p}.tiers", f"found {c.tiers}; expected cheapest first, as in tiers: {names}")
    if c.tiers and len(c.tiers) < 2:
        problem(f"{p}.tiers", f"found {c.tiers}; expected at least 2 tiers to choose between")
    if c.mode == "classify" and len(c.tiers or names) > 9:
        problem(f"{p}.tiers", "classify mode rates with one digit; expected at most 9 tiers")
    if c.max_escalations < 0:
        problem(f"{p}.max_escalations", f"found {c.max_escalations}; expected >= 0")
    if c.min_answer_chars < 0:
        problem(f"{p}.min_answer_chars", f"found {c.min_answer_chars}; expected >= 0")
    if c.truncation_min_tokens < 0:
        problem(f"{p}.truncation_min_tokens", f"found {c.truncation_min_tokens}; expected >= 0")
    if c.classify_tier is not None and c.classify_tier not in names:
        hint = _did_you_mean(c.classify_tier, names)
        problem(
            f"{p}.classify_tier",
            f"unknown tier {c.classify_tier!r}{hint}; expected one of {names}",
        )
    for k, phrase in enumerate(c.weak_phrases):
        if not phrase.strip():
            problem(f"{p}.weak_phrases[{k}]", "found an empty phrase; expected some text")


def _check_dispatch(cfg: Config, problem: typing.Callable[[str, str], None]) -> None:
    """Dispatch knobs: limits, prices, tolerances, backoff and cooldown settings."""
    for i, t in enumerate(cfg.tiers):
        p = f"tiers[{i}]"
        if t.latency_tolerance < 0:
            problem(f"{p}.latency_tolerance", f"found {t.latency_tolerance}; expected >= 0")
        for j, d in enumerate(t.deployments):
            dp = f"{p}.deployments[{j}]"
            for key in ("rpm", "tpm"):
                v = getattr(d, key)
                if v is not None and v <= 0:
                    problem(f"{dp}.{key}", f"found {v}; expected a limit > 0 (or omit it)")
            for key in ("price_in", "price_out", "price_cache_read"):
                v = getattr(d, key)
                if v is not None and v < 0:
                    problem(f"{dp}.{key}", f"found {v}; expected USD per million tokens >= 0")
    rt = cfg.retry
    if rt.backoff_base_s < 0 or rt.backoff_max_s < rt.backoff_base_s:
        problem(
            "retry.backoff_base_s",
            f"found base {rt.backoff_base_s}, max {rt.backoff_max_s}; expected 0 <= base <= max",
        )
    if rt.deadline_s <= 0:
        problem("retry.deadline_s", f"found {rt.deadline_s}; expected seconds > 0")
    if not 0.0 <= rt.jitter <= 1.0:
        problem("retry.jitter", f"found {rt.jitter}; expected a fraction in [0, 1]")
    cd = cfg.cooldown
    if cd.failures < 1:
        problem("cooldown.failures", f"found {cd.failures}; expected >= 1")
    if cd.window_s <= 0 or cd.cooldown_s <= 0:
        problem("cooldown.window_s", "expected window_s > 0 and cooldown_s > 0 (seconds)")
    if not 0.0 <= cd.min_failure_ratio <= 1.0:
        problem(
            "cooldown.min_failure_ratio",
            f"found {cd.min_failure_ratio}; expected a fraction in [0, 1]",
        )


def _fill_defaults(cfg: Config) -> None:
    """Give each tier at least one deployment and each deployment a base URL and model."""
    for t in cfg.tiers:
        if not t.deployments:
            t.deployments = [DeploymentConfig(provider=t.provider)]
        for d in t.deployments:
            if not d.base_url:
                d.base_url = DEFAULT_BASE_URLS[d.provider]
            d.base_url = d.base_url.rstrip("/")
            if not d.model:
                d.model = t.model


def parse_config(
    text: str,
    source: str,
    *,
    environ: typing.Mapping[str, str] | None = None,
    require_env: bool = True,
) -> Config:
    """Parse and validate YAML text. Raises ConfigError listing every problem."""
    import yaml  # lazy: keeps `import tierwise` fast

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{context}; {what}" if context else what
        raise ConfigError([Problem(source, "", f"not valid YAML at {where}: {detail}")]) from None
    if data is None:
        data = {}
    loader = _Loader(source, os.environ if environ is None else environ, require_env)
    if not isinstance(data, dict):
        loader.problem("", f"found {_describe(data)}; expected a mapping with a 'tiers' list")
        raise ConfigError(loader.problems)
    cfg: Config = loader.build_dataclass(Config, data, "")
    cfg.source = source
    _check_semantics(cfg, loader.problem)
    if loader.problems:
        raise ConfigError(loader.problems)
    _fill_defaults(cfg)
    return cfg


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: typing.Mapping[str, str] | None = None,
    require_env: bool = True,
) -> Config:
    """Load FILE, or the built-in default when `path` is None."""
    if path is None:
        from tierwise.default_config import DEFAULT_CONFIG_YAML

        return parse_config(DEFAULT_CONFIG_YAML, BUILTIN_SOURCE, environ=environ)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(p), "", "file not found")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(p), "", f"cannot read: {exc.strerror}")]) from None
    return parse_config(text, str(p), environ=environ, require_env=require_env)
