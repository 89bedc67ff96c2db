"""Wires the pieces for ``antibot run``: listeners, the core, detection, probes, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import importlib.resources
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, Settings
from .detect.unscored import UnscoredRules
from .policy_setup import build_rules, seed_doc
from .proxy.core import CoreConfig, ProxyCore
from .proxy.decision import Decide
from .proxy.effects import Addr
from .proxy.limiter import TokenBuckets
from .proxy.routing import Listener, LocalIdentity
from .proxy.upstreams import Upstream, UpstreamPool
from .startup import Reserved, reserve
from .transaction import TimerConfig
from .transport.loop import ProxyRunner
from .transport.tcp import TcpLimits, connection_budget

log = logging.getLogger("antibot")
MODEL_NAME = "antibot-gbt.json"


def route_secret(s: Settings) -> bytes:
    """The dialog-token key: ``route_secret``, else ``<data_dir>/route.key`` (made on first start,
    so a restart keeps recognising the Record-Routes of calls in progress)."""
    if s.route_secret:
        return s.route_secret.encode()
    path = Path(s.data_dir) / "route.key"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot keep the route key in {path}: {exc.strerror or exc}") from None
    if len(key) < 16:
        raise ConfigError(f"{path}: route key too short (delete it to make a new one)")
    return key.encode()


def build_core(s: Settings) -> ProxyCore:
    me = LocalIdentity([Listener(x.transport, x.host, x.port, x.advertise) for x in s.listen], route_secret(s))
    pool = UpstreamPool(
        [Upstream(u.uri, Addr(u.transport, u.host, u.port), u.priority, u.weight) for u in s.upstreams],
        probe_interval=s.probe_interval,
    )
    config = CoreConfig(
        timers=TimerConfig(s.t1, s.t2, s.t4),
        failover_timeout=s.failover_timeout,
        probe_timeout=s.probe_timeout,
        retry_after=s.retry_after,
        max_transactions=s.max_transactions,
        flood=TokenBuckets(s.flood_rate, s.flood_burst) if s.detect else None,
        flood_action=s.flood_action,
    )
    return ProxyCore(me, pool, config)


def build_tcp_limits(s: Settings) -> TcpLimits:
    """The ``[proxy] tcp_*`` settings, the connection cap lowered to fit RLIMIT_NOFILE."""
    return TcpLimits(
        max_connections=connection_budget(s.tcp_max_connections),
        max_per_source=s.tcp_max_per_source,
        message_timeout=s.tcp_message_timeout,
        idle_timeout=s.tcp_idle_timeout,
        max_message_size=s.tcp_max_message_size,
    )


def find_model(explicit: str | None) -> Path | None:
    """The model to load: --model, else the shipped one: the package's data (``antibot/models``
    in an installed wheel, put there by setup.py from the top-level ``models/``), else the
    source tree's ``models/`` (a checkout or an editable install)."""
    if explicit:
        return Path(explicit)
    packaged = importlib.resources.files("antibot") / "models" / MODEL_NAME
    if isinstance(packaged, Path) and packaged.is_file():  # a wheel installed on disk (not zipped)
        return packaged
    for base in (Path(__file__).resolve().parent.parent / "models", Path(sys.prefix) / "share" / "antibot" / "models"):
        if (base / MODEL_NAME).exists():
            return base / MODEL_NAME
    return None


async def serve(s: Settings) -> None:
    held = reserve(s)  # every listen address first: a busy one is refused before anything starts
    try:
        await _serve(s, held)
    finally:
        held.close()


async def _serve(s: Settings, held: Reserved) -> None:
    shown = {k: v for k, v in dataclasses.asdict(s).items() if k != "route_secret"}  # the secret stays secret
    log.debug("settings", extra={"settings": shown})
    core = build_core(s)
    tcp_limits = build_tcp_limits(s)  # first: the embedded Redis inherits the raised RLIMIT_NOFILE
    # Without detection the config's policy is the whole policy (no Redis, no admin API).
    unscored = UnscoredRules(build_rules(seed_doc(s)), reason_prefix=s.reason_prefix, reject_phrase=s.reject_phrase)
    decide: Decide = unscored.decide
    on_outcome = None
    cleanup: list[object] = []
    api_server = None
    if s.detect:
        from .detect.outcomes import OutcomeFeed
        from .detection_setup import start_detection

        detection = await start_detection(s, find_model(s.model))
        cleanup.append(detection)

        on_outcome = OutcomeFeed(detection.detector, s.max_transactions)
        if s.api_listen:
            from .api_setup import start_api

            held.release_api()
            decide, api_server = await start_api(s, core, detection, find_model(s.model))
        else:
            decide = detection.detector.decide
    runner = ProxyRunner(core, decide, tcp_limits=tcp_limits, on_outcome=on_outcome)
    held.release_sip()
    for x in s.listen:
        try:
            await runner.listen(x.transport, x.host, x.port)
        except OSError as exc:
            await _close(runner, api_server, cleanup)
            raise ConfigError(f"cannot listen on {x.transport}:{x.host}:{x.port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "antibot proxy started",
        extra={"upstreams": ",".join(u.uri for u in s.upstreams), "detect": s.detect, "mode": s.mode},
    )
    sweeper = loop.create_task(_sweep(runner))
    await stop.wait()
    log.info("shutting down: finishing in-flight transactions")
    await runner.drain(s.shutdown_timeout)
    sweeper.cancel()
    await _close(runner, api_server, cleanup)
    log.info("stopped", extra={"stats": core.stats})


async def _close(runner: ProxyRunner, api_server: Any, cleanup: list[object]) -> None:
    """Close the sockets, then the admin API, then detection (and its embedded Redis)."""
    runner.close()
    if api_server is not None:
        await api_server.stop()
    for item in cleanup:
        await item.close()  # type: ignore[attr-defined]


async def _sweep(runner: ProxyRunner) -> None:
    while True:
        await asyncio.sleep(runner.tcp.sweep_interval)
        runner.tcp.sweep()


def run(s: Settings) -> None:
    # A proxy holds many small long-lived objects (transactions live 32 s): collect less often,
    # and never rescan what exists at start-up.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        import uvloop

        uvloop.run(serve(s))
    except ImportError:
        asyncio.run(serve(s))
