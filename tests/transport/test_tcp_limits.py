"""TCP limits: connection caps, the per-message timeout, the message size cap."""

from __future__ import annotations

import logging

import pytest

from antibot.proxy.effects import Addr
from antibot.sip.parser import parse_stream
from antibot.transport import tcp
from antibot.transport.tcp import TcpConnection

from .conftest import FakeTransport, Rig, make_rig, options


# ---------------------------------------------------------------- connection caps
def test_connections_over_the_per_source_cap_are_closed_before_reading(rig: Rig) -> None:
    """max_per_source=2: the third connection from one address is aborted in connection_made and
    what it sends is never parsed; other addresses are not affected."""
    (a, ta), (_, tb) = rig.accept(port=1), rig.accept(port=2)
    c, tc = rig.accept(port=3)
    assert not ta.aborted and not tb.aborted
    assert tc.aborted
    assert ("198.51.100.7", 3) not in rig.table.conns
    c.data_received(options())
    assert rig.messages == [] and tc.written == b""
    assert rig.table.stats == {"tcp_refused_per_source": 1}
    _, td = rig.accept("198.51.100.8", 4)
    assert not td.aborted
    assert rig.table.inbound == 3 and rig.table.per_source == {"198.51.100.7": 2, "198.51.100.8": 1}
    # The refused one going away changes nothing; a counted one going away frees its place.
    rig.lose(c)
    assert rig.table.inbound == 3
    rig.lose(a)
    _, te = rig.accept(port=5)
    assert not te.aborted and rig.table.per_source["198.51.100.7"] == 2


def test_connections_over_the_total_cap_are_closed() -> None:
    rig = make_rig(max_connections=3, max_per_source=10)
    transports = [rig.accept(f"198.51.100.{i}", 5000)[1] for i in range(5)]
    assert [t.aborted for t in transports] == [False, False, False, True, True]
    assert rig.table.stats == {"tcp_refused_total": 2}
    assert rig.table.inbound == 3


def test_connections_we_open_are_never_refused() -> None:
    """The cap is full of accepted connections: our own connection to an upstream still opens."""
    rig = make_rig(max_connections=1, max_per_source=1)
    rig.accept("127.0.0.1", 5000)
    upstream = Addr("tcp", "127.0.0.1", 5080)
    conn = TcpConnection(rig.table, upstream)
    conn.write(b"queued")  # before connect: kept
    transport = FakeTransport("127.0.0.1", 5080)
    conn.connection_made(transport)  # type: ignore[arg-type]
    assert not transport.aborted and transport.written == b"queued"
    assert rig.table.conns[("tcp", "127.0.0.1", 5080)] is conn
    assert rig.table.inbound == 1 and "tcp_refused_total" not in rig.table.stats
    conn.data_received(options())
    assert len(rig.messages) == 1
    rig.lose(conn)
    assert rig.table.inbound == 1


def test_an_ipv6_slash_64_is_one_source() -> None:
    rig = make_rig(max_connections=10, max_per_source=1)
    assert not rig.accept("2001:db8:0:7::1", 1)[1].aborted
    assert rig.accept("2001:db8:0:7::2", 2)[1].aborted  # same /64
    assert not rig.accept("2001:db8:0:8::1", 3)[1].aborted
    assert not rig.accept("::ffff:198.51.100.9", 4)[1].aborted  # IPv4-mapped: the IPv4 address
    assert "198.51.100.9" in rig.table.per_source


def test_refusals_are_logged_at_most_once_per_interval(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="antibot.tcp")
    for port in range(100):
        rig.accept(port=port)
    refused = [r for r in caplog.records if r.getMessage() == "tcp connection refused"]
    assert len(refused) == 1 and refused[0].__dict__["suppressed"] == 0
    assert rig.table.stats["tcp_refused_per_source"] == 98
    rig.clock.now += tcp.LOG_INTERVAL
    rig.table.sweep()  # the held-back count is reported even if no refusal follows
    held = [r for r in caplog.records if r.getMessage().startswith("tcp connection refused")]
    assert len(held) == 2 and held[1].__dict__["suppressed"] == 97
    rig.accept(port=200)
    rig.table.close_all()  # on shutdown what is held back is logged at once
    held = [r for r in caplog.records if r.getMessage().startswith("tcp connection refused")]
    assert len(held) == 3 and held[2].__dict__["suppressed"] == 1


# ---------------------------------------------------------------- timeouts
def test_slowloris_is_closed_once_the_message_timeout_passes(rig: Rig) -> None:
    """message_timeout=2: one byte a second keeps the connection active, but the message is not whole
    2 s after its first byte, so the sweep closes it (at once: nothing is owed to it)."""
    conn, transport = rig.accept()
    data = options()
    closed_at = None
    for i in range(20):
        conn.data_received(data[i : i + 1])
        rig.table.sweep()
        if transport.aborted:
            closed_at = i
            break
        rig.clock.now += 1.0
    assert closed_at == 3  # first byte at t=0; at t=2 not yet late, at t=3 past 2 s
    assert rig.table.stats == {"tcp_message_timeout": 1}
    assert rig.messages == []


def test_the_message_timeout_applies_to_a_message_in_progress_only(rig: Rig) -> None:
    """Idle between messages is the idle timeout's business; each message gets its own 2 s."""
    conn, transport = rig.accept()
    first, second = options(1), options(2)
    conn.data_received(first + second[:10])  # one whole message and the start of the next
    rig.clock.now += 1.5
    conn.data_received(second[10:])  # the second is whole 1.5 s after its first byte
    assert len(rig.messages) == 2
    rig.clock.now += 20.0  # idle, below the idle timeout
    rig.table.sweep()
    assert not transport.aborted and not transport.closed
    conn.data_received(b"\r\n\r\n")  # keepalive ping: answered, not a message in progress
    assert transport.written == b"\r\n" and conn.started is None
    rig.clock.now += 5.0
    rig.table.sweep()
    assert not transport.aborted and not transport.closed
    third = options(3)
    conn.data_received(third[:5])
    rig.clock.now += 1.9
    conn.data_received(third[5:20])  # bytes keep coming: the deadline counts from the first
    rig.clock.now += 0.2
    rig.table.sweep()
    assert transport.aborted


def test_idle_connections_are_closed_and_the_sweep_is_frequent_enough(rig: Rig) -> None:
    conn, transport = rig.accept()
    conn.data_received(options())
    rig.clock.now += 29.0
    rig.table.sweep()
    assert not transport.closed
    rig.clock.now += 1.5
    rig.table.sweep()
    assert transport.closed and rig.table.stats == {"tcp_idle_timeout": 1}
    # A quarter of the shorter timeout, so a 2 s message timeout is enforced within 2.5 s.
    assert rig.table.sweep_interval == 0.5
    assert make_rig().table.sweep_interval == 1.0  # defaults: 10 s and 120 s


def test_a_connection_stuck_closing_is_aborted(rig: Rig) -> None:
    """close() waits for the peer to read what we queued; a peer that never reads is cut off."""
    conn, transport = rig.accept()
    conn.abort("test")
    assert transport.closed and not transport.aborted
    rig.clock.now += 2.5
    rig.table.sweep()
    assert transport.aborted


def test_a_peer_that_does_not_read_is_cut_off(rig: Rig) -> None:
    conn, transport = rig.accept()
    transport.backlog = rig.table.limits.write_backlog + 1
    conn.write(b"SIP/2.0 200 OK\r\n")
    assert transport.aborted and rig.table.stats == {"tcp_write_backlog": 1}


# ---------------------------------------------------------------- message size
def test_a_huge_content_length_gets_413_and_nothing_is_buffered(rig: Rig) -> None:
    """RFC 3261 §21.4.11: refused as soon as the header section is in; the body is not read."""
    conn, transport = rig.accept()
    conn.data_received(options(length=100_000_000))
    assert len(rig.malformed) == 1
    exc, source = rig.malformed[0]
    assert exc.status == 413 and source == Addr("tcp", "198.51.100.7", 40000)
    assert any(h.key == "via" for h in exc.headers)  # so the core can route the 413
    assert transport.lingering  # FIN after the 413, nothing more read
    for _ in range(100):
        conn.data_received(b"x" * 65536)
    assert len(conn.buffer) == 0 and rig.messages == []
    assert rig.table.stats == {"tcp_too_large": 1}
    conn.write(b"late response")  # nothing is written after the FIN
    assert transport.written == b""
    rig.clock.now += 1.0
    rig.table.sweep()
    assert transport.lingering  # time for the peer to read the 413 ...
    rig.clock.now += 1.5
    rig.table.sweep()
    assert transport.aborted  # ... then reset


def test_a_response_over_the_limit_is_dropped_without_an_answer(rig: Rig) -> None:
    conn, transport = rig.accept()
    conn.data_received(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 203.0.113.1;branch=z9hG4bK-x\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 70000\r\n\r\n"
    )
    assert rig.malformed[0][0].status is None and transport.lingering


def test_the_size_limit_is_a_setting() -> None:
    """max_message_size=4096: a 5000-byte body, or 5000 bytes of header section, is refused."""
    rig = make_rig(max_message_size=4096)
    conn, transport = rig.accept()
    conn.data_received(options(body="x" * 5000))
    assert rig.malformed[0][0].status == 413 and transport.lingering
    conn, transport = rig.accept(port=2)
    conn.data_received(b"OPTIONS sip:a SIP/2.0\r\nX: " + b"y" * 5000)
    assert transport.lingering and rig.malformed[1][0].reason == "header section too long"
    conn, transport = rig.accept(port=3)
    body = "x" * 3000
    conn.data_received(options(body=body))  # under the limit: delivered
    assert not transport.eof and rig.messages[0][0].body == body.encode()


# ---------------------------------------------------------------- framing still right
@pytest.mark.skipif(
    str(tcp.__file__).endswith(".so"), reason="compiled build: the parser cannot be replaced (make test-pure runs it)"
)
def test_framing_byte_by_byte_parses_each_message_once(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments are scanned for the end of the header section; the parser runs once per message."""
    calls = []
    real = parse_stream

    def counting(buf: bytearray) -> object:
        calls.append(len(buf))
        return real(buf)

    monkeypatch.setattr(tcp, "parse_stream", counting)
    conn, _ = rig.accept()
    data = options(1, body="v=0\r\n" * 40) + options(2) + options(3, body="abc")
    for i in range(len(data)):
        conn.data_received(data[i : i + 1])
    assert [m.cseq for m, _ in rig.messages] == [1, 2, 3]
    assert rig.messages[2][0].body == b"abc"
    assert len(calls) == 3
    conn.data_received(options(4) + options(5))  # pipelined in one segment
    assert [m.cseq for m, _ in rig.messages][3:] == [4, 5]


def test_a_missing_content_length_still_gets_400(rig: Rig) -> None:
    conn, transport = rig.accept()
    conn.data_received(options().replace(b"Content-Length: 0\r\n", b""))
    assert rig.malformed[0][0].status == 400 and transport.lingering
