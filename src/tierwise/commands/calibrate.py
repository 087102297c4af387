"""`tierwise calibrate`: set the routing cut points from a target tier mix or a quality floor.

    tierwise calibrate --prompts traffic.jsonl --target haiku=0.3,sonnet=0.5,opus=0.2
    tierwise calibrate --data ../shared/data/zeroeval-crux --quality-floor 0.95 --write my.yaml

Mix mode takes quantiles of the router's complexity on YOUR prompts (thresholds calibrated on
someone else's traffic drift on yours) and verifies the achieved mix by routing them again.
Quality mode uses a labelled dataset (its tier models map onto the config's tiers by relative
position, costs use the config's prices) and picks the cheapest cut points meeting the floor.
`--write` updates `routing.thresholds` (and `routing.target_mix`) in a YAML config in place,
keeping its comments and layout, and refuses to write a config that would not load.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

from tierwise.commands.common import add_config_argument, fail, load_or_exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompts", metavar="FILE.jsonl", help='lines of {"prompt"} or {"messages"}')
    src.add_argument("--data", metavar="DIR", help="labelled dataset folder (quality/cost mode)")
    goal = parser.add_mutually_exclusive_group()
    goal.add_argument("--target", metavar="T1=S1,T2=S2,...",
                      help="target share per tier (default: the config's routing.target_mix)")
    goal.add_argument("--quality-floor", type=float, metavar="F",
                      help="with --data: keep quality >= F x the strongest tier's (e.g. 0.95)")
    goal.add_argument("--max-cost-ratio", type=float, metavar="R",
                      help="with --data: best quality at cost <= R x all-strongest")
    parser.add_argument("--router", metavar="NAME", help="policy whose complexity is cut")
    parser.add_argument("--write", metavar="CONFIG", help="update routing.thresholds in this YAML")
    add_config_argument(parser)


def _requests(path: str) -> list[Any]:
    import orjson

    from tierwise.commands.score import BadLine, request_from_line

    out = []
    if not Path(path).is_file():
        raise ValueError(f"--prompts {path}: no such file (JSON lines of {{\"prompt\": ...}})")
    with Path(path).open("rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                if isinstance(obj, dict) and "id" not in obj:
                    obj = {**obj, "id": number}
                out.append(request_from_line(obj))
            except (orjson.JSONDecodeError, BadLine) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
    if not out:
        raise ValueError(f"{path}: no prompts")
    return out


def _complexity(policy: Any, requests: list[Any]) -> Any:
    import numpy as np

    from tierwise.routing.base import route_many

    out = []
    for start in range(0, len(requests), 256):
        out += [d.complexity for d in route_many(policy, requests[start:start + 256])]
    return np.asarray(out, dtype=np.float64)


def _labelled(data: str, cfg: Any) -> tuple[list[Any], Any, Any]:
    """Requests, (n, N) scores and costs of a dataset, mapped onto the config's tiers."""
    import numpy as np

    from tierwise.eval.datasets import load_dataset
    from tierwise.routing.learned.models import tier_positions
    from tierwise.types import ChatRequest

    d = load_dataset(data)
    n_cfg = len(cfg.tiers)
    # config tier i reads the dataset tier at the same relative position
    back = tier_positions(n_cfg, len(d.tiers))
    cols = [d.model_index(d.tiers[j]) for j in back]
    scores = d.scores[:, cols]
    pin = np.array([t.price_in for t in cfg.tiers])
    pout = np.array([t.price_out for t in cfg.tiers])
    costs = (d.prompt_tokens[:, None] * pin + d.output_tokens[:, cols] * pout) / 1e6
    return [ChatRequest.from_prompt(p) for p in d.prompts], scores, costs


def run(args: argparse.Namespace) -> int:
    from tierwise.eval.datasets import DatasetError
    from tierwise.routing.calibrate import (
        CalibrationError,
        best_tradeoff,
        mix_for_thresholds,
        parse_mix,
        thresholds_for_mix,
    )
    from tierwise.routing.ladder import TierLadder
    from tierwise.routing.registry import UnknownRouterError, build_policy

    cfg = load_or_exit(args.config)
    names = cfg.tier_names
    configured = getattr(cfg.routing, "target_mix", None)
    if args.prompts and not args.target and configured:
        args.target = ",".join(f"{k}={v}" for k, v in configured.items())
    if args.prompts and not args.target:
        return fail("--prompts needs --target TIER=SHARE,... (or routing.target_mix in the config)")
    if args.data and not (args.target or args.quality_floor or args.max_cost_ratio):
        return fail("--data needs --quality-floor, --max-cost-ratio or --target")
    try:
        policy = build_policy(cfg, args.router)
        if args.prompts:
            requests, scores, costs = _requests(args.prompts), None, None
        else:
            requests, scores, costs = _labelled(args.data, cfg)
        complexity = _complexity(policy, requests)
        if args.target:
            target = parse_mix(args.target, names)
            thresholds = thresholds_for_mix(complexity, target)
        else:
            best = best_tradeoff(complexity, scores, costs, quality_floor=args.quality_floor,
                                 max_cost_ratio=args.max_cost_ratio)
            thresholds, target = best.thresholds, None
            print(f"quality {best.quality_ratio:.1%} of the strongest tier at "
                  f"{best.cost_ratio:.1%} of its cost")
    except (UnknownRouterError, CalibrationError, DatasetError, ValueError, OSError) as exc:
        return fail(str(exc))

    # verify by routing again with the new cut points (context-window moves included)
    ladder = TierLadder.from_config(cfg, thresholds=thresholds)
    checked = _complexity_tiers(build_policy(cfg, args.router, ladder), requests, names)
    predicted = mix_for_thresholds(complexity, thresholds, len(names))
    print(f"router: {policy.name}; {len(requests)} prompts")
    print("thresholds: [" + ", ".join(f"{t:.6f}" for t in thresholds) + "]")
    print(f"{'tier':<12}{'target':>8}{'achieved':>10}")
    for i, n in enumerate(names):
        tgt = f"{target[i]:.1%}" if target else "-"
        print(f"{n:<12}{tgt:>8}{checked[i]:>10.1%}")
    worst = max(abs(a - b) for a, b in zip(predicted, checked))
    if worst > 0.005:
        print(f"note: context-window limits moved {worst:.1%} of prompts up a tier")
    if target and max(abs(a - b) for a, b in zip(target, checked)) > 0.02:
        print("warning: achieved mix is more than 2 points off target (tied complexities)",
              file=sys.stderr)
    if args.write:
        try:
            mix = dict(zip(names, target, strict=True)) if target else None
            write_thresholds(args.write, thresholds, mix)
        except (OSError, ValueError) as exc:
            return fail(str(exc))
        what = "routing.thresholds and routing.target_mix" if target else "routing.thresholds"
        print(f"wrote {what} to {args.write} (comments and layout kept)")
    return 0


def _complexity_tiers(policy: Any, requests: list[Any], names: list[str]) -> list[float]:
    from tierwise.routing.base import route_many

    counts = dict.fromkeys(names, 0)
    for start in range(0, len(requests), 256):
        for d in route_many(policy, requests[start:start + 256]):
            counts[d.tier] += 1
    return [counts[n] / len(requests) for n in names]


def write_thresholds(
    path: str, thresholds: list[float], target_mix: dict[str, float] | None = None
) -> None:
    """Set routing.thresholds (and the target mix the server's drift view compares against)
    in a YAML config, validating the result before writing.

    Round-trips the file with ruamel.yaml, so comments, key order and quoting survive; only
    the two keys change. The new text replaces the file atomically (a crash leaves the old one).
    """
    import io

    from ruamel.yaml import YAML, YAMLError
    from ruamel.yaml.comments import CommentedMap

    from tierwise.config import ConfigError, parse_config

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{path}: no such file; write a config first (`tierwise config default`)")
    raw = p.read_bytes()
    text = raw.decode("utf-8").replace("\r\n", "\n")
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    yaml.indent(**_indent_style(text))
    yaml.explicit_start = text.lstrip().startswith("---")
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an existing YAML config with a 'tiers' list")
    if data.get("routing") is None:
        data["routing"] = CommentedMap()
    routing = data["routing"]
    if not isinstance(routing, dict):
        raise ValueError(f"{path}: 'routing' is not a mapping")
    _set_list(routing, "thresholds", [round(float(t), 6) for t in thresholds])
    if target_mix:
        mix = CommentedMap((k, round(float(v), 6)) for k, v in target_mix.items())
        mix.fa.set_flow_style()
        routing["target_mix"] = mix
    buf = io.StringIO()
    yaml.dump(data, buf)
    new_text = buf.getvalue()
    try:
        parse_config(new_text, str(p), require_env=False)
    except ConfigError as exc:
        raise ValueError(f"not writing {path}: the result would be invalid: {exc}") from None
    _replace_file(p.resolve(), new_text, "\r\n" if b"\r\n" in raw else "\n")


def _set_list(mapping: Any, key: str, values: list[float]) -> None:
    """Put `values` under `key`, reusing an existing list (its comments and style stay)."""
    from ruamel.yaml.comments import CommentedSeq

    old = mapping.get(key)
    if isinstance(old, CommentedSeq) and len(old) == len(values):
        old[:] = values
        return
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()  # [0.31, 0.72] on one line, as a person would write it
    mapping[key] = seq


def _replace_file(target: Path, text: str, newline: str) -> None:
    """Write `text` over `target` (a symlink's target, resolved by the caller) atomically via
    a synced temp file + os.replace; in a directory we may not create files in, in place."""
    import os
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except PermissionError:  # e.g. a writable file in a read-only directory
        with target.open("w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _indent_style(text: str) -> dict[str, int]:
    """The file's indentation: of nested keys, and of `- item` under its key (indented, as in
    the default config, or not), so the rewritten file keeps its layout."""
    mapping = sequence = offset = None
    for prev, line in itertools.pairwise(text.splitlines()):
        stripped = line.lstrip()
        head = prev.split("#", 1)[0].rstrip()
        if not stripped or stripped.startswith("#") or not head.endswith(":"):
            continue
        step = (len(line) - len(stripped)) - (len(prev) - len(prev.lstrip()))
        if stripped.startswith("- ") and sequence is None:
            offset, sequence = max(step, 0), max(step, 0) + 2
        elif not stripped.startswith("- ") and step > 0 and mapping is None:
            mapping = step
        if mapping is not None and sequence is not None:
            break
    return {"mapping": mapping or 2, "sequence": sequence or 4,
            "offset": 2 if offset is None else offset}
