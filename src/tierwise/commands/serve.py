"""`tierwise serve`: the OpenAI- and Anthropic-compatible gateway.

The config is loaded and checked once at start: a deployment that would call a hosted API
without a key is an error naming the environment variable to set (unless `--upstream` points
every tier at one base URL, e.g. the mock). SIGINT/SIGTERM shut down gracefully: in-flight
requests finish, then the ledger flushes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from pathlib import Path
from urllib.parse import urlparse

from tierwise.commands.common import add_config_argument, fail, load_or_exit
from tierwise.config import Config
from tierwise.routing.registry import router_names

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def port_number(text: str) -> int:
    """argparse type: a TCP port (0 = any free port), so a typo is a usage error, not a trace."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range: expected 0-65535 (0 = any)")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--host", help="interface to bind (default: server.host, 127.0.0.1)")
    parser.add_argument(
        "--port", type=port_number, help="port to bind, 0-65535 (default: server.port, 8080)"
    )
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="serve every tier from this base URL (e.g. a `tierwise mock-upstream`); "
        "no API keys needed",
    )
    parser.add_argument(
        "--router", metavar="NAME", help=f"routing policy: {', '.join(router_names())}"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="logging level (default: INFO)",
    )


def missing_keys(cfg: Config, config_path: str | None) -> list[str]:
    """Problems for deployments that would call a hosted API with an empty key."""
    import yaml

    if config_path is None:
        from tierwise.default_config import DEFAULT_CONFIG_YAML

        text = DEFAULT_CONFIG_YAML
    else:
        text = Path(config_path).read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    problems = []
    for i, tier in enumerate(cfg.tiers):
        for j, dep in enumerate(tier.deployments):
            if dep.api_key or (urlparse(dep.base_url).hostname or "") in LOCAL_HOSTS:
                continue
            try:
                raw_key = str(raw["tiers"][i]["deployments"][j].get("api_key") or "")
            except (KeyError, IndexError, TypeError, AttributeError):
                raw_key = ""
            names = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", raw_key)
            hint = f"export {' or '.join(sorted(set(names)))}" if names else "set api_key"
            problems.append(
                f"{cfg.source}: tiers[{i}] ({tier.name}) deployments[{j}].api_key is empty "
                f"for {dep.base_url}: {hint}"
            )
    return problems


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    cfg = load_or_exit(args.config, require_env=not args.upstream)
    if args.upstream:
        if not args.upstream.startswith(("http://", "https://")):
            return fail(f"--upstream {args.upstream!r}: expected an http(s):// URL")
        cfg = cfg.with_upstream(args.upstream)
    else:
        problems = missing_keys(cfg, args.config)
        if problems:
            return fail(
                "missing upstream API keys:\n  "
                + "\n  ".join(problems)
                + "\n(or run with --upstream URL, e.g. a local `tierwise mock-upstream`)"
            )
    host = args.host or cfg.server.host
    port = args.port if args.port is not None else cfg.server.port
    from tierwise.routing.registry import UnknownRouterError

    try:
        return asyncio.run(_serve(cfg, host, port, args.router))
    except UnknownRouterError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


async def _serve(cfg: Config, host: str, port: int, router: str | None) -> int:
    from aiohttp import web

    from tierwise.server.app import create_app, make_runner
    from tierwise.server.state import STATE

    runner = make_runner(create_app(cfg, router_name=router))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0][1]
        log = logging.getLogger("tierwise.server")
        log.info(
            "tierwise gateway on http://%s:%s (tiers: %s; router: %s) — OpenAI base URL "
            "http://%s:%s/v1, Anthropic base URL http://%s:%s",
            host,
            bound,
            ", ".join(cfg.tier_names),
            router or cfg.routing.policy,
            host,
            bound,
            host,
            bound,
        )
        ledger = runner.app[STATE].ledger
        if ledger is not None:  # `where` is the store's location with any password removed
            log.info("ledger: writing request rows to %s", ledger.store.where)
        else:
            log.info("ledger: off; requests are not recorded")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down: finishing in-flight requests, flushing the ledger")
    finally:
        await runner.cleanup()
    print("tierwise: stopped", file=sys.stderr)
    return 0
