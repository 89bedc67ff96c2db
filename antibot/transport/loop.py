"""The asyncio adapter around the sans-IO core: carry out effects, re-arm one timer.

Like aioquic's protocol layer: every input (datagram, stream message, timer, verdict) goes
into the core with ``now = loop.time()``, and whatever effects come out are executed at
once. The decision hook (:data:`antibot.proxy.decision.Decide`) is synchronous, so no
protocol callback ever awaits and a verdict is applied in the same callback as its request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from ..logs import WarnLimiter
from ..proxy.core import ProxyCore
from ..proxy.decision import Action, Decide, Verdict
from ..proxy.effects import Addr, CallOutcome, NeedVerdict, ProxyEffect, Transmit
from ..sip.errors import SipError
from ..sip.message import Request, Response
from .latency import LatencyHistogram
from .steer import attach
from .tcp import ConnectionTable, TcpLimits
from .tls import TlsContexts
from .udp import UdpProtocol

if TYPE_CHECKING:
    from .ws import WsSettings

log = logging.getLogger("antibot.loop")
#: Listen queue of the TCP, TLS and WebSocket ports (the kernel caps it at ``net.core.somaxconn``).
#: asyncio's default, 100, overflows when hundreds of phones reconnect at once after a restart:
#: the kernel then drops their handshakes' last ACKs and the phones wait on SYN-ACK retries.
LISTEN_BACKLOG: Final = 1024

#: Timer granularity (s): RFC 3261 timers are hundreds of ms, so 20 ms of slack changes nothing
#: on the wire and lets one wake-up serve every timer due in the same slot.
TIMER_SLACK: Final = 0.02
_RELAY: Final = Verdict(Action.RELAY)


class ProxyRunner:
    """Owns the core, the sockets and the single timer; times every decision (``latency``)."""

    def __init__(
        self,
        core: ProxyCore,
        decide: Decide | None,
        *,
        tcp_limits: TcpLimits | None = None,
        on_outcome: Callable[[CallOutcome], None] | None = None,
        tls: TlsContexts | None = None,
        ws: WsSettings | None = None,
    ) -> None:
        self.core = core
        self.decide = decide
        self.on_outcome = on_outcome
        #: How long each call of the decision hook took (whichever hook, API or not).
        self.latency = LatencyHistogram()
        self.loop = asyncio.get_running_loop()
        self.udp: dict[int, UdpProtocol] = {}
        #: A worker's own UDP sockets (by family): the requests it sends go out of them, so the
        #: responses come back to this process and not to any worker sharing the public port.
        self.own: dict[int, UdpProtocol] = {}
        #: TCP, TLS and WebSocket connections alike (TLS: framed like TCP after its handshake;
        #: WebSocket: one SIP message per WebSocket message), under the same caps.
        self.tcp = ConnectionTable(
            self._on_stream_message, self._on_stream_malformed, self.loop.time, tcp_limits, core.stats, tls, ws
        )
        self.servers: list[asyncio.Server] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._resolved: dict[str, str] = {}
        self._warner = WarnLimiter("antibot.loop")

    async def listen(
        self,
        transport: str,
        host: str,
        port: int,
        *,
        reuse_port: bool = False,
        own_port: int = 0,
        path: str | None = None,
        workers: int = 1,
    ) -> None:
        """Serve ``transport:host:port``. ``reuse_port``: shared with this node's other workers
        (SO_REUSEPORT), ``workers`` of them, over which UDP datagrams are spread by transaction
        (:mod:`.steer`); ``own_port``: this worker's own UDP port beside it (requests go out of
        it); ``path``: the only request target a ``ws``/``wss`` listener upgrades (None: any)."""
        family = 6 if ":" in host else 4
        if transport == "udp":
            if own_port:  # first: a request taken off the public port at once goes out of it
                sock = udp_socket(host, own_port)
                _, own = await self.loop.create_datagram_endpoint(lambda: UdpProtocol(self._on_datagram), sock=sock)
                self.own[family] = own
            sock = udp_socket(host, port, reuse_port=reuse_port)
            if reuse_port and workers > 1:
                try:
                    attach(sock, workers)
                except OSError as exc:  # not Linux, or a kernel before 4.5: the 4-tuple spreads
                    log.warning("udp calls spread by caller address only", extra={"error": str(exc)})
            _, proto = await self.loop.create_datagram_endpoint(lambda: UdpProtocol(self._on_datagram), sock=sock)
            self.udp[family] = proto
        elif transport in ("ws", "wss"):
            from .ws import WsConnection

            # wss: accepted as TCP, upgraded to TLS (.tls), then to a WebSocket (.ws).
            server = await self.loop.create_server(
                lambda: WsConnection(self.tcp, transport, path),
                host,
                port,
                reuse_port=reuse_port,
                backlog=LISTEN_BACKLOG,
            )
            self.servers.append(server)
        else:
            from .tcp import TcpConnection

            # TLS: accepted as TCP (the caps apply before the handshake), then upgraded (.tls).
            server = await self.loop.create_server(
                lambda: TcpConnection(self.tcp, kind=transport),
                host,
                port,
                reuse_port=reuse_port,
                backlog=LISTEN_BACKLOG,
            )
            self.servers.append(server)
        log.info("listening", extra={"transport": transport, "host": host, "port": port, "own_port": own_port})
        self._rearm()

    # inputs -------------------------------------------------------------------
    def _on_datagram(self, data: bytes, source: Addr) -> None:
        try:
            effects = self.core.receive_datagram(data, source, self.loop.time())
        except Exception as exc:  # noqa: BLE001 - a bug met by one packet never stops the proxy
            self._packet_failed(exc, source)
            return
        self._run(effects)

    def _on_stream_message(self, msg: Request | Response, source: Addr) -> None:
        try:
            effects = self.core.receive_message(msg, source, self.loop.time())
        except Exception as exc:  # noqa: BLE001
            self._packet_failed(exc, source)
            return
        self._run(effects)

    def _packet_failed(self, exc: Exception, source: Addr) -> None:
        stats = self.core.stats
        stats["packet_errors"] = stats.get("packet_errors", 0) + 1
        self._warner.warn("packet", f"internal error on a message from {source}; message ignored", exc)

    def _on_stream_malformed(self, exc: SipError, source: Addr) -> None:
        self.core.reject_malformed(exc, source, self.loop.time())
        self._run(self.core.handle_timer(self.loop.time()))

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._run(self.core.handle_timer(self.loop.time()))

    # effects ------------------------------------------------------------------
    def _run(self, effects: list[ProxyEffect]) -> None:
        while effects:
            more: list[ProxyEffect] = []
            for effect in effects:
                if isinstance(effect, Transmit):
                    self._send(effect.data, effect.dest)
                elif isinstance(effect, NeedVerdict):
                    more.extend(self._decide(effect))
                elif isinstance(effect, CallOutcome) and self.on_outcome is not None:
                    self._outcome(effect)
            effects = more
        self._rearm()

    def _decide(self, need: NeedVerdict) -> list[ProxyEffect]:
        if self.decide is None:
            return self.core.apply_verdict(need.ticket, _RELAY, self.loop.time())
        started = time.perf_counter()
        try:
            result = self.decide(need.request, need.source, self.loop.time())
        except Exception:
            # The hooks catch their own failures (and still apply the lists); this is the last resort.
            self.latency.observe(time.perf_counter() - started)
            log.exception("decision hook failed; relaying as suspect")
            return self.core.apply_verdict(need.ticket, _hook_failed(self.core), self.loop.time())
        self.latency.observe(time.perf_counter() - started)
        return self.core.apply_verdict(need.ticket, result, self.loop.time())

    def _outcome(self, outcome: CallOutcome) -> None:
        assert self.on_outcome is not None
        try:
            self.on_outcome(outcome)
        except Exception:
            log.exception("outcome hook failed")

    def _send(self, data: bytes, dest: Addr, name: str | None = None) -> None:
        """``name``: the host name ``dest`` was resolved from (a TLS peer's certificate names it)."""
        if not _is_ip(dest.host):
            aliased = self.tcp.aliased(dest)  # RFC 5923: the peer's own connection, no DNS needed
            if aliased is not None:
                aliased.write(data)
                return
            ip = self._resolved.get(dest.host)
            if ip is None:
                self._spawn(self._resolve_and_send(data, dest))
                return
            name, dest = dest.host, Addr(dest.transport, ip, dest.port)
        if dest.transport != "udp":
            self.tcp.send(data, dest, name)
            return
        family = 6 if ":" in dest.host else 4
        proto = None
        if self.own and not data.startswith(b"SIP/2.0 "):
            proto = self.own.get(family)  # a request: its responses must come back to this worker
        proto = proto or self.udp.get(family) or next(iter(self.udp.values()), None) or self.own.get(family)
        if proto is None:
            log.warning("no UDP socket to send from", extra={"dest": str(dest)})
            return
        proto.send(data, dest)

    async def _resolve_and_send(self, data: bytes, dest: Addr) -> None:
        try:
            infos = await self.loop.getaddrinfo(dest.host, dest.port)
        except OSError:
            log.warning("cannot resolve", extra={"host": dest.host})
            return
        if len(self._resolved) >= 1024:
            self._resolved.clear()  # bounded: host names come from Route and Request-URIs
        self._resolved[dest.host] = str(infos[0][4][0])
        self._send(data, Addr(dest.transport, str(infos[0][4][0]), dest.port), dest.host)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _rearm(self) -> None:
        """Keep one loop timer armed no later than the core's next deadline.

        A timer already due earlier is left alone (it re-evaluates when it fires), so most
        packets cost one comparison; deadlines are rounded up to :data:`TIMER_SLACK` so that
        timers due close together are handled in one wake-up.
        """
        at = self.core.get_timer()
        if at is None:
            return  # an armed timer finds nothing to do and is not re-armed
        at = math.ceil(at / TIMER_SLACK) * TIMER_SLACK
        current = self._timer_at
        if current is not None and current <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(max(at, self.loop.time()), self._on_timer)

    def reload_tls(self) -> bool:
        """SIGHUP: new TLS contexts from the same files for new connections (open ones keep
        theirs, so no call is dropped). False, logged, when the files do not load (old kept)."""
        tls = self.tcp.tls
        if tls is None:
            return False
        from .tls import TlsError

        try:
            tls.reload()
        except TlsError as exc:
            log.error("TLS certificates not reloaded; the previous ones stay in use", extra={"error": str(exc)})
            return False
        log.info("TLS certificates reloaded", extra={"cert": tls.files.cert})
        return True

    async def drain(self, timeout: float) -> None:
        """Graceful shutdown: refuse new calls, let in-flight transactions finish."""
        self.core.draining = True
        deadline = self.loop.time() + timeout
        while not self.core.idle and self.loop.time() < deadline:
            await asyncio.sleep(0.05)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for server in self.servers:
            server.close()
        for proto in (*self.udp.values(), *self.own.values()):
            if proto.transport is not None:
                proto.transport.close()
        self.tcp.close_all()


def _hook_failed(core: ProxyCore) -> Verdict:
    """A hook that raised: relay, marked ``suspect`` with ``internal-error`` (never a free pass,
    never a lost call), and counted."""
    core.stats["internal_error"] = core.stats.get("internal_error", 0) + 1
    headers = (("X-Antibot-Verdict", "suspect"), ("X-Antibot-Reasons", "internal-error"))
    return Verdict(Action.SUSPECT, reasons=("internal-error",), headers=headers)


#: Receive buffer asked for per UDP socket: a burst of INVITEs waits in the kernel instead of
#: being dropped (the kernel caps it at net.core.rmem_max).
UDP_RCVBUF: Final = 4 * 1024 * 1024


def udp_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, non-blocking UDP socket with a large receive buffer (``reuse_port``: SO_REUSEPORT,
    the port shared by this node's workers, the kernel spreading datagrams by address 4-tuple)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


_IPS: Final[set[str]] = set()


def _is_ip(host: str) -> bool:
    if host in _IPS:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    if len(_IPS) < 100_000:
        _IPS.add(host)
    return True
