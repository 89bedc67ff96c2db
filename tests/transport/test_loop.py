"""The runner's socket helpers: the UDP socket it listens on (non-blocking, bound, with a large
receive buffer asked for) and its IP-literal check."""

from __future__ import annotations

import socket

import pytest

from antibot.transport.loop import _is_ip, udp_socket


def test_the_udp_socket_is_bound_non_blocking_with_a_receive_buffer() -> None:
    sock = udp_socket("127.0.0.1", 0)
    try:
        assert sock.type == socket.SOCK_DGRAM and sock.family == socket.AF_INET
        assert sock.getsockname()[0] == "127.0.0.1" and sock.getsockname()[1] > 0
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 64 * 1024  # asked 4 MiB; capped by rmem_max
    finally:
        sock.close()


def test_a_port_in_use_is_an_error_and_leaks_no_socket() -> None:
    first = udp_socket("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            udp_socket("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()


@pytest.mark.parametrize(("host", "ip"), [("192.0.2.1", True), ("2001:db8::1", True), ("pbx.example.com", False)])
def test_is_ip(host: str, ip: bool) -> None:
    assert _is_ip(host) is ip
    assert _is_ip(host) is ip  # again, from the cache


def test_the_stream_ports_queue_a_reconnection_burst_the_loop_has_not_accepted_yet() -> None:
    """Hundreds of phones reconnect at once after a restart. The kernel completes their
    handshakes into the listen queue while the loop is busy; with asyncio's default backlog
    (100) it dropped the rest, and they waited on SYN-ACK retries (1, 2, 4... s)."""
    import asyncio
    import select

    from antibot.transport.loop import LISTEN_BACKLOG, ProxyRunner
    from tests.proxy.conftest import make_core

    burst = 300
    assert burst < LISTEN_BACKLOG

    async def run() -> int:
        runner = ProxyRunner(make_core(), None)
        try:
            await runner.listen("tcp", "127.0.0.1", 0)
            port = runner.servers[0].sockets[0].getsockname()[1]
            # The loop does not run below: nothing is accepted, everything waits in the queue.
            socks = []
            for _ in range(burst):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                socks.append(sock)
            _, writable, _ = select.select([], socks, [], 0.5)
            connected = sum(1 for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
            for sock in socks:
                sock.close()
            return connected
        finally:
            runner.close()

    assert asyncio.run(run()) == burst
