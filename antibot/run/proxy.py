"""The proxy core and the TCP limits, built from the settings."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError, Settings, tls_files, ws_settings
from ..proxy.config import CoreConfig
from ..proxy.core import ProxyCore
from ..proxy.effects import Addr
from ..proxy.limiter import TokenBuckets
from ..proxy.routing import Listener, LocalIdentity
from ..proxy.upstreams import Upstream, UpstreamPool
from ..transaction import TimerConfig
from ..transport.tcp import TcpLimits, connection_budget
from ..transport.tls import TlsContexts, TlsError
from ..transport.ws import WsSettings
from .node_health import SharedVerdicts, health_size

if TYPE_CHECKING:
    from .workers import WorkerSpec


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


def build_core(s: Settings, worker: WorkerSpec | None = None, own_port: int = 0) -> ProxyCore:
    """The core of the node, or of one of its workers (its own UDP port in its Vias, its siblings'
    ports recognised as ours, unmatched CANCELs relayed to them). ``own_port``: a single
    process's own UDP port for the requests it sends (their answers never queue behind a flood
    of new requests on the public port)."""
    own = worker.port if worker is not None else own_port
    listeners = [
        Listener(x.transport, x.host, x.port, x.advertise, own if x.transport == "udp" else 0) for x in s.listen
    ]
    siblings: tuple[Addr, ...] = ()
    ring: tuple[Addr, ...] = ()
    if worker is not None:
        hosts = sorted({_local(x.host) for x in s.listen if x.transport == "udp"})
        siblings = tuple(Addr("udp", h, p) for h in hosts for p in worker.ports if p != own)
        if len(worker.ports) > 1:
            ring = tuple(Addr("udp", h, worker.ports[(worker.index + 1) % len(worker.ports)]) for h in hosts)
    mine = worker.ports if worker is not None else ((own_port,) if own_port else ())
    me = LocalIdentity(listeners, route_secret(s), mine, alias=s.tls_alias)
    node = None  # a node's workers share their upstream health (:mod:`.node_health`)
    if worker is not None and worker.health is not None:
        n, targets = len(worker.ports), len(s.upstreams)
        if len(worker.health) < health_size(n, targets):  # an array made for fewer: no marks shared
            targets = 0
        node = SharedVerdicts(worker.health, worker.index, n, targets)
    pool = UpstreamPool(
        [Upstream(u.uri, Addr(u.transport, u.host, u.port), u.priority, u.weight) for u in s.upstreams],
        probe_interval=s.probe_interval,
        fail_fast=s.upstream_fail_fast,
        node=node,
    )
    config = CoreConfig(
        timers=TimerConfig(s.t1, s.t2, s.t4),
        failover_timeout=s.failover_timeout,
        probe_timeout=s.probe_timeout,
        retry_after=s.retry_after,
        max_transactions=s.max_transactions,
        max_calls=s.max_calls,
        flood=_flood(s, spread_over(s, worker)),
        flood_action=s.flood_action,
        siblings=siblings,
        ring_next=ring,
        relay_dialogs=spread_over(s, worker) > 1,
    )
    return ProxyCore(me, pool, config)


def spread_over(s: Settings, worker: WorkerSpec | None) -> int:
    """How many workers one UDP caller's transactions spread over: all of the node's with
    ``udp_spread = "transaction"``, else 1 (by address, a caller stays on one)."""
    return len(worker.ports) if worker is not None and s.udp_spread == "transaction" else 1


def _flood(s: Settings, workers: int) -> TokenBuckets | None:
    """The REGISTER/OPTIONS flood buckets of one process (with detection on). Spread by
    transaction, a source's requests go to all the node's ``workers``, so each holds its share
    of the node's rate and burst: together they let a source through at the configured rate."""
    if not s.detect:
        return None
    return TokenBuckets(s.flood_rate / workers, max(1.0, s.flood_burst / workers))


def _local(host: str) -> str:
    """Where a worker reaches a sibling bound to ``host`` (loopback for a wildcard)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def build_tcp_limits(s: Settings) -> TcpLimits:
    """The ``[proxy] tcp_*`` settings, the connection cap lowered to fit RLIMIT_NOFILE."""
    return TcpLimits(
        max_connections=connection_budget(s.tcp_max_connections),
        max_per_source=s.tcp_max_per_source,
        message_timeout=s.tcp_message_timeout,
        idle_timeout=s.tcp_idle_timeout,
        max_message_size=s.tcp_max_message_size,
    )


def build_tls(s: Settings) -> TlsContexts | None:
    """The TLS contexts when a listener or an upstream uses TLS (None otherwise)."""
    server = any(x.transport in ("tls", "wss") for x in s.listen)
    client = any(u.transport == "tls" for u in s.upstreams)
    if not server and not client:
        return None
    try:
        return TlsContexts(tls_files(s), server=server, client=client)
    except TlsError as exc:
        raise ConfigError(str(exc)) from None


def build_ws(s: Settings) -> WsSettings | None:
    """The ``[websocket]`` settings when a ``ws`` or ``wss`` listener is configured (None otherwise)."""
    return ws_settings(s) if any(x.transport in ("ws", "wss") for x in s.listen) else None
