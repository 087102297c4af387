"""`tierwise score --input IN.jsonl --output OUT.jsonl`: batch routing for other tools.

Each input line is `{"id", "prompt"}` or `{"id", "messages"}`; each output line is
`{"id", "tier", "complexity", "tier_probs"}`. A bad line is reported with its number and
skipped (or, with --strict, stops the run before anything is written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from tierwise.commands.common import add_config_argument, fail, load_or_exit
from tierwise.routing.base import route_many
from tierwise.routing.ladder import UnknownModelError
from tierwise.routing.registry import UnknownRouterError, build_router, router_names
from tierwise.types import ChatRequest, Message

BATCH = 256


class BadLine(ValueError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="IN.jsonl", help="'-' for stdin")
    parser.add_argument("--output", required=True, metavar="OUT.jsonl", help="'-' for stdout")
    parser.add_argument("--router", metavar="NAME", help=f"one of: {', '.join(router_names())}")
    parser.add_argument(
        "--strict", action="store_true", help="stop at the first bad line (exit 1, no output)"
    )
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    add_config_argument(parser)


def request_from_line(obj: Any) -> ChatRequest:
    """Build a request from one parsed input line, or raise BadLine saying what is wrong."""
    if not isinstance(obj, dict):
        raise BadLine("expected a JSON object")
    if "id" not in obj:
        raise BadLine("missing 'id'")
    if isinstance(obj.get("prompt"), str):
        return ChatRequest.from_prompt(obj["prompt"])
    messages = obj.get("messages")
    if isinstance(messages, list) and messages:
        out: list[Message] = []
        system = None
        for k, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                raise BadLine(f"messages[{k}] needs 'role' and 'content'")
            if m["role"] == "system":
                system = m["content"] if isinstance(m["content"], str) else None
                continue
            content = m["content"]
            if not isinstance(content, str | list):
                raise BadLine(f"messages[{k}].content must be a string or a list of blocks")
            out.append(Message(str(m["role"]), content))
        return ChatRequest(messages=out, system=system)
    raise BadLine("expected a string 'prompt' or a non-empty 'messages' list")


def _read(path: str) -> Iterator[tuple[int, bytes]]:
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    with stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    try:
        router = build_router(cfg, args.router)
    except UnknownRouterError as exc:
        return fail(str(exc))
    if args.input != "-" and not Path(args.input).is_file():
        return fail(f"--input {args.input}: no such file")

    parsed: list[tuple[int, Any, ChatRequest]] = []
    errors = 0
    try:
        for number, raw in _read(args.input):
            try:
                obj = orjson.loads(raw)
                request = request_from_line(obj)
                parsed.append((number, obj["id"], request))
            except (orjson.JSONDecodeError, BadLine) as exc:
                errors += 1
                why = f"not valid JSON ({exc})" if isinstance(exc, orjson.JSONDecodeError) else exc
                print(f"tierwise: {args.input}:{number}: {why}", file=sys.stderr)
                if args.strict:
                    return 1
    except UnicodeDecodeError as exc:
        return fail(f"{args.input}: not UTF-8 text ({exc.reason})")

    show = not args.no_progress and sys.stderr.isatty() and len(parsed) > 2000
    try:
        out = sys.stdout.buffer if args.output == "-" else Path(args.output).open("wb")  # noqa: SIM115
    except OSError as exc:
        return fail(f"--output {args.output}: cannot write ({exc.strerror})")
    with out, _progress(show, len(parsed)) as advance:
        for start in range(0, len(parsed), BATCH):
            chunk = parsed[start:start + BATCH]
            try:
                decisions = route_many(router, [r for _, _, r in chunk])
            except UnknownModelError as exc:
                return fail(str(exc))
            lines = [
                orjson.dumps({
                    "id": item_id,
                    "tier": d.tier,
                    "complexity": round(d.complexity, 6),
                    "tier_probs": {k: round(v, 6) for k, v in d.scores.items()},
                })
                for (_, item_id, _), d in zip(chunk, decisions)
            ]
            out.write(b"\n".join(lines) + b"\n")
            advance(len(chunk))
    if errors:
        print(f"tierwise: scored {len(parsed)} line(s); {errors} bad line(s) skipped",
              file=sys.stderr)
        return 1
    return 0


class _progress:
    """A rich progress bar on a TTY, a no-op otherwise."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task("scoring", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()
