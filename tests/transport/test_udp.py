"""The UDP listener (RFC 3261 §18.1.1, §18.2.1) on a real loopback socket: each datagram is
handed over with its source, IPv4-mapped IPv6 sources are given as IPv4, and sends go out."""

from __future__ import annotations

import asyncio
import socket

from antibot.proxy.effects import Addr
from antibot.transport.udp import UdpProtocol


def test_datagrams_in_and_out_on_a_real_socket() -> None:
    async def run() -> tuple[list[tuple[bytes, Addr]], bytes, Addr]:
        got: list[tuple[bytes, Addr]] = []
        arrived = asyncio.Event()

        def on_datagram(data: bytes, src: Addr) -> None:
            got.append((data, src))
            arrived.set()

        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(
            lambda: UdpProtocol(on_datagram), local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2.0)
        try:
            peer.sendto(b"OPTIONS sip:x SIP/2.0\r\n\r\n", ("127.0.0.1", port))
            await asyncio.wait_for(arrived.wait(), 5.0)
            source = got[0][1]
            proto.send(b"SIP/2.0 200 OK\r\n\r\n", source)
            reply = await loop.run_in_executor(None, peer.recv, 2048)
            return got, reply, Addr("udp", "127.0.0.1", peer.getsockname()[1])
        finally:
            peer.close()
            transport.close()

    got, reply, peer = asyncio.run(run())
    assert got == [(b"OPTIONS sip:x SIP/2.0\r\n\r\n", peer)]
    assert reply == b"SIP/2.0 200 OK\r\n\r\n"


def test_a_mapped_ipv6_source_is_given_as_ipv4_and_icmp_errors_are_ignored() -> None:
    got: list[Addr] = []
    proto = UdpProtocol(lambda _data, src: got.append(src))
    proto.datagram_received(b"x", ("::ffff:192.0.2.7", 5060))
    proto.datagram_received(b"x", ("2001:db8::1", 5062))
    proto.error_received(ConnectionRefusedError())  # the transaction timers handle it
    proto.send(b"lost", Addr("udp", "192.0.2.7", 5060))  # no transport yet: nothing, no error
    assert got == [Addr("udp", "192.0.2.7", 5060), Addr("udp", "2001:db8::1", 5062)]
