"""Workers sharing a UDP port spread one trunk's calls by transaction (``antibot.transport.steer``).

Real sockets in a real ``SO_REUSEPORT`` group: the kernel runs the program and these tests
read which socket each datagram reached.
"""

from __future__ import annotations

import collections
import select
import socket
import sys
from collections.abc import Iterator

import pytest

from antibot.transport.steer import SCAN, attach, program, worker_index

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_ATTACH_REUSEPORT_CBPF is Linux's")


def request(method: str, branch: str, *, via_host: str = "203.0.113.7:5060", first: str = "") -> bytes:
    """A request from one trunk (one address and port); ``first``: a header line put before the Via."""
    return (
        f"{method} sip:+4930123456@127.0.0.1:5060 SIP/2.0\r\n{first}"
        f"Via: SIP/2.0/UDP {via_host};branch={branch};rport\r\n"
        f"Max-Forwards: 70\r\nCall-ID: {branch}@trunk\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture
def group() -> Iterator[list[socket.socket]]:
    """Three sockets sharing one loopback port, the program attached (index = bind order)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", socks[0].getsockname()[1] if socks else 0))
            socks.append(s)
        attach(socks[1], len(socks))  # any socket of the group attaches it for all
        yield socks
    finally:
        for s in socks:
            s.close()


def landed(group: list[socket.socket], data: bytes) -> int:
    """Send ``data`` from one trunk address; the index of the socket the kernel gave it to."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(data, group[0].getsockname())
        ready, _, _ = select.select(group, [], [], 2.0)
    assert len(ready) == 1, ready
    assert ready[0].recv(65535) == data
    return group.index(ready[0])


def test_one_trunks_calls_spread_over_every_worker_as_the_reference_says(group: list[socket.socket]) -> None:
    seen: collections.Counter[int] = collections.Counter()
    for n in range(150):
        data = request("INVITE", f"z9hG4bK-{n:06x}")
        index = landed(group, data)
        assert index == worker_index(data, len(group)), n
        seen[index] += 1
    assert set(seen) == {0, 1, 2} and min(seen.values()) >= 25, seen  # about a third each


def test_an_invites_retransmission_cancel_and_ack_reach_its_worker(group: list[socket.socket]) -> None:
    for n in range(30):
        branch = f"z9hG4bK-tx{n}"
        where = landed(group, request("INVITE", branch))
        assert landed(group, request("INVITE", branch)) == where
        assert landed(group, request("CANCEL", branch)) == where
        assert landed(group, request("ACK", branch)) == where


def test_a_long_via_and_ipv6_sent_by_still_spread(group: list[socket.socket]) -> None:
    host = "[2001:db8:ffff:ffff:ffff:ffff:ffff:10]:5060"
    indexes = {landed(group, request("INVITE", f"z9hG4bK-{n}", via_host=host)) for n in range(40)}
    assert indexes == {0, 1, 2}


def test_what_has_no_line_end_early_is_left_to_the_kernel_and_a_short_datagram_is_kept() -> None:
    assert worker_index(b"X" * (SCAN + 10), 3) is None  # the 4-tuple hash decides
    assert worker_index(b"\r\n\r\n", 3) == 0  # a keepalive: the read past its end ends the program
    assert worker_index(request("INVITE", "b", first="Max-Forwards: 70\r\n"), 3) == worker_index(
        request("CANCEL", "other", first="Max-Forwards: 70\r\n"), 3
    )  # only the first header line counts


def test_the_program_fits_the_kernels_limit_and_refuses_silly_counts() -> None:
    assert len(program(2)) <= 4096  # BPF_MAXINSNS
    with pytest.raises(ValueError):
        program(0)
