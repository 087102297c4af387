"""`tierwise config check FILE` and `tierwise config default`."""

from __future__ import annotations

import argparse
import sys

from tierwise.config import ConfigError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser("check", help="validate FILE; exit 1 listing every problem")
    check.add_argument("file", metavar="FILE")
    check.add_argument(
        "--no-env", action="store_true", help="do not require referenced env variables to be set"
    )
    sub.add_parser("default", help="print the built-in config (a starting point to copy)")


def run(args: argparse.Namespace) -> int:
    if args.action == "default":
        from tierwise.default_config import DEFAULT_CONFIG_YAML

        sys.stdout.write(DEFAULT_CONFIG_YAML)
        return 0
    try:
        cfg = load_config(args.file, require_env=not args.no_env)
    except ConfigError as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    deployments = sum(len(t.deployments) for t in cfg.tiers)
    print(
        f"{args.file}: ok — {len(cfg.tiers)} tiers ({', '.join(cfg.tier_names)}), "
        f"{deployments} deployment(s), policy {cfg.routing.policy}"
    )
    return 0
