"""TCP connections: stream framing by Content-Length, reuse for responses, idle timeout (RFC 3261 §18)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from ..proxy.effects import Addr
from ..sip.errors import Incomplete, SipError
from ..sip.message import Request, Response
from ..sip.parser import parse_stream

log = logging.getLogger("antibot.tcp")
MAX_BUFFER = 256 * 1024


class TcpConnection(asyncio.Protocol):
    """One SIP stream. Frames messages and hands them to ``on_message``; never awaits."""

    def __init__(self, table: ConnectionTable, remote: Addr | None = None) -> None:
        self.table = table
        self.remote = remote
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: list[bytes] = []
        self.last_active = table.clock()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        host = str(peer[0])
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        self.remote = Addr("tcp", host, int(peer[1]))
        self.table.add(self)
        for data in self.pending:
            self.transport.write(data)
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.table.remove(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.last_active = self.table.clock()
        self.buffer += data
        while self.buffer:
            if self.buffer[:2] == b"\r\n":
                # RFC 5626 §3.5.1 keepalive: answer a double CRLF ping with a single CRLF pong.
                if self.buffer[:4] == b"\r\n\r\n":
                    del self.buffer[:4]
                    self.write(b"\r\n")
                else:
                    del self.buffer[:2]
                continue
            try:
                msg, used = parse_stream(self.buffer)
            except Incomplete:
                if len(self.buffer) > MAX_BUFFER:
                    self.abort("message too large")
                return
            except SipError as exc:
                # The framing is lost: answer if we can, then close (RFC 4475 §3.1.2.3, §3.3.9).
                assert self.remote is not None
                self.table.on_malformed(exc, self.remote)
                self.abort(exc.reason)
                return
            del self.buffer[:used]
            assert self.remote is not None
            self.table.on_message(msg, self.remote)

    def write(self, data: bytes) -> None:
        self.last_active = self.table.clock()
        if self.transport is None:
            self.pending.append(data)
        elif not self.transport.is_closing():
            self.transport.write(data)

    def abort(self, why: str) -> None:
        log.info("closing stream", extra={"peer": str(self.remote), "reason": why})
        if self.transport is not None:
            self.transport.close()


class ConnectionTable:
    """Connections by remote address, so responses and in-dialog requests reuse them."""

    def __init__(
        self,
        on_message: Callable[[Request | Response, Addr], None],
        on_malformed: Callable[[SipError, Addr], None],
        clock: Callable[[], float],
        idle_timeout: float = 120.0,
    ) -> None:
        self.on_message = on_message
        self.on_malformed = on_malformed
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.conns: dict[tuple[str, int], TcpConnection] = {}
        self.connecting: dict[tuple[str, int], TcpConnection] = {}

    def add(self, conn: TcpConnection) -> None:
        assert conn.remote is not None
        key = (conn.remote.host, conn.remote.port)
        self.connecting.pop(key, None)
        self.conns[key] = conn

    def remove(self, conn: TcpConnection) -> None:
        if conn.remote is None:
            return
        key = (conn.remote.host, conn.remote.port)
        if self.conns.get(key) is conn:
            del self.conns[key]
        if self.connecting.get(key) is conn:
            del self.connecting[key]

    def send(self, data: bytes, dest: Addr) -> None:
        key = (dest.host, dest.port)
        conn = self.conns.get(key) or self.connecting.get(key)
        if conn is None:
            conn = TcpConnection(self, dest)
            self.connecting[key] = conn
            asyncio.get_running_loop().create_task(self._connect(conn, dest))
        conn.write(data)

    async def _connect(self, conn: TcpConnection, dest: Addr) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: conn, dest.host, dest.port)
        except OSError as exc:
            log.warning("connect failed", extra={"peer": str(dest), "error": str(exc)})
            self.remove(conn)

    def sweep(self) -> None:
        """Close connections idle for longer than ``idle_timeout``."""
        limit = self.clock() - self.idle_timeout
        for conn in list(self.conns.values()):
            if conn.last_active < limit:
                conn.abort("idle timeout")

    def close_all(self) -> None:
        for conn in list(self.conns.values()):
            conn.abort("shutdown")
