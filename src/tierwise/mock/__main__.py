"""``tierwise mock-upstream`` / ``python -m tierwise.mock``: run the emulator from a shell."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tierwise.mock.config import DEFAULT_MODELS, MockConfig, parse_status_mix
from tierwise.mock.faults import SUPPORTED_HEADERS

DEFAULT_PORT = 8099
DEFAULT_HOST = "127.0.0.1"


def build_parser(prog: str = "tierwise mock-upstream") -> argparse.ArgumentParser:
    """The CLI parser; kept separate so ``--help`` can be tested and reused."""
    header_help = "\n".join(f"  {name:<26} {text}" for name, text in SUPPORTED_HEADERS.items())
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Local emulator of the Anthropic Messages API (POST /v1/messages) and the\n"
            "OpenAI Chat Completions API (POST /v1/chat/completions) on one port, with\n"
            "deterministic answers and fault injection. Also serves GET /v1/models,\n"
            "GET /health, GET /mock/stats (request counters) and POST /mock/reset."
        ),
        epilog="Per-request fault headers (override the flags):\n" + header_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default=DEFAULT_HOST, help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=DEFAULT_PORT, help="port to bind (default: %(default)s)")
    add(
        "--answer-tokens",
        type=int,
        default=16,
        metavar="N",
        help="answer length in tokens before max_tokens/stop cut it (default: %(default)s)",
    )
    add(
        "--context-window",
        type=int,
        default=None,
        metavar="N",
        help="answer prompts over N tokens with each API's context-overflow 400 "
        "(default: no limit)",
    )
    add(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="fixed delay before every response, errors included (default: %(default)s)",
    )
    add(
        "--ttft-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="extra delay before the first generated token (default: %(default)s)",
    )
    add(
        "--tokens-per-s",
        type=float,
        default=0.0,
        metavar="R",
        help="generation speed: paces streams, and non-streaming answers wait "
        "tokens/R; 0 = instant (default: %(default)s)",
    )
    add(
        "--error-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of a random fault drawn from --status-mix (default: %(default)s)",
    )
    add(
        "--status-mix",
        default="500:1",
        metavar="SPEC",
        help="weighted faults, e.g. 429:0.5,500:0.3,529:0.2; may include hang:W and "
        "disconnect:W (default: %(default)s)",
    )
    add(
        "--retry-after",
        type=float,
        default=1.0,
        metavar="S",
        help="retry-after seconds sent with injected 429s; negative omits the header "
        "(default: %(default)s)",
    )
    add(
        "--hang-s",
        type=float,
        default=30.0,
        metavar="S",
        help="how long a 'hang' fault stalls before answering (default: %(default)s)",
    )
    add(
        "--disconnect-after",
        type=int,
        default=2,
        metavar="N",
        help="SSE events sent before a random 'disconnect' fault drops a stream "
        "(default: %(default)s)",
    )
    add("--seed", type=int, default=None, help="seed for the fault RNG (default: random)")
    add(
        "--no-auth",
        action="store_true",
        help="accept requests without x-api-key / Authorization: Bearer",
    )
    add(
        "--no-require-version",
        action="store_true",
        help="accept Anthropic requests without the anthropic-version header",
    )
    add(
        "--models",
        default=",".join(DEFAULT_MODELS),
        metavar="LIST",
        help="comma-separated ids listed by GET /v1/models (any id is accepted on requests)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> MockConfig:
    """Translate parsed flags into a MockConfig (raises ValueError on bad values)."""
    if not 0.0 <= args.error_rate <= 1.0:
        raise ValueError("--error-rate must be between 0 and 1")
    if args.answer_tokens < 1:
        raise ValueError("--answer-tokens must be >= 1")
    if args.context_window is not None and args.context_window < 1:
        raise ValueError("--context-window must be >= 1")
    return MockConfig(
        answer_tokens=args.answer_tokens,
        context_window=args.context_window,
        latency_ms=args.latency_ms,
        ttft_ms=args.ttft_ms,
        tokens_per_s=args.tokens_per_s,
        error_rate=args.error_rate,
        status_mix=parse_status_mix(args.status_mix),
        retry_after=None if args.retry_after < 0 else args.retry_after,
        hang_s=args.hang_s,
        disconnect_after=args.disconnect_after,
        seed=args.seed,
        require_api_key=not args.no_auth,
        require_anthropic_version=not args.no_require_version,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
    )


async def _serve(config: MockConfig, host: str, port: int) -> None:
    from tierwise.mock.app import start_mock

    runner, base_url = await start_mock(config, host, port)
    print(f"tierwise mock-upstream listening on {base_url}", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run_mock_upstream(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; returns a process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"mock-upstream: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point used by ``tierwise mock-upstream`` and ``python -m tierwise.mock``."""
    return run_mock_upstream(argv)


if __name__ == "__main__":
    sys.exit(main())
