"""UDP listener: one datagram in, core effects out (RFC 3261 §18.1.1, §18.2.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from ..proxy.effects import Addr


class UdpProtocol(asyncio.DatagramProtocol):
    """Hands each datagram to ``on_datagram(data, source)``; never awaits."""

    def __init__(self, on_datagram: Callable[[bytes, Addr], None]) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        host = str(addr[0])
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        self.on_datagram(data, Addr("udp", host, int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: the transaction layer's timers handle it.
        pass

    def send(self, data: bytes, dest: Addr) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, (dest.host, dest.port))
