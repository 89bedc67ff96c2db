"""The parser and the validator on mutated messages: a SipError or a message, nothing else.

``str.isdigit()`` took "¹²³" where ``int()`` does not, so a port, CSeq,
Content-Length or Max-Forwards in superscript digits raised ValueError (a traceback per UDP
datagram, a TCP connection torn down without an answer). :data:`SEEDS` holds one message per
place a number is read; the mutator (``_fuzz.py``) puts such digits anywhere else too.
"""

from __future__ import annotations

import random

import pytest

from antibot.sip import build
from antibot.sip.errors import SipError
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram, parse_stream
from antibot.sip.validate import check_forwardable

from ._fuzz import mutate, torture_requests

#: Mutated messages per run (about 1 s).
ROUNDS = 6000

_INVITE = (
    b"INVITE sip:100@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:1001@pbx.example.com>;tag=f1\r\n'
    b"To: <sip:100@pbx.example.com>\r\n"
    b"Call-ID: c1@192.0.2.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:1001@192.0.2.10:5062>\r\n"
    b"Content-Length: 5\r\n\r\nv=0\r\n"
)
_RESPONSE = b"SIP/2.0 200 OK\r\n" + _INVITE.split(b"\r\n", 1)[1].replace(
    b"<sip:100@pbx.example.com>", b"<sip:100@pbx.example.com>;tag=t"
)

#: A superscript digit ("²³¹" as latin-1 bytes) in each number the parser or the validator reads.
SEEDS: dict[str, bytes] = {
    "via-port": _INVITE.replace(b"10:5062;branch", b"10:50\xb2;branch"),
    "via-port-only": _INVITE.replace(b"10:5062;branch", b"10:\xb2;branch"),
    "lower-via-port": _INVITE.replace(b"Max-Forwards", b"Via: SIP/2.0/UDP h.example.com:5\xb3\r\nMax-Forwards"),
    "via-rport": _INVITE.replace(b";rport", b";rport=5\xb9"),
    "via-ipv6-port": _INVITE.replace(b"192.0.2.10:5062;branch", b"[2001:db8::1]:\xb9\xb2;branch"),
    "ruri-port": _INVITE.replace(b"pbx.example.com SIP/2.0", b"pbx.example.com:\xb2\xb3 SIP/2.0"),
    "contact-port": _INVITE.replace(b"192.0.2.10:5062>", b"192.0.2.10:50\xb2\xb3>"),
    "from-port": _INVITE.replace(b"1001@pbx.example.com>", b"1001@pbx.example.com:\xb9>"),
    "cseq": _INVITE.replace(b"CSeq: 1 ", b"CSeq: \xb9 "),
    "cseq-mixed": _INVITE.replace(b"CSeq: 1 ", b"CSeq: 1\xb2 "),
    "content-length": _INVITE.replace(b"Content-Length: 5", b"Content-Length: \xb3"),
    "content-length-mixed": _INVITE.replace(b"Content-Length: 5", b"Content-Length: \xb35"),
    "max-forwards": _INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: \xb2"),
    "max-forwards-mixed": _INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 7\xb9"),
    "status-code": _RESPONSE.replace(b"200 OK", b"\xb2\xb3\xb9 OK"),
    "response-cseq": _RESPONSE.replace(b"CSeq: 1 ", b"CSeq: \xb9 "),
    "response-content-length": _RESPONSE.replace(b"Content-Length: 5", b"Content-Length: \xb3"),
    "huge-content-length": _INVITE.replace(b"Content-Length: 5", b"Content-Length: " + b"5" * 5000),
    "huge-max-forwards": _INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: " + b"0" * 5000),
}


def handled(data: bytes) -> str:
    """Parse ``data`` as a datagram and as a stream; check and forward what parses.

    Returns "refused" or "accepted"; any exception other than SipError escapes (a bug).
    """
    outcome = "accepted"
    for framing in ("datagram", "stream"):
        try:
            msg = parse_datagram(data) if framing == "datagram" else parse_stream(bytearray(data))[0]
        except SipError as exc:
            assert exc.status in (None, 400, 416, 501, 505), exc
            outcome = "refused"
            continue
        if isinstance(msg, Response):
            build.forward_response(msg)
            continue
        assert isinstance(msg, Request)
        try:
            check_forwardable(msg)
        except SipError as exc:
            assert exc.status == 400
            outcome = "refused"
            continue
        build.forward_request(msg, via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ab00.1;rport", pop_routes=0)
        build.response(msg.headers, 400, "Bad Request")
    return outcome


@pytest.mark.parametrize("name", list(SEEDS))
def test_every_seed_is_refused_cleanly(name: str) -> None:
    assert handled(SEEDS[name]) == "refused"


def test_the_seeds_without_the_superscripts_are_accepted() -> None:
    assert handled(_INVITE) == "accepted" and handled(_RESPONSE) == "accepted"


def test_mutated_messages_raise_nothing_but_sip_errors() -> None:
    rng = random.Random(9)
    seeds = [*SEEDS.values(), _INVITE, _RESPONSE, *torture_requests()]
    counts = {"refused": 0, "accepted": 0}
    failures: dict[str, bytes] = {}
    for _ in range(ROUNDS):
        data = mutate(rng.choice(seeds), rng)
        try:
            counts[handled(data)] += 1
        except Exception as exc:  # noqa: BLE001 - collected, then reported at once
            failures.setdefault(f"{type(exc).__name__}: {exc}", data)
    assert not failures, "\n".join(f"{k} on {v!r}" for k, v in failures.items())
    assert min(counts.values()) > ROUNDS // 10, counts
