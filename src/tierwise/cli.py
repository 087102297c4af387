"""`tierwise` command line. Each subcommand lives in its own module, imported only when used,
so `tierwise route` never pays for the server, and `--help` stays instant."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). A module exposes add_arguments(parser) and run(args) -> int,
# or main(argv) -> int when it owns its whole parser (marked with a trailing "!").
COMMANDS: dict[str, tuple[str, str]] = {
    "route": ("tierwise.commands.route", "Route one prompt and print the decision."),
    "score": ("tierwise.commands.score", "Route every prompt of a JSONL file (batch scoring)."),
    "eval": ("tierwise.commands.evaluate", "Cost-quality evaluation of a router on a dataset."),
    "config": ("tierwise.commands.config_cmd", "Check a config file or print the default."),
    "serve": ("tierwise.commands.serve", "Run the OpenAI- and Anthropic-compatible gateway."),
    "demo": ("tierwise.commands.demo", "Gateway + mock upstream + a few routed requests."),
    "mock-upstream": ("tierwise.mock.__main__!", "Local emulator of both provider APIs."),
    "train": ("tierwise.commands.train", "Train a learned router on benchmark datasets."),
    "calibrate": ("tierwise.commands.calibrate", "Set thresholds to reach a target tier mix."),
    "report": ("tierwise.commands.report", "Summaries of the request ledger."),
}


def _top_parser() -> argparse.ArgumentParser:
    from tierwise import __version__

    parser = argparse.ArgumentParser(
        prog="tierwise",
        description="Route each LLM request to the cheapest tier that answers it well.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<14} {text}" for name, (_, text) in COMMANDS.items())
        + "\n\nRun 'tierwise COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"tierwise {__version__}")
    parser.add_argument("command", nargs="?", help="one of the commands below")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        parser = _top_parser()
        parser.parse_args(args)
        parser.print_help()
        return 0 if not args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        print(f"tierwise: unknown command {name!r}{hint}; see 'tierwise --help'", file=sys.stderr)
        return 2
    module_name, text = COMMANDS[name]
    if module_name.endswith("!"):
        return int(importlib.import_module(module_name[:-1]).main(rest) or 0)
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"tierwise {name}", description=text)
    module.add_arguments(parser)
    ns = parser.parse_args(rest)
    try:
        return int(module.run(ns) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
