"""Attacks end to end, on loopback: open relay through forged dialogs, and reflection amplification.

The proxy runs with detection in enforce mode (embedded Redis, shipped model) in front of a sipp
PBX on 127.0.0.1; the "far end" an attacker wants to reach is a plain UDP socket on 127.0.0.2.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from .harness import Harness
from .peers import Proxy
from .procs import HOST, wait_for
from .rawsip import RawCaller, RawPbx, header, status_of

pytestmark = pytest.mark.e2e


def forged(uri: str, *, ua: str = "friendly-scanner", extra: str = "", n: int = 1, to_tag: str = "forged") -> bytes:
    """An INVITE that looks in-dialog (a To-tag) with no Record-Route of ours behind it."""
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"INVITE {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{{port}};branch=z9hG4bK-atk{n};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:100@{HOST}>;tag=atk{n}\r\nTo: <sip:200@{HOST}>{tag}\r\n"
        f"Call-ID: atk-{n}-{time.monotonic_ns()}@{HOST}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:100@{HOST}:{{port}}>\r\nUser-Agent: {ua}\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


class Attacker:
    """A raw UDP socket on 127.0.0.1 that sends requests to the proxy and never ACKs."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]

    def send(self, template: bytes) -> None:
        self.sock.sendto(template.replace(b"{port}", str(self.port).encode()), (HOST, self.proxy.port))

    def replies(self, seconds: float) -> list[bytes]:
        """Every final (non-1xx) response that arrives within ``seconds``."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                break
            if not data.startswith(b"SIP/2.0 1"):
                out.append(data)
        return out


def status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


@pytest.fixture
def far_end() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.2", 0))
    sock.settimeout(0.05)
    yield sock
    sock.close()


def _received(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65535))
        except TimeoutError:
            return out


def test_forged_dialogs_reach_no_foreign_host_nor_the_pbx_undecided(e2e: Harness, far_end: socket.socket) -> None:
    uas = e2e.uas("uas_headers.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--detect"])
    attacker = Attacker(proxy)
    foreign = f"127.0.0.2:{far_end.getsockname()[1]}"

    # 1. To-tag + Request-URI at a host that is not an upstream: refused, nothing reaches it.
    attacker.send(forged(f"sip:200@{foreign}", n=1))
    # 2. ... or a Route naming it.
    attacker.send(forged(f"sip:200@{uas.addr}", n=2, extra=f"Route: <sip:{foreign};lr>\r\n"))
    # 3. ... or our address in a Route (no token of ours), then the foreign host.
    attacker.send(forged(f"sip:200@{foreign}", n=3, extra=f"Route: <sip:{proxy.addr};lr>\r\n"))
    got = attacker.replies(1.5)
    assert sorted(status(r) for r in got) == [403, 403, 403], got
    assert _received(far_end) == []

    # 4. To-tag + Request-URI at the PBX, scanner User-Agent: decided, hence rejected by the deny list.
    attacker.send(forged(f"sip:200@{uas.addr}", n=4))
    (reply,) = attacker.replies(1.5)
    assert status(reply) == 603 and b"\r\nReason: SIP;cause=603" in reply
    # 5. ... with a softphone User-Agent: it reaches the PBX, but decided, with the verdict headers.
    attacker.send(forged(f"sip:200@{uas.addr}", n=5, ua="Zoiper rv2.10.19.6"))
    wait_for(lambda: uas.received("INVITE"), 10.0, "the PBX to receive the decided INVITE")
    (invite,) = uas.received("INVITE")
    assert "friendly-scanner" not in invite
    assert re.search(r"^X-Antibot-Verdict: (pass|suspect)\s*$", invite, re.M), invite
    assert re.search(r"^X-Antibot-Call: [0-9a-f]{16}\s*$", invite, re.M), invite


def test_a_scanner_reject_is_sent_once(e2e: Harness) -> None:
    """A spoofable source that never ACKs gets one 603, not 11 over 32 s (RFC 3261 Timer G)."""
    uas = e2e.uas()
    proxy = e2e.proxy([f"sip:{uas.addr}"])  # the built-in scanner deny list, no detection needed
    attacker = Attacker(proxy)
    attacker.send(forged(f"sip:200@{proxy.addr}", to_tag="", n=9))
    got = attacker.replies(2.5)  # Timer G would have retransmitted at 0.5 s and 1.5 s
    assert [status(r) for r in got] == [603], got
    assert uas.requests("INVITE") == []


#: Verdict headers a caller forges, in the spellings a careless filter would miss.
SPOOFED = (
    "X-Antibot-Verdict: SPOOFED-pass\r\n"
    "x-antibot-score: SPOOFED-0.000\r\n"
    "X-ANTIBOT-REASONS: SPOOFED\r\n"
    "X-Antibot-Call: SPOOFED0123456789\r\n"
    "X-Antibot-Verdict\t : SPOOFED-spaced\r\n"
    "X-Antibot-Anything-Else: SPOOFED\r\n"
)


@pytest.fixture
def raw_pbx() -> Iterator[RawPbx]:
    pbx = RawPbx()
    yield pbx
    pbx.close()


def test_spoofed_verdict_headers_never_reach_the_pbx(e2e: Harness, raw_pbx: RawPbx) -> None:
    """A caller's own ``X-Antibot-*`` lines are dropped from everything it sends through: the new
    INVITE, the ACK and BYE of its dialog, and an out-of-dialog OPTIONS. Asserted on the bytes the
    PBX received; the INVITE carries the proxy's verdict headers, once each."""
    proxy = e2e.proxy([f"sip:{raw_pbx.addr}"], extra=["--detect", "--data-dir", str(e2e.tmp / "data")])
    caller = RawCaller(proxy.port)
    try:
        call_id = f"spoof-{time.monotonic_ns()}@{HOST}"
        parties = {"from_": f"<sip:3312345678@{HOST}>", "to": f"<sip:200@{proxy.addr}>"}
        caller.request("INVITE", f"sip:200@{proxy.addr}", call_id=call_id, extra=SPOOFED, **parties)
        ok = caller.final(call_id)
        assert ok is not None and status_of(ok) == 200, ok
        routes = b", ".join(header(ok, "Record-Route")).decode()
        (contact,) = header(ok, "Contact")
        target = contact.decode().strip("<>")
        to = parties["to"] + ";tag=" + re.search(r"tag=([^;>\s]+)", header(ok, "To")[0].decode()).group(1)  # type: ignore[union-attr]
        dialog = {"from_": parties["from_"], "to": to, "call_id": call_id}
        caller.request("ACK", target, extra=f"Route: {routes}\r\n" + SPOOFED, **dialog)
        caller.request("BYE", target, cseq=2, extra=f"Route: {routes}\r\n" + SPOOFED, **dialog)
        bye = caller.final(call_id)
        assert bye is not None and status_of(bye) == 200, bye
        options_id = f"spoof-options-{time.monotonic_ns()}@{HOST}"
        caller.request("OPTIONS", f"sip:200@{proxy.addr}", call_id=options_id, extra=SPOOFED, **parties)
        assert (reply := caller.final(options_id)) is not None and status_of(reply) == 200, reply
    finally:
        caller.close()

    mine = [d for d in raw_pbx.datagrams if call_id.encode() in d or options_id.encode() in d]
    assert sorted(d.split(b" ", 1)[0] for d in mine) == [b"ACK", b"BYE", b"INVITE", b"OPTIONS"], mine
    leaked = [d for d in raw_pbx.datagrams if b"SPOOFED" in d]
    assert leaked == [], leaked[0].decode(errors="replace") if leaked else ""
    (invite,) = raw_pbx.requests("INVITE")
    assert [v.lower() for v in re.findall(rb"^(x-antibot-[a-z-]+)\s*:", invite, re.I | re.M)].count(
        b"x-antibot-verdict"
    ) == 1, invite
    assert re.search(rb"^X-Antibot-Verdict: (pass|suspect)\r$", invite, re.M), invite
    assert re.search(rb"^X-Antibot-Call: [0-9a-f]{16}\r$", invite, re.M), invite
