"""RFC 5118 IPv6 torture messages: one test per message, named by it (``test_message[ipv6-good]``...)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from antibot.proxy.effects import Addr
from antibot.sip.address import parse_name_addr
from antibot.sip.errors import ParseError, SipError
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram
from antibot.sip.uri import HostPort, parse_uri

from ._support import OUR_HOP, assert_forwarded, assert_reply, load, manifest, params, through_proxy

SUITE = "rfc5118"
V6_SOURCE = Addr("udp", "2001:db8::9:1", 5060)

#: Archive artifacts (SOURCE.md): these Content-Length values match neither the LF body
#: (242 and 180 bytes) nor a CRLF one. The RFC authors' intent is a correct length, so the
#: harness puts the real body length in; no other byte changes.
CONTENT_LENGTH_ARTIFACTS = {"ipv6-in-sdp": b"Content-Length: 268\r\n", "mult-ip-in-sdp": b"Content-Length: 181\r\n"}


def wire(name: str, raw: bytes) -> bytes:
    """The archive's LF-only file as it would travel: CRLF header lines, header section closed.

    Only the header section is converted: the bodies (SDP) stay as archived, so that
    ipv4-mapped-ipv6, whose Content-Length equals its LF body, stays consistent. The two
    4.10 messages have no empty line after the headers, so one is added.
    """
    assert b"\r" not in raw
    head, sep, body = raw.partition(b"\n\n")
    data = head.replace(b"\n", b"\r\n").rstrip(b"\r\n") + b"\r\n\r\n" + body
    if not sep:
        assert name.startswith("ipv6-") and "abnf" in name, f"{name}: unexpected unterminated header section"
    if name in CONTENT_LENGTH_ARTIFACTS:
        bad = CONTENT_LENGTH_ARTIFACTS[name]
        assert bad in data, f"{name}: the documented Content-Length artifact is gone"
        data = data.replace(bad, b"Content-Length: %d\r\n" % len(body))
    return data


def _hostport(uri: str) -> HostPort:
    return parse_uri(uri).host


def _good(msg: Request | Response, data: bytes) -> None:
    assert isinstance(msg, Request)
    assert _hostport(msg.uri) == HostPort("2001:db8::10", None)
    assert msg.vias[0].sent_by == HostPort("2001:db8::9:1", None)
    contact = parse_name_addr(msg.values("contact")[0], "Contact")
    assert _hostport(contact.uri) == HostPort("2001:db8::1", None)
    # The proxy forwards it: bracketed references untouched, Path on top.
    (out,) = through_proxy(data, V6_SOURCE).sent
    lines = assert_forwarded(data, out, [f"Path: {OUR_HOP}"], V6_SOURCE)
    assert 'Contact: "Caller" <sip:caller@[2001:db8::1]>' in lines


def _ambiguous(msg: Request | Response, data: bytes) -> None:
    assert isinstance(msg, Request)
    assert _hostport(msg.uri) == HostPort("2001:db8::10:5070", None)  # all of it is the address


def _unambiguous(msg: Request | Response, data: bytes) -> None:
    assert isinstance(msg, Request)
    assert _hostport(msg.uri) == HostPort("2001:db8::10", 5070)
    assert _hostport(msg.uri).render() == "[2001:db8::10]:5070"


def _received_with_delim(msg: Request | Response, data: bytes) -> None:
    via = msg.vias[0]
    assert (via.sent_by, via.param("received"), via.branch) == (
        HostPort("2001:db8::9:1", None), "[2001:db8::9:255]", "z9hG4bKas3-111",
    )  # fmt: skip
    assert via.response_address() == ("2001:db8::9:255", 5060)


def _received_no_delim(msg: Request | Response, data: bytes) -> None:
    via = msg.vias[0]
    assert (via.param("received"), via.branch) == ("2001:db8::9:255", "z9hG4bKas3")
    assert via.response_address() == ("2001:db8::9:255", 5060)


def _in_sdp(msg: Request | Response, data: bytes) -> None:
    assert len(msg.body) == 242
    assert b"c=IN IP6 2001:db8::20\n" in msg.body and msg.body.endswith(b"H263-1998/90000\n")


def _mult_header(msg: Request | Response, data: bytes) -> None:
    assert [(v.transport, v.sent_by, v.param("received")) for v in msg.vias] == [
        ("UDP", HostPort("2001:db8::9:1", 6050), None),
        ("UDP", HostPort("192.0.2.1", None), None),
        ("TCP", HostPort("2001:db8::9:255", None), "192.0.2.200"),
    ]
    assert msg.vias[2].response_address() == ("192.0.2.200", 5060)


def _mult_sdp(msg: Request | Response, data: bytes) -> None:
    assert len(msg.body) == 180
    assert msg.body.endswith(b"c=IN IP6 2001:db8::1\na=rtpmap:107 H263-1998/90000\n")


def _mapped(msg: Request | Response, data: bytes) -> None:
    assert [v.sent_by for v in msg.vias] == [HostPort("::ffff:192.0.2.10", 19823), HostPort("::ffff:192.0.2.2", None)]
    contact = parse_name_addr(msg.values("contact")[0], "Contact")
    assert (contact.display, _hostport(contact.uri).host) == ('"T. desk phone"', "::ffff:192.0.2.2")
    assert len(msg.body) == 236 and msg.body.startswith(b"v=0\n")


def _three_colons(msg: Request | Response, data: bytes) -> None:
    assert isinstance(msg, Request) and msg.method == "OPTIONS"
    assert _hostport(msg.uri) == HostPort("2001:db8:::192.0.2.1", None)  # tolerated (RFC 5118 §4.10)
    assert _hostport(msg.to.uri).host == "2001:db8:::192.0.2.1"


def _two_colons(msg: Request | Response, data: bytes) -> None:
    assert isinstance(msg, Request)
    assert _hostport(msg.uri) == HostPort("2001:db8::192.0.2.1", None)
    assert msg.body == b""


VALID: dict[str, Callable[[Request | Response, bytes], None]] = {
    "ipv6-good": _good,
    "port-ambiguous": _ambiguous,
    "port-unambiguous": _unambiguous,
    "via-received-param-with-delim": _received_with_delim,
    "via-received-param-no-delim": _received_no_delim,
    "ipv6-in-sdp": _in_sdp,
    "mult-ip-in-header": _mult_header,
    "mult-ip-in-sdp": _mult_sdp,
    "ipv4-mapped-ipv6": _mapped,
    "ipv6-bug-abnf-3-colons": _three_colons,
    "ipv6-correct-abnf-2-colons": _two_colons,
}
INVALID = {"ipv6-bad"}


def test_manifest_matches_the_expectations() -> None:
    names = [row["name"] for row in manifest(SUITE)]
    assert len(names) == 12, f"no complete {SUITE} manifest"
    assert set(names) == set(VALID) | INVALID


@pytest.mark.parametrize("row", params(SUITE))
def test_message(row: dict[str, str] | None) -> None:
    name = row["name"] if row is not None else ""
    data = wire(name, load(SUITE, row))
    if name in INVALID:
        with pytest.raises(SipError) as info:
            parse_datagram(data)
        assert type(info.value) is ParseError and info.value.status == 400
        assert "db8::10" in info.value.reason  # the unbracketed address is what is wrong
        reason, _ = assert_reply(through_proxy(data, V6_SOURCE), 400, V6_SOURCE)
        assert reason == info.value.reason
        return
    msg = parse_datagram(data)
    assert "".join(h.line for h in msg.headers) == data[: data.index(b"\r\n\r\n") + 2].decode().split("\r\n", 1)[1]
    length = msg.header("content-length")
    assert length is not None and len(msg.body) == int(length)
    VALID[name](msg, data)
