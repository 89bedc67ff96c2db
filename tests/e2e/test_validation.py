"""Hostile single packets get 400 from the proxy and never reach the PBX.

Raw datagrams from a Python socket to a running proxy in front of a sipp PBX: a second Via
with ``;x:y`` (which made the decision hook raise), a bare LF in the From display name and a
host that is not a host (which the PBX could not parse, so it stayed silent and the only
upstream was marked down), and superscript digits in a port, CSeq, Content-Length and
Max-Forwards (a ValueError per packet before). Each gets a 400; over TCP the 400 comes before
the connection closes; the PBX then takes a normal call, and received that INVITE only.
"""

from __future__ import annotations

import socket

import pytest

from .harness import Harness
from .peers import sipp_failure
from .procs import HOST

pytestmark = pytest.mark.e2e


def invite(port: int, n: int, transport: str = "UDP") -> bytes:
    return (
        f"INVITE sip:100@{HOST} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {HOST}:{port};branch=z9hG4bK-bad-{n};rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Alice" <sip:1001@{HOST}>;tag=bad{n}\r\n'
        f"To: <sip:100@{HOST}>\r\n"
        f"Call-ID: bad-{n}@{HOST}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:1001@{HOST}:{port}>\r\n"
        "User-Agent: Grandstream GXP2170 1.0.11.23\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode("latin-1")


def hostile(port: int) -> dict[str, bytes]:
    """One datagram per finding, each answerable (its top Via names our socket)."""
    via2 = b"Max-Forwards: 70\r\n"
    return {
        "second-via-x:y": invite(port, 1).replace(via2, b"Via: SIP/2.0/UDP 1.2.3.4;x:y\r\n" + via2),
        "bare-lf-in-from": invite(port, 2).replace(b'"Alice"', b'"Ali\nce"'),
        "from-host-not-a-host": invite(port, 3).replace(f"1001@{HOST}>".encode(), b"1001@999.1.1.1>"),
        "contact-host-not-a-host": invite(port, 4).replace(f"1001@{HOST}:".encode(), b"1001@1.2.3.4.5:"),
        "superscript-contact-port": invite(port, 5).replace(f"{HOST}:{port}>".encode(), b"127.0.0.1:50\xb2>"),
        "superscript-cseq": invite(port, 6).replace(b"CSeq: 1 ", b"CSeq: \xb9 "),
        "superscript-content-length": invite(port, 7).replace(b"Content-Length: 0", b"Content-Length: \xb3"),
        "superscript-max-forwards": invite(port, 8).replace(b"Max-Forwards: 70", b"Max-Forwards: \xb2"),
    }


def test_hostile_packets_get_400_and_the_pbx_never_sees_them(e2e: Harness) -> None:
    uas = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(3.0)
        packets = hostile(sock.getsockname()[1])
        answers: dict[str, bytes] = {}
        for name, data in packets.items():
            sock.sendto(data, (HOST, proxy.port))
            answers[name] = sock.recv(65535).split(b"\r\n", 1)[0]
    assert {name for name, line in answers.items() if line.startswith(b"SIP/2.0 400 ")} == set(packets), answers

    # Over TCP, a CSeq in superscript digits gets its 400 before the connection closes.
    with socket.create_connection((HOST, proxy.port), timeout=3.0) as tcp:
        tcp.sendall(invite(tcp.getsockname()[1], 9, "TCP").replace(b"CSeq: 1 ", b"CSeq: \xb9 "))
        reply = b""
        while chunk := tcp.recv(65535):
            reply += chunk
    assert reply.startswith(b"SIP/2.0 400 "), reply[:80]

    # The PBX is still up and takes a real call; it received that INVITE and nothing else.
    uac = e2e.uac("uac_call.xml", proxy, calls=1)
    assert uac.proc.returncode == 0 and uac.stat("SuccessfulCall(C)") == 1, sipp_failure(uac, uas)
    uas.settle(1)
    invites = uas.received("INVITE ")
    assert len(invites) == 1 and "bad-" not in invites[0], sipp_failure(uac, uas)
    log = proxy.log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "deciding failed" not in log
