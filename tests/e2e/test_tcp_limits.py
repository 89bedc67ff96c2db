"""TCP limits end to end: connection caps, slowloris, a huge Content-Length.

Raw sockets on loopback play the attacker. The flooding sockets bind 127.0.0.2-4 (still
loopback) so that the sipp caller on 127.0.0.1 is a different source. Caps are set small in the
test settings, so each test opens a few dozen sockets.
"""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Harness
from .peers import Proxy
from .procs import HOST, wait_for
from .test_calls import assert_calls

pytestmark = pytest.mark.e2e

CALLS = 5


def options(port: int, local: int, *, length: int = 0) -> bytes:
    return (
        f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {HOST}:{local};branch=z9hG4bK-e2e-tcp-{local}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:e2e@{HOST}:{local}>;tag=t{local}\r\nTo: <sip:{HOST}:{port}>\r\n"
        f"Call-ID: e2e-tcp-{local}@{HOST}\r\nCSeq: 1 OPTIONS\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


@contextlib.contextmanager
def flood(proxy: Proxy, sources: dict[str, int]) -> Iterator[list[socket.socket]]:
    """``count`` idle connections to the proxy from each source address; closed at the end."""
    socks: list[socket.socket] = []
    try:
        for source, count in sources.items():
            for _ in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind((source, 0))
                sock.connect((HOST, proxy.port))  # the kernel completes it; the proxy decides after
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_by_peer(sock: socket.socket) -> bool:
    """The proxy closed (FIN or RST) this connection; it sent nothing else on it."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def count_closed(socks: list[socket.socket], expect: int, timeout: float = 5.0) -> list[bool]:
    """Wait until ``expect`` of ``socks`` are closed by the proxy; then which ones are."""

    def settled() -> bool:
        return sum(map(closed_by_peer, socks)) >= expect

    try:
        wait_for(settled, timeout, f"the proxy to close {expect} of {len(socks)} connections")
    finally:
        closed = [closed_by_peer(s) for s in socks]
    return closed


def refused_lines(proxy: Proxy) -> list[dict[str, object]]:
    return [r for r in proxy.records() if str(r.get("msg", "")).startswith("tcp connection refused")]


def test_connections_over_the_per_source_cap_are_closed_and_tcp_calls_go_on(e2e: Harness) -> None:
    """40 idle connections from 127.0.0.2 with a cap of 8 per source: 32 are closed at once; a sipp
    caller on 127.0.0.1 over TCP still completes its calls; the refusals are counted and logged
    in one line (before: all 40 stayed open and nothing was logged)."""
    uas = e2e.uas("uas_answer.xml")
    # One process: the caps are per worker (connections spread over workers by 4-tuple), and this
    # counts exactly which connection one process refuses.
    proxy = e2e.proxy([f"sip:{uas.addr}"], settings={"tcp_max_per_source": 8, "tcp_max_connections": 64, "workers": 1})
    with flood(proxy, {"127.0.0.2": 40}) as socks:
        closed = count_closed(socks, 32)
        assert closed.count(False) == 8, f"{closed.count(False)} of 40 still open, want 8"
        assert closed[:8] == [False] * 8  # the first ones keep their places
        uac = e2e.uac("uac_call.xml", proxy, calls=CALLS, transport="tcp")
        assert_calls(uac, uas, CALLS)
        assert not any(closed_by_peer(s) for s in socks[:8])
    stats = proxy.stop()
    assert stats.get("tcp_refused_per_source") == 32, stats
    lines = refused_lines(proxy)  # one line, and the count held back (logged at the latest on stop)
    assert len(lines) == 2 and lines[0]["src"] == "127.0.0.2", lines
    assert [r["suppressed"] for r in lines] == [0, 31], lines


def test_the_total_cap_refuses_callers_but_never_our_upstream_connection(e2e: Harness) -> None:
    """A total cap of 16, filled from three addresses: the rest (and a new caller) are refused,
    while UDP calls still reach a PBX over the TCP connection the proxy opens itself."""
    uas = e2e.uas("uas_answer.xml", transport="tcp")
    # One process: the caps are per worker, and this counts exactly which connection it refuses.
    caps = {"tcp_max_per_source": 8, "tcp_max_connections": 16, "workers": 1}
    proxy = e2e.proxy([f"sip:{uas.addr};transport=tcp"], settings=caps)
    with flood(proxy, {"127.0.0.2": 8, "127.0.0.3": 8, "127.0.0.4": 8}) as socks:
        closed = count_closed(socks, 8)
        assert closed == [False] * 16 + [True] * 8
        with flood(proxy, {HOST: 1}) as late:
            count_closed(late, 1)
        uac = e2e.uac("uac_call.xml", proxy, calls=CALLS)  # UDP caller, TCP PBX
        assert_calls(uac, uas, CALLS)
    stats = proxy.stop()
    assert stats.get("tcp_refused_total") == 9, stats
    assert "tcp_refused_per_source" not in stats


def test_slowloris_is_closed_within_the_message_timeout(e2e: Harness) -> None:
    """One byte a second: closed 2 s (tcp_message_timeout) after the first byte, plus at most a
    sweep interval (before: still open after 8 s). An idle connection between messages stays."""
    uas = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"], settings={"tcp_message_timeout": 2.0})
    with socket.create_connection((HOST, proxy.port)) as quiet, socket.create_connection((HOST, proxy.port)) as slow:
        quiet.sendall(options(proxy.port, quiet.getsockname()[1]))
        quiet.settimeout(5.0)
        assert quiet.recv(100).startswith(b"SIP/2.0 200 "), "the whole OPTIONS was not answered"
        data = options(proxy.port, slow.getsockname()[1])
        first = time.monotonic()
        lifetime = None
        for i in range(8):
            try:
                slow.send(data[i : i + 1])
            except OSError:
                lifetime = time.monotonic() - first
                break
            readable, _, _ = select.select([slow], [], [], first + i + 1 - time.monotonic())
            if readable and closed_by_peer(slow):
                lifetime = time.monotonic() - first
                break
        assert lifetime is not None, "a connection sending one byte a second was still open after 8 s"
        assert 1.9 <= lifetime <= 3.2, f"closed {lifetime:.2f} s after the first byte, want 2-2.5 s"
        assert not closed_by_peer(quiet)  # idle between messages: the idle timeout's business
    stats = proxy.stop()
    assert stats.get("tcp_message_timeout") == 1, stats


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_a_huge_content_length_gets_413_and_is_not_buffered(e2e: Harness) -> None:
    """``Content-Length: 100000000`` then the body as fast as loopback takes it: 413 (RFC 3261
    §21.4.11) and the connection closed before much is read; RSS does not grow (before: 400)."""
    uas = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"], settings={"workers": 1})  # one process: its RSS is measured
    before = rss_mb(proxy.proc.pid)
    with socket.create_connection((HOST, proxy.port)) as sock:
        sock.sendall(options(proxy.port, sock.getsockname()[1], length=100_000_000))
        sock.settimeout(0.05)
        chunk, sent, reply = b"x" * 65536, 0, b""
        deadline = time.monotonic() + 10.0
        while sent < 100_000_000 and time.monotonic() < deadline:
            try:
                sent += sock.send(chunk)
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:
                break  # reset: the proxy closed it
            try:
                got = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break  # reset before we read a reply: the assertion below says so
            reply += got
            if not got:
                break
        with contextlib.suppress(OSError):
            sock.settimeout(1.0)
            reply += sock.recv(4096)
    assert reply.startswith(b"SIP/2.0 413 "), reply[:200]
    assert sent < 20_000_000, f"{sent} body bytes taken before the close"
    growth = rss_mb(proxy.proc.pid) - before
    assert growth < 20, f"RSS grew by {growth:.0f} MB"
    stats = proxy.stop()
    assert stats.get("tcp_too_large") == 1, stats


_HARD_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[1]


@pytest.mark.skipif(
    _HARD_NOFILE == resource.RLIM_INFINITY or _HARD_NOFILE <= 1024,
    reason="the hard RLIMIT_NOFILE leaves nothing to raise the soft limit to",
)
def test_the_open_file_limit_is_raised_and_the_cap_fitted_to_it(e2e: Harness) -> None:
    """Started with a soft RLIMIT_NOFILE of 1024 below its hard limit, the proxy raises it to the
    hard limit, and lowers a tcp_max_connections that would not leave room for the rest."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    uas = e2e.uas("uas_answer.xml")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # inherited by the proxy
    try:
        proxy = e2e.proxy([f"sip:{uas.addr}"], settings={"tcp_max_connections": 1_000_000})
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    limits = Path(f"/proc/{proxy.proc.pid}/limits").read_text()
    row = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert row.split()[3:5] == [str(hard), str(hard)], row
    lowered = [r for r in proxy.records() if r.get("msg") == "tcp_max_connections lowered to fit RLIMIT_NOFILE"]
    assert lowered and lowered[0]["limit"] == hard - hard // 8, lowered
