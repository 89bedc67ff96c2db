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
