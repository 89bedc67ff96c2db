"""TCP connections: stream framing by Content-Length, reuse for responses, and limits (RFC 3261 §18).

The limits (:class:`TcpLimits`) keep a connection flood or a slow sender from taking the
process's file descriptors and memory:

- accepted connections are capped per source (an IPv6 /64 is one source) and in total; one over
  a cap is closed in ``connection_made``, before a byte is read, counted and logged (rate-limited).
  Connections the proxy opens itself (to an upstream, or back to a client) are never refused;
  :func:`connection_budget` keeps file descriptors in reserve for them, the admin API and Redis;
- once the first byte of a message has arrived, the whole message must arrive within
  ``message_timeout`` (slowloris), and a connection is closed after ``idle_timeout`` without
  traffic; :meth:`ConnectionTable.sweep` enforces both, every :attr:`ConnectionTable.sweep_interval`;
- a message may not exceed ``max_message_size``: a request whose Content-Length is over it gets
  413 (RFC 3261 §21.4.11) as soon as its header section is in, a response is discarded
  (§18.1.2), and the connection is closed either way: on a stream the next message starts only
  after the body (§18.3), so staying open would mean reading the whole body. A refused stream
  lingers half-closed for :data:`LINGER` seconds so the peer reads the 400/413 before the reset;
- a peer that does not read what we write is cut off once the backlog passes ``write_backlog``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from ..proxy.effects import Addr
from ..sip.errors import Incomplete, ParseError, SipError
from ..sip.message import Request, Response
from ..sip.parser import MAX_MESSAGE, parse_datagram, parse_stream
from ..sip.via import alias_target
from .limits import LOG_INTERVAL, LogLimiter, connection_budget, source_key
from .reuse import Aliases, authenticates

__all__ = [
    "LOG_INTERVAL",
    "ConnectionTable",
    "LogLimiter",
    "TcpConnection",
    "TcpLimits",
    "connection_budget",
    "source_key",
]

if TYPE_CHECKING:
    from .tls import TlsContexts
    from .ws import WsSettings

log = logging.getLogger("antibot.tcp")

#: Seconds a refused stream lingers half-closed (our response sent, FIN after it, reading paused)
#: before it is reset, so the peer reads the 400/413 before the RST that unread data causes.
LINGER: Final = 2.0
_CRLF2: Final = b"\r\n\r\n"
#: A header line giving the Content-Length (or its compact form ``l``, RFC 3261 §7.3.3).
_LENGTH: Final = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*(?=\r\n)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TcpLimits:
    """Settings ``[proxy] tcp_*``; see the module docstring."""

    max_connections: int = 4096
    max_per_source: int = 64
    message_timeout: float = 10.0
    idle_timeout: float = 120.0
    max_message_size: int = MAX_MESSAGE

    @property
    def write_backlog(self) -> int:
        """Bytes queued for a peer (written but not yet taken) beyond which it is cut off."""
        return max(1 << 20, 16 * self.max_message_size)


class TcpConnection(asyncio.Protocol):
    """One SIP stream. Frames messages and hands them to ``on_message``; never awaits."""

    def __init__(self, table: ConnectionTable, remote: Addr | None = None, kind: str = "tcp") -> None:
        self.table = table
        self.remote = remote
        #: ``tcp`` or ``tls`` (the transport of :attr:`remote`, in Via and Record-Route).
        self.kind = remote.transport if remote is not None else kind
        #: Outbound TLS: the name the peer's certificate must carry (the upstream URI's host).
        self.server_name: str | None = None
        #: Inbound TLS until :meth:`established`: "early" (bytes read before ``start_tls`` took
        #: the connection over, kept in :attr:`early`, see .tls), then "secured" (TLS in place:
        #: what it decrypts waits in :attr:`buffer`); None: ready.
        self.phase: str | None = None
        self.early = bytearray()
        #: Accepted by a listener (no remote yet): counted against the caps. Ours are not.
        self.inbound = remote is None
        #: The per-source key this connection is counted under, once admitted.
        self.source: str | None = None
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.last_active = table.clock()
        #: When the first byte of the message being read arrived (None: between messages).
        self.started: float | None = None
        #: When we started closing (None: open).
        self.closing: float | None = None
        self._scan = 0  # where the search for the end of the header section resumes
        self._need = 0  # the bytes the message being read needs in all (0: not known yet)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        if not peer:  # reset before we got to it
            self.transport.abort()
            return
        host = str(peer[0])
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        self.remote = Addr(self.kind, host, int(peer[1]))
        if self.inbound and not self.table.admit(self):
            self.closing = self.table.clock()
            self.transport.abort()  # over a cap: nothing is read
            return
        if self.inbound and self.kind in ("tls", "wss"):
            self.table.handshake(self, self.transport)
            self.transport = None  # nothing is written until the handshake is done
            return
        self.established(self.transport)

    def established(self, transport: asyncio.Transport) -> None:
        """Ready for SIP (after the TLS handshake, for TLS): reachable for responses."""
        self.transport = transport
        self.phase = None
        self.table.add(self)
        for data in self.pending:
            self.transport.write(data)
        self.pending.clear()
        self.pending_size = 0
        if self.buffer:
            held, self.buffer = bytes(self.buffer), bytearray()
            self.data_received(held)

    def connection_lost(self, exc: Exception | None) -> None:
        self.table.remove(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.phase is not None:
            if self.phase == "early" and len(self.early) < 1 << 16:
                self.early += data  # a ClientHello that came before start_tls took over
            elif self.phase == "secured" and len(self.buffer) <= self.table.limits.max_message_size:
                self.buffer += data  # after the handshake, before established(): framed then
            return
        if self.closing is not None:
            return
        now = self.table.clock()
        self.last_active = now
        self.buffer += data
        if self._frame() and self.buffer:
            if self.started is None:
                self.started = now
        else:
            self.started = None

    def _frame(self) -> bool:
        """Hand on every complete message in the buffer; False once the connection is closing."""
        buf = self.buffer
        limit = self.table.limits.max_message_size
        while buf:
            if buf[:2] == b"\r\n":
                # RFC 5626 §3.5.1 keepalive: answer a double CRLF ping with a single CRLF pong.
                if buf[:4] == b"\r\n\r\n":
                    del buf[:4]
                    self.write(b"\r\n")
                else:
                    del buf[:2]
                self.started = None
                continue
            if len(buf) < self._need:
                return True
            if not self._need:
                # Look for the end of the header section in the new bytes only, then read the
                # Content-Length off it: the parser runs once per message, not once per segment.
                end = buf.find(_CRLF2, max(self._scan - 3, 0))
                if end < 0:
                    self._scan = len(buf)
                    if len(buf) > limit:
                        self.table.count("tcp_too_large")
                        return self._refuse(ParseError("header section too long"))
                    return True
                self._need = end + 4 + _length_hint(buf, end)
                if self._need > limit:
                    return self._too_large(end)
                if len(buf) < self._need:
                    return True
            try:
                msg, used = parse_stream(buf)
            except Incomplete:
                if len(buf) > limit:
                    self.table.count("tcp_too_large")
                    return self._refuse(ParseError("message too large"))
                self._need = len(buf) + 1  # the hint was short: parse again on the next bytes
                return True
            except SipError as exc:
                # The framing is lost: answer if we can, then close (RFC 4475 §3.1.2.3, §3.3.9).
                return self._refuse(exc)
            del buf[:used]
            self._need = self._scan = 0
            self.started = None
            assert self.remote is not None
            if self.kind == "tls" and isinstance(msg, Request):
                self.table.note_alias(self, msg)
            self.table.on_message(msg, self.remote)
            if self.closing is not None:
                return False
        return True

    def _refuse(self, exc: SipError) -> bool:
        assert self.remote is not None
        self.table.on_malformed(exc, self.remote)
        self.abort(exc.reason, linger=True)
        return False

    def _too_large(self, end: int) -> bool:
        """A request gets 413, routed by its Via like a 400; a response is dropped (status None)."""
        self.table.count("tcp_too_large")
        refusal = SipError("message too large", 413)
        try:
            refusal.headers = parse_datagram(bytes(self.buffer[: end + 4])).headers
        except SipError as exc:  # the usual way out: the body is not there
            refusal.headers = exc.headers
            if exc.status is None:
                refusal.status = None
        return self._refuse(refusal)

    def expire(self, now: float) -> None:
        """Close this connection if it has overstayed (see :meth:`ConnectionTable.sweep`)."""
        limits = self.table.limits
        if self.closing is not None:
            if self.closing < now - LINGER and self.transport is not None:
                self.transport.abort()
        elif self.started is not None and self.started < now - limits.message_timeout:
            self.table.count("tcp_message_timeout")
            self.abort("message timeout", hard=True)
        elif self.last_active < now - limits.idle_timeout:
            self.table.count("tcp_idle_timeout")
            self.abort("idle timeout")

    def write(self, data: bytes) -> None:
        self.last_active = self.table.clock()
        transport = self.transport
        backlog = self.table.limits.write_backlog
        if transport is None:
            if self.pending_size + len(data) > backlog:
                self.table.count("tcp_write_backlog")
                return  # still connecting and already this far behind: drop (the sender retransmits)
            self.pending.append(data)
            self.pending_size += len(data)
        elif self.closing is None and not transport.is_closing():
            transport.write(data)
            if transport.get_write_buffer_size() > backlog:
                self.table.count("tcp_write_backlog")
                self.abort("peer not reading", hard=True)

    def abort(self, why: str, *, hard: bool = False, linger: bool = False) -> None:
        """Close after what is queued has been written; or at once (``hard``); or (``linger``) send
        FIN after it and stop reading, and let :meth:`ConnectionTable.sweep` reset the connection
        :data:`LINGER` seconds later: closing with the peer's unread bytes would send an RST at
        once, and the peer could lose the response we just wrote."""
        if self.closing is None:
            self.closing = self.table.clock()
            self.table.log_closed(self.closing, peer=str(self.remote), reason=why)
            self.buffer.clear()  # nothing more is read
            self._need = self._scan = 0
        if self.transport is not None:
            if hard:
                self.transport.abort()
            elif linger and self.transport.can_write_eof():
                self.transport.pause_reading()
                self.transport.write_eof()
            else:
                self.transport.close()


class ConnectionTable:
    """Connections by remote address, so responses and in-dialog requests reuse them."""

    def __init__(
        self,
        on_message: Callable[[Request | Response, Addr], None],
        on_malformed: Callable[[SipError, Addr], None],
        clock: Callable[[], float],
        limits: TcpLimits | None = None,
        stats: dict[str, int] | None = None,
        tls: TlsContexts | None = None,
        ws: WsSettings | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_malformed = on_malformed
        self.clock = clock
        self.limits = limits or TcpLimits()
        #: Counters (the proxy core's, so they reach /metrics and the "stopped" log line).
        self.stats: dict[str, int] = stats if stats is not None else {}
        #: The TLS contexts (None: no TLS listener or upstream).
        self.tls = tls
        #: The ``[websocket]`` settings (None: no WebSocket listener).
        self.ws = ws
        #: By (transport, host, port): a TCP and a TLS connection to one address are two.
        self.conns: dict[tuple[str, str, int], TcpConnection] = {}
        self.connecting: dict[tuple[str, str, int], TcpConnection] = {}
        #: Accepted TLS connections still in their handshake.
        self.handshakes: dict[TcpConnection, asyncio.Transport] = {}
        #: TLS connections their peers offered for our requests to their sent-by (RFC 5923).
        self.aliases: Aliases[TcpConnection] = Aliases()
        #: Accepted connections open now, in all and by source.
        self.inbound = 0
        self.per_source: dict[str, int] = {}
        self.log_refused = LogLimiter("tcp connection refused", logging.WARNING)
        self.log_closed = LogLimiter("closing stream", logging.INFO)
        #: Opens a connection we start (replaceable: the tests open none).
        self.open_connection: Callable[[TcpConnection, Addr], Coroutine[Any, Any, None]] = self._connect

    @property
    def idle_timeout(self) -> float:
        return self.limits.idle_timeout

    @property
    def sweep_interval(self) -> float:
        """How often :meth:`sweep` should run: a quarter of the shorter timeout, 0.05 to 1 s."""
        return min(max(min(self.limits.message_timeout, self.limits.idle_timeout) / 4, 0.05), 1.0)

    def count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    def admit(self, conn: TcpConnection) -> bool:
        """Count an accepted connection in, or say no (counted and logged) when a cap is reached."""
        assert conn.remote is not None
        source = source_key(conn.remote.host)
        held = self.per_source.get(source, 0)
        if held >= self.limits.max_per_source:
            reason, cap = "tcp_refused_per_source", self.limits.max_per_source
        elif self.inbound >= self.limits.max_connections:
            reason, cap = "tcp_refused_total", self.limits.max_connections
        else:
            self.per_source[source] = held + 1
            self.inbound += 1
            conn.source = source
            return True
        self.count(reason)
        self.log_refused(self.clock(), reason=reason, src=conn.remote.host, limit=cap, open=self.inbound)
        return False

    def add(self, conn: TcpConnection) -> None:
        assert conn.remote is not None
        key = (conn.remote.transport, conn.remote.host, conn.remote.port)
        self.handshakes.pop(conn, None)
        self.connecting.pop(key, None)
        self.conns[key] = conn

    def handshake(self, conn: TcpConnection, raw: asyncio.Transport) -> None:
        """Start the server side of a TLS handshake on an admitted connection (:mod:`.tls`)."""
        from .tls import accept

        ctx = self.tls.server if self.tls is not None else None
        if ctx is None:
            raw.abort()
            return
        raw.pause_reading()
        conn.phase = "early"
        self.handshakes[conn] = raw
        asyncio.get_running_loop().create_task(accept(self, conn, raw, ctx))

    def remove(self, conn: TcpConnection) -> None:
        if conn.source is not None:
            held = self.per_source.get(conn.source, 0) - 1
            if held > 0:
                self.per_source[conn.source] = held
            else:
                self.per_source.pop(conn.source, None)
            self.inbound -= 1
            conn.source = None
        self.handshakes.pop(conn, None)
        self.aliases.forget(conn)
        if conn.remote is None:
            return
        key = (conn.remote.transport, conn.remote.host, conn.remote.port)
        if self.conns.get(key) is conn:
            del self.conns[key]
        if self.connecting.get(key) is conn:
            del self.connecting[key]

    def send(self, data: bytes, dest: Addr, name: str | None = None) -> None:
        """Write to the connection to ``dest``, opened if need be (TLS: the peer's certificate
        verified against ``name``, the host name ``dest`` was resolved from, else its address)."""
        key = (dest.transport, dest.host, dest.port)
        conn = self.conns.get(key) or self.aliased(dest, name) or self.connecting.get(key)
        if conn is None and dest.transport in ("ws", "wss"):
            # Only the client opens a WebSocket (RFC 7118 §5): its connection is gone.
            self.count("ws_flow_gone")
            return
        if conn is None:
            conn = TcpConnection(self, dest)
            conn.server_name = name or dest.host
            self.connecting[key] = conn
            asyncio.get_running_loop().create_task(self.open_connection(conn, dest))
        conn.write(data)

    def note_alias(self, conn: TcpConnection, req: Request) -> None:
        """RFC 5923: a request whose top Via carries ``alias`` offers its TLS connection for our
        requests to its sent-by, honoured once the peer's certificate names the sent-by host
        (:mod:`.reuse`); refused claims are counted (``tls_alias_refused``)."""
        key = alias_target(req.top_via)
        if key is None or key[0] != conn.kind or self.aliases.key_of(conn) == key or conn.closing is not None:
            return
        cert = conn.transport.get_extra_info("peercert") if conn.transport is not None else None
        if authenticates(cert, key[1]):
            self.aliases.record(conn, key)
        else:
            self.count("tls_alias_refused")

    def aliased(self, dest: Addr, name: str | None = None) -> TcpConnection | None:
        """The open connection aliased for ``dest`` (or for ``name``, the host name it was
        resolved from, at its port), if any; counted in ``tls_alias_reused``."""
        if not self.aliases or dest.transport != "tls":
            return None
        conn = self.aliases.get((dest.transport, dest.host.lower(), dest.port))
        if conn is None and name:
            conn = self.aliases.get((dest.transport, name.lower(), dest.port))
        if conn is None or conn.closing is not None or conn.transport is None:
            return None
        self.count("tls_alias_reused")
        return conn

    async def _connect(self, conn: TcpConnection, dest: Addr) -> None:
        loop = asyncio.get_running_loop()
        try:
            if dest.transport == "tls":
                ctx = self.tls.client if self.tls is not None else None
                if ctx is None:
                    raise OSError("no TLS client context")
                timeout = self.tls.handshake_timeout if self.tls is not None else None
                await loop.create_connection(
                    lambda: conn,
                    dest.host,
                    dest.port,
                    ssl=ctx,
                    server_hostname=conn.server_name,
                    ssl_handshake_timeout=timeout,
                )
            else:
                await loop.create_connection(lambda: conn, dest.host, dest.port)
        except OSError as exc:  # TimeoutError and ssl.SSLError among them
            log.warning("connect failed", extra={"peer": str(dest), "error": str(exc)})
            self.remove(conn)

    def sweep(self) -> None:
        """Close what has overstayed: a message not complete ``message_timeout`` after its first
        byte, a connection idle for ``idle_timeout``, and one still closing :data:`LINGER`
        seconds after we began (lingering, or its peer does not read the last response)."""
        now = self.clock()
        for conn in list(self.conns.values()):
            conn.expire(now)
        self.log_refused.flush(now)
        self.log_closed.flush(now)

    def close_all(self) -> None:
        for conn in list(self.conns.values()):
            conn.abort("shutdown")
        for raw in list(self.handshakes.values()):
            raw.abort()
        self.handshakes.clear()
        self.log_refused.flush(self.clock(), force=True)
        self.log_closed.flush(self.clock(), force=True)


def _length_hint(buf: bytearray, end: int) -> int:
    """The body length a header section ending at ``end`` announces; 0 when not plain to see
    (none, several, folded), and then the parser decides."""
    found = _LENGTH.findall(buf, 0, end + 2)
    return int(found[0]) if len(found) == 1 else 0
