"""Wires the pieces for ``antibot run``: listeners, the core, upstream probes, shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from .config import Settings
from .detect.static import StaticRules
from .proxy.core import CoreConfig, ProxyCore
from .proxy.effects import Addr
from .proxy.routing import Listener, LocalIdentity
from .proxy.upstreams import Upstream, UpstreamPool
from .transaction import TimerConfig
from .transport.loop import ProxyRunner

log = logging.getLogger("antibot")


def build_core(s: Settings) -> ProxyCore:
    me = LocalIdentity([Listener(x.transport, x.host, x.port, x.advertise) for x in s.listen])
    pool = UpstreamPool(
        [Upstream(u.uri, Addr(u.transport, u.host, u.port), u.priority, u.weight) for u in s.upstreams],
        probe_interval=s.probe_interval,
    )
    config = CoreConfig(
        timers=TimerConfig(s.t1, s.t2, s.t4),
        failover_timeout=s.failover_timeout,
        probe_timeout=s.probe_timeout,
        retry_after=s.retry_after,
    )
    return ProxyCore(me, pool, config)


async def serve(s: Settings) -> None:
    core = build_core(s)
    rules = StaticRules(
        s.deny_user_agents,
        action=s.reject_action,
        status=s.reject_status,
        phrase=s.reject_phrase,
        reason_prefix=s.reason_prefix,
    )
    runner = ProxyRunner(core, rules.decide, tcp_idle_timeout=s.tcp_idle_timeout)
    for x in s.listen:
        await runner.listen(x.transport, x.host, x.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("antibot proxy started", extra={"upstreams": ",".join(u.uri for u in s.upstreams)})
    sweeper = loop.create_task(_sweep(runner))
    await stop.wait()
    log.info("shutting down: finishing in-flight transactions")
    await runner.drain(s.shutdown_timeout)
    sweeper.cancel()
    runner.close()
    log.info("stopped", extra={"stats": core.stats})


async def _sweep(runner: ProxyRunner) -> None:
    while True:
        await asyncio.sleep(5.0)
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
