"""``antibot api``: the admin API (and dashboard) alone, against a Redis URL.

Tokens come from ``ANTIBOT_API_TOKEN`` / ``ANTIBOT_API_TOKENS_FILE``; with neither, on a
loopback address, a one-time admin token is generated and printed to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from .auth import TokenError, TokenStore
from .settings import DEFAULT_LISTEN, STATIC_DIR, ApiSettings, InsecureSettingsError, is_loopback, parse_listen


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``api`` subcommand to an ``add_subparsers()`` object."""
    p: argparse.ArgumentParser = sub.add_parser("api", help="run the admin API and dashboard alone")
    p.add_argument(
        "--redis-url",
        dest="redis_url",
        required=True,
        help="Redis the proxies use (redis://, unix://, redis+cluster://, redis+sentinel://)",
    )
    p.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT to serve on (default {DEFAULT_LISTEN})")
    p.add_argument("--model", help="model file (its .card.json beside it) or the card; default: the shipped model")
    p.add_argument("--static-dir", dest="static_dir", help="dashboard files to serve at / (default: api/static)")
    p.add_argument("--log-level", dest="log_level", default="info")
    return p


def settings_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> tuple[ApiSettings, str]:
    """The settings, and a generated admin token to show ("" when tokens are configured)."""
    host, port = parse_listen(args.listen)
    tokens = TokenStore.from_env(environ)
    shown = ""
    if not tokens.configured and is_loopback(host):
        tokens, shown = TokenStore.with_ephemeral_admin()
    model = Path(args.model) if args.model else _shipped_model()
    return (
        ApiSettings(
            redis_url=args.redis_url,
            host=host,
            port=port,
            model_card=model,
            static_dir=Path(args.static_dir) if args.static_dir else STATIC_DIR,
            tokens=tokens,
        ),
        shown,
    )


def _shipped_model() -> Path | None:
    from antibot.detect.shipped import find_model

    return find_model(None)


async def _run(settings: ApiSettings) -> None:
    from .main import create_app, serve

    app = create_app(
        settings.redis_url, tokens=settings.tokens, model_card=settings.model_card, static_dir=settings.static_dir
    )
    server = await serve(app, settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"antibot api: listening on http://{settings.host}:{server.port}/", file=sys.stderr)
    waiter = asyncio.ensure_future(stop.wait())
    assert server.task is not None
    await asyncio.wait({waiter, server.task}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    await server.stop()


def run(args: argparse.Namespace) -> int:
    """Run ``antibot api`` until SIGINT/SIGTERM; 2 on bad settings."""
    from antibot import logs

    logs.setup(args.log_level)
    try:
        settings, token = settings_from_args(args)
    except (TokenError, InsecureSettingsError, ValueError) as exc:
        print(f"antibot api: {exc}", file=sys.stderr)
        return 2
    if token:
        print(
            f"antibot api: no ANTIBOT_API_TOKEN or ANTIBOT_API_TOKENS_FILE set; admin token for this run only: {token}",
            file=sys.stderr,
        )
    try:
        asyncio.run(_run(settings))
    except OSError as exc:
        print(f"antibot api: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    return 0
