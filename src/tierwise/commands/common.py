"""Helpers shared by subcommands: loading config and reporting errors the same way."""

from __future__ import annotations

import argparse
import sys

from tierwise.config import Config, ConfigError, load_config


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="YAML config (default: the built-in haiku/sonnet/opus)"
    )


def load_or_exit(path: str | None, *, require_env: bool = False) -> Config:
    """Load a config or print its problems and exit 2. Routing-only commands need no keys."""
    try:
        return load_config(path, require_env=require_env)
    except ConfigError as exc:
        print(f"tierwise: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def fail(message: str, code: int = 2) -> int:
    print(f"tierwise: {message}", file=sys.stderr)
    return code
