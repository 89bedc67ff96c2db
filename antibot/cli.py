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
    run.add_argument(
        "--listen", action="append", help="udp:, tcp:, tls:HOST:PORT or ws:, wss:HOST:PORT[/PATH] (repeatable)"
    )
    run.add_argument(
        "--upstream", action="append", help="PBX target sip:HOST:PORT[;transport=tcp|tls][;priority=N][;weight=N]"
    )
    run.add_argument("--tls-cert", dest="tls_cert", help="our TLS certificate chain (PEM); [tls] cert")
    run.add_argument("--tls-key", dest="tls_key", help="its private key (PEM); [tls] key")
    run.add_argument("--tls-ca", dest="tls_ca", help="CA that TLS clients' certificates must chain to; [tls] ca")
    run.add_argument("--tls-upstream-ca", dest="tls_upstream_ca", help="CA of the TLS upstreams' certificates")
    run.add_argument(
        "--tls-handshake-timeout", type=float, dest="tls_handshake_timeout", help="seconds a TLS handshake may take"
    )
    run.add_argument(
        "--ws-origin",
        action="append",
        dest="ws_origins",
        help="Origin allowed on ws/wss listeners (repeatable; '*': any)",
    )
    run.add_argument("--advertise", help="address to put in Via/Record-Route when listening on a wildcard")
    run.add_argument("--deny-ua", action="append", dest="deny_ua", help="reject INVITEs whose User-Agent contains this")
    run.add_argument(
        "--probe-interval", type=float, dest="probe_interval", help="seconds between OPTIONS probes (0: off)"
    )
    run.add_argument(
        "--failover-timeout",
        type=float,
        dest="failover_timeout",
        help="seconds an upstream may stay silent to an INVITE before the next one is tried (default 2)",
    )
    run.add_argument(
        "--workers", type=int, help="proxy processes sharing the SIP port (default 0: one per core; 1: one process)"
    )
    run.add_argument(
        "--udp-spread",
        choices=("address", "transaction"),
        dest="udp_spread",
        help="how workers share UDP callers: by caller address (default) or by transaction (one trunk over all)",
    )
    run.add_argument("--t1", type=float, help="SIP timer T1, the round-trip estimate, seconds (default 0.5)")
    run.add_argument("--t2", type=float, help="SIP timer T2, the longest retransmit interval, seconds (default 4)")
    run.add_argument("--t4", type=float, help="SIP timer T4, how long a message may live in the network (default 5)")
    run.add_argument(
        "--log-level",
        dest="log_level",
        choices=["debug", "info", "warning", "error"],
        help="least severe log lines shown (default info; warning: problems only)",
    )
    run.add_argument(
        "--redis-url",
        dest="redis_url",
        help=(
            "external Redis (redis://, unix://; Cluster: redis+cluster://host:port[,...]; "
            "Sentinel: redis+sentinel://host:port[,...]/service); default: embedded"
        ),
    )
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
    config = sub.add_parser("config", help="check a config file without starting anything")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a TOML config file: prints ok, or each error (exit 2)")
    check.add_argument("file", help="the TOML config file")
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
    if args.command == "config":
        return check_config(args.file)
    if args.command == "run":
        from . import logs
        from .config import ConfigError, load
        from .run import run as run_proxy

        try:
            settings = load(args.config, vars(args))
        except ConfigError as exc:
            return _config_error(exc)
        logs.setup(settings.log_level)
        try:
            return run_proxy(settings)
        except ConfigError as exc:  # found at start-up: a refused model, a busy API port, no Redis...
            return _config_error(exc)
    return 0


def check_config(path: str) -> int:
    """``antibot config check FILE``: the schema, the values and the policy the file seeds (its
    rules compiled), as ``antibot run`` would read them; nothing is started or created."""
    from .config import ConfigError, load
    from .run.policy import build_rules, seed_doc

    try:
        # the file alone: without [[upstream]] it could still run with --upstream flags
        settings = load(path, {"upstream": ["sip:127.0.0.1"]} if not _has_upstreams(path) else {})
        build_rules(seed_doc(settings))
    except ConfigError as exc:
        return _config_error(exc)
    print(f"{path}: ok")
    return 0


def _has_upstreams(path: str) -> bool:
    import tomllib

    try:
        with open(path, "rb") as f:
            return bool(tomllib.load(f).get("upstream"))
    except (OSError, tomllib.TOMLDecodeError):
        return True  # load() reports it


def _config_error(exc: Exception) -> int:
    for line in str(exc).splitlines():  # the schema reports every problem, one per line
        print(f"antibot: config error: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
