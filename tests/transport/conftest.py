"""Drive :class:`ConnectionTable` and :class:`TcpConnection` without sockets or an event loop:
a fake transport records what is written and closed, and the clock is set by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from antibot.proxy.effects import Addr
from antibot.sip.errors import SipError
from antibot.sip.message import Request, Response
from antibot.transport.tcp import ConnectionTable, TcpConnection, TcpLimits


class FakeTransport:
    """What :class:`TcpConnection` uses of an ``asyncio.Transport``."""

    def __init__(self, host: str, port: int) -> None:
        self.peer = (host, port)
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.backlog = 0  # what get_write_buffer_size() reports
        self.eof = False  # write_eof(): FIN after what is written
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        self.paused = True

    @property
    def lingering(self) -> bool:
        """Refused: FIN sent after the response, reading stopped, not yet reset."""
        return self.eof and self.paused and not self.aborted


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    """A table, its clock, and what it handed on."""

    clock: Clock
    table: ConnectionTable
    messages: list[tuple[Request | Response, Addr]] = field(default_factory=list)
    malformed: list[tuple[SipError, Addr]] = field(default_factory=list)

    def accept(self, host: str = "198.51.100.7", port: int = 40000) -> tuple[TcpConnection, FakeTransport]:
        """A connection a listener accepted (no remote until connection_made), as asyncio makes it."""
        conn = TcpConnection(self.table)
        transport = FakeTransport(host, port)
        conn.connection_made(transport)  # type: ignore[arg-type]
        return conn, transport

    def lose(self, conn: TcpConnection) -> None:
        """The transport reports the connection gone (after close/abort, or the peer's FIN)."""
        conn.connection_lost(None)


def make_rig(**limits: Any) -> Rig:
    clock = Clock()
    rig = Rig(clock, ConnectionTable(lambda m, a: None, lambda e, a: None, clock, TcpLimits(**limits)))
    rig.table.on_message = lambda m, a: rig.messages.append((m, a))
    rig.table.on_malformed = lambda e, a: rig.malformed.append((e, a))
    return rig


@pytest.fixture
def rig() -> Rig:
    return make_rig(max_connections=8, max_per_source=2, message_timeout=2.0, idle_timeout=30.0)


def options(n: int = 1, *, body: str = "", length: int | None = None, host: str = "198.51.100.7") -> bytes:
    """An OPTIONS over TCP; ``length`` overrides the Content-Length header."""
    size = len(body) if length is None else length
    return (
        f"OPTIONS sip:203.0.113.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {host}:40000;branch=z9hG4bK-t{n}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:a@{host}>;tag=f{n}\r\nTo: <sip:203.0.113.1>\r\n"
        f"Call-ID: c{n}@{host}\r\nCSeq: {n} OPTIONS\r\nContent-Length: {size}\r\n\r\n{body}"
    ).encode()
