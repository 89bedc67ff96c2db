"""A seeded mutator of SIP messages, shared by the parser and detector fuzz tests.

Its tokens are what broke the parser and the decision hook before: separators,
quotes, bare line ends, non-ASCII digits (latin-1 "\xb2\xb3\xb9", which ``str.isdigit()``
takes and ``int()`` refuses), bogus hosts and numbers, and whole hostile header lines.
"""

from __future__ import annotations

import random

from antibot.sip.errors import SipError
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram
from antibot.sip.validate import check_forwardable

from ._support import CONFORMANCE, MISSING, load, manifest
from .test_rfc5118 import wire

#: Bytes that break SIP grammars: separators, quotes, bare line ends, non-ASCII digits
#: (latin-1 "²³¹": str.isdigit() takes them, int() does not), bogus hosts and numbers.
TOKENS: tuple[bytes, ...] = (
    b";", b":", b";x:y", b'"', b"<", b">", b"\n", b"\r", b",", b"@", b"[", b"]", b"%", b"%zz",
    b"\xb2", b"\xb3", b"\xb9", b"\xbd", b"\xff", b"\x00", b"\x7f", b"999", b"0", b"-1", b"99999",
    b"1" * 30, b" ", b"\t", b"=", b";tag=", b";tag", b"sip:", b"sips:", b"tel:", b"http:", b"::",
    b"..", b"-", b"\\", b"z9hG4bK", b";branch=", b";branch", b";received=", b";received=999.1.1.1",
    b";rport=", b";rport=\xb2", b";maddr=", b";ttl=300", b"999.1.1.1", b"[::1]", b"[::1", b"*", b"?",
    b"?a=b", b"user=phone", b";lr", b"+", b"00", b"011", b"#", b"\xc3\xa9", b"\r\n ", b"\r\n\t",
    b"SIP/2.0/UDP", b"SIP/3.0", b"/", b"anonymous", b"v=0\r\n", b"c=IN IP4 ", b"m=audio ", b"o=",
)  # fmt: skip

#: Whole header lines to add: the forms the issue found (a 2nd Via with ``;x:y``...).
LINES: tuple[bytes, ...] = (
    b"Via: SIP/2.0/UDP 1.2.3.4;x:y",
    b"Via: SIP/2.0/UDP 1.2.3.4;branch=",
    b"Via: SIP/2.0/UDP 1.2.3.4:5\xb2;branch=z9hG4bK1",
    b"Via: SIP/2.0/UDP 999.1.1.1;branch=z9hG4bK1",
    b"Via: SIP/2.0/UDP host;received=nohost;rport=x",
    b"Via: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKv6;maddr=[::1",
    b"v: SIP/2.0/UDP a.example.com , SIP/2.0/UDP b;;",
    b"Contact: <sip:alice@host:5\xb2>",
    b"Contact: <sip:alice@999.1.1.1>",
    b"Contact: *",
    b"Contact: <tel:+1 2>",
    b'Contact: "x\nz" <sip:a@b>',
    b"Route: <sip:127.0.0.1:5060;lr>",
    b"Route: <http://example.com>",
    b"Record-Route: <sip:a@b;lr>, <sip:c@-bad-;lr>",
    b"User-Agent: friendly-scanner",
    b"Privacy: id",
    b"P-Asserted-Identity: <sip:+447700900123@carrier.example.net>",
)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: insert, replace, delete or repeat bytes, or add a header line."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if kind == 0:
            buf[at:at] = rng.choice(TOKENS)
        elif kind == 1:
            buf[at : at + rng.randint(1, 8)] = rng.choice(TOKENS)
        elif kind == 2:
            del buf[at : at + rng.randint(1, 12)]
        elif kind == 3:
            start = buf.find(b"\r\n", at)
            end = buf.find(b"\r\n", start + 2) if start >= 0 else -1
            if 0 <= start < end:
                buf[end:end] = buf[start:end]  # a header line twice
        elif kind == 4:
            first = buf.find(b"\r\n")
            if first >= 0:
                buf[first + 2 : first + 2] = rng.choice(LINES) + b"\r\n"
        else:
            digit = buf.find(b"1234567890"[rng.randrange(10) : rng.randrange(10) + 1], at)
            if digit >= 0:
                buf[digit : digit + 1] = rng.choice((b"\xb2", b"\xb3", b"\xb9"))
    return bytes(buf)


def torture_requests() -> list[bytes]:
    """The RFC 4475 and RFC 5118 requests that are parsed and forwardable (their wire bytes)."""
    out: list[bytes] = []
    for suite in ("rfc4475", "rfc5118"):
        rows = manifest(suite)
        assert rows and CONFORMANCE.is_dir(), MISSING
        for row in rows:
            data = load(suite, row)
            if suite == "rfc5118":
                data = wire(row["name"], data)
            try:
                msg = parse_datagram(data)
                if isinstance(msg, Request):
                    check_forwardable(msg)
                    out.append(msg.raw)
            except SipError:
                continue
    return out
