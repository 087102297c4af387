"""`tierwise report`: what the ledger says about traffic, cost, latency, errors and quality.

The ledger URL comes from --ledger, else the config's ledger.url; prices (for savings against
always using the strongest tier) come from the config's tiers.
"""

from __future__ import annotations

import argparse
import sys

from tierwise.commands.common import add_config_argument, fail, load_or_exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger", metavar="URL", help="sqlite:///PATH or postgresql://... (default: ledger.url)"
    )
    add_config_argument(parser)
    parser.add_argument(
        "--since",
        metavar="WHEN",
        default="all",
        help="only requests since: a duration (30m, 24h, 7d, 2w), an ISO date, or 'all' (default)",
    )
    parser.add_argument(
        "--low-score",
        type=float,
        default=None,
        metavar="X",
        help="feedback below X counts as a poor answer (default 0.5; scores are in [0, 1])",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from tierwise.ledger.report import DEFAULT_LOW_SCORE, build_report, parse_since
    from tierwise.ledger.store import LedgerURLError, open_reader, redact

    cfg = load_or_exit(args.config)
    url = args.ledger or cfg.ledger.url
    try:
        since = parse_since(args.since)
    except ValueError as exc:
        return fail(str(exc))
    low = DEFAULT_LOW_SCORE if args.low_score is None else args.low_score
    try:
        reader = open_reader(url)
    except (LedgerURLError, FileNotFoundError) as exc:
        return fail(str(exc))
    except Exception as exc:  # driver errors: unreachable server, bad credentials, ...
        return fail(f"cannot open ledger {redact(url)}: {exc}", 1)
    try:
        report = build_report(reader, cfg.tiers, since=since, low_score=low)
    except Exception as exc:
        if "no such table" in str(exc) or "does not exist" in str(exc):
            return fail(f"{redact(url)} holds no tierwise ledger (no 'requests' table)", 1)
        return fail(f"reading ledger {redact(url)}: {exc}", 1)
    finally:
        reader.close()
    if args.json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    from rich.console import Console

    from tierwise.ledger.report import render_report

    console = Console()
    if not console.is_terminal:  # pipes and files: no wrapping of wide tables at 80 columns
        console = Console(width=160, no_color=True, highlight=False)
    render_report(report, console, plain=not console.is_terminal)
    return 0
