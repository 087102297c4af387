"""`tierwise route "PROMPT"`: one decision, for humans or (`--json`) for scripts."""

from __future__ import annotations

import argparse
import sys

import orjson

from tierwise.commands.common import add_config_argument, fail, load_or_exit
from tierwise.routing.ladder import UnknownModelError
from tierwise.routing.registry import UnknownRouterError, build_router, router_names
from tierwise.types import ChatRequest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the prompt text; '-' reads it from standard input")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--router", metavar="NAME", help=f"policy to use: {', '.join(router_names())}"
    )
    parser.add_argument("--model", default="auto", help="as a request's model field (default auto)")
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    try:
        router = build_router(cfg, args.router)
        decision = router.route(ChatRequest.from_prompt(prompt, model=args.model))
    except (UnknownRouterError, UnknownModelError) as exc:
        return fail(str(exc))
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(decision.to_dict()) + b"\n")
        return 0
    print(f"tier:       {decision.tier}")
    print(f"model:      {decision.model}")
    print(f"router:     {decision.router}")
    print(f"complexity: {decision.complexity:.3f}")
    print("scores:     " + ", ".join(f"{k}={v:.2f}" for k, v in decision.scores.items()))
    if decision.success is not None:
        print("enough:     " + ", ".join(f"{k}={v:.2f}" for k, v in decision.success.items()))
    print(f"reason:     {decision.reason}")
    return 0
