"""Message helpers: the tag of a From/To value read without a full parse (RFC 3261 §19.3)."""

from __future__ import annotations

import re

import pytest

from antibot.sip.address import parse_name_addr
from antibot.sip.errors import ParseError, SipError
from antibot.sip.message import Request, sip_uri_or_none, tag_of, uri_user
from antibot.sip.parser import parse_datagram

#: RFC 3261 §25.1 ``tag-param``, with the LWS the grammar allows around ';' and '='.
_REFERENCE = re.compile(r";\s*tag\s*=\s*([^;\s,>]+)", re.IGNORECASE)


def _reference(value: str) -> str | None:
    gt = value.rfind(">")
    m = _REFERENCE.search(value, gt + 1 if gt >= 0 else 0)
    return m.group(1) if m else None


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('"Caller 1" <sip:74951@127.0.0.1:5061>;tag=1234SIPpTag001', "1234SIPpTag001"),
        ("<sip:service@127.0.0.1:5060>", None),
        ("<sip:a@b>;tag=x;foo=bar", "x"),  # more parameters after the tag
        ("<sip:a@b>;foo=bar;tag=y", "y"),  # the tag is not the first parameter
        ("<sip:a@b> ; TAG = q", "q"),  # LWS and case (RFC 3261 §7.3.1, §19.3)
        ("<sip:a@b;tag=in-uri>;tag=hdr", "hdr"),  # a URI parameter is not the header's tag
        ("<sip:a@b;tag=in-uri>", None),
        ("sip:a@b;tag=1", "1"),  # addr-spec without <>
        ("sip:a@b;user=phone;tag=2", "2"),
        ("<sip:a@b>;tag=", None),  # empty: no tag
        ("<sip:a@b>;tag=abc def", "abc"),
        ("<sip:a@b>;tag=abc\xa0def", "abc"),  # latin-1 NBSP is white space to the grammar's regex
        ("<sip:a@b>;tag=a.b-c!d%e*f_g+h`i'j~k", "a.b-c!d%e*f_g+h`i'j~k"),  # every token character
        ("<sip:a@b>;tagx=1", None),
    ],
)
def test_tag_of(value: str, tag: str | None) -> None:
    assert tag_of(value) == tag == _reference(value)


@pytest.mark.parametrize(
    "value",
    ['"A" <sip:1@h>;tag=abc', "<sip:1@h>;Tag=Q1;x", "<sip:1@h>;x;tag=z", "sip:1@h;tag=t2"],
)
def test_tag_of_agrees_with_the_full_parse(value: str) -> None:
    assert tag_of(value) == parse_name_addr(value, "To").tag


# --- what a request parses once and keeps ----------------------------------------------

_ROUTED = (
    "BYE sip:bob@192.0.2.4 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
    "Route: <sip:192.0.2.2;lr;abt=x>, <sip:192.0.2.3:5070;transport=tcp;lr>\r\n"
    "Route: <tel:+15551234>\r\n"
    "Route: <sip:a@b;lr\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:+1-202-555-0199@gw.example.net;user=phone>;tag=a\r\n"
    "To: <sip:pbx.example.com>;tag=b\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
)


def _request(text: str) -> Request:
    req = parse_datagram(text.encode())
    assert isinstance(req, Request)
    return req


def test_the_route_set_is_parsed_once_with_its_errors() -> None:
    req = _request(_ROUTED)
    routes = req.routes
    assert req.routes is routes  # kept on the message
    assert [r.value for r in routes] == [
        "<sip:192.0.2.2;lr;abt=x>", "<sip:192.0.2.3:5070;transport=tcp;lr>", "<tel:+15551234>", "<sip:a@b;lr",
    ]  # fmt: skip
    first, second, tel, broken = routes
    assert first.uri == "sip:192.0.2.2;lr;abt=x" and first.parsed().param("abt") == "x"
    assert (second.parsed().host.port, second.parsed().transport) == (5070, "tcp")
    assert tel.uri == "tel:+15551234" and tel.sip_uri is None
    with pytest.raises(SipError):
        tel.parsed()  # not a SIP URI: its own error
    assert broken.addr is None and broken.sip_uri is None
    for _ in range(2):
        with pytest.raises(ParseError, match="Route"):
            broken.uri  # noqa: B018 - the stored error, each time


def test_parties_are_the_user_parts_parsed_once() -> None:
    req = _request(_ROUTED)
    assert req._parties is None  # nothing parsed before it is asked for
    # To has no user part: the callee is the Request-URI's
    assert req.parties == ("+1-202-555-0199", "bob")
    assert req._parties == ("+1-202-555-0199", "bob")  # kept (a compiled build boxes a new tuple each read)
    assert req.from_uri is req.from_uri and req.from_uri is not None
    assert req.from_uri.host.host == "gw.example.net"


@pytest.mark.parametrize(
    ("text", "user"),
    [
        ("sip:alice:secret@example.com", "alice"),
        ("sips:+44-20@gw;user=phone", "+44-20"),
        ("sip:example.com", ""),
        ("tel:+1-212-555-0123;phone-context=+1", "+1-212-555-0123"),
        ("TEL:911", "911"),
        ("mailto:bob@example.com", ""),
        ("sip:bob@bad_host", ""),  # a SIP URI that does not parse has no user
    ],
)
def test_uri_user(text: str, user: str) -> None:
    assert uri_user(text, sip_uri_or_none(text)) == user
