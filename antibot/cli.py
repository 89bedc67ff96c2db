"""The ``antibot`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from . import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="antibot", description="Inline SIP proxy that stops bots before the PBX.")
    parser.add_argument("--version", action="version", version=f"antibot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the proxy")
    run.add_argument("--config", help="TOML config file; flags override it")
    run.add_argument("--listen", action="append", help="udp:HOST:PORT or tcp:HOST:PORT (repeatable)")
    run.add_argument(
        "--upstream", action="append", help="PBX target sip:HOST:PORT[;transport=tcp][;priority=N][;weight=N]"
    )
    run.add_argument("--advertise", help="address to put in Via/Record-Route when listening on a wildcard")
    run.add_argument("--deny-ua", action="append", dest="deny_ua", help="reject INVITEs whose User-Agent contains this")
    run.add_argument(
        "--probe-interval", type=float, dest="probe_interval", help="seconds between OPTIONS probes (0: off)"
    )
    run.add_argument("--failover-timeout", type=float, dest="failover_timeout")
    run.add_argument("--t1", type=float)
    run.add_argument("--t2", type=float)
    run.add_argument("--t4", type=float)
    run.add_argument("--log-level", dest="log_level")
    run.add_argument("--redis-url", dest="redis_url", help="external Redis (redis://, unix://); default: embedded")
    run.add_argument(
        "--sync-interval",
        type=float,
        dest="sync_interval",
        help="seconds between syncs of this node's counters with Redis (default: 0.05 with --redis-url, 0.5 embedded)",
    )
    run.add_argument("--data-dir", dest="data_dir", help="where the embedded Redis keeps its data (AOF)")
    run.add_argument("--model", help="model file (JSON) with its .card.json beside it; default: the shipped one")
    run.add_argument("--mode", choices=["enforce", "monitor"], help="monitor relays everything, verdict header only")
    run.add_argument("--api-listen", dest="api_listen", help="admin API HOST:PORT (default 127.0.0.1:8080)")
    run.add_argument("--no-api", action="store_true", dest="no_api", help="do not serve the admin API")
    run.add_argument(
        "--no-detect",
        action="store_true",
        dest="no_detect",
        help="the config's lists and rules only: no Redis, no scores",
    )
    from .sim import cli as sim_cli

    sim_cli.add_parser(sub)
    try:  # the training extra (scikit-learn) is optional
        train_cli: Any = importlib.import_module("antibot.train.cli")
    except ImportError:
        train_cli = None
    if train_cli is not None:
        train_cli.add_parsers(sub)
    from api import cli as api_cli

    api_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "api":
        return int(api_cli.run(args))
    if args.command == "simulate":
        return sim_cli.run(args)
    if args.command in ("train", "evaluate") and train_cli is not None:
        return int(train_cli.run(args))
    if args.command == "run":
        from . import app, logs
        from .config import ConfigError, load

        try:
            settings = load(args.config, vars(args))
        except ConfigError as exc:
            print(f"antibot: config error: {exc}", file=sys.stderr)
            return 2
        logs.setup(settings.log_level)
        try:
            app.run(settings)
        except ConfigError as exc:  # found at start-up: a refused model, a busy API port, no Redis...
            print(f"antibot: config error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
