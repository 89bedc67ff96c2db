"""``check_forwardable``: what a proxy must neither forward nor score.

Each refused form is one the issue found relayed to the PBX (which then stayed silent) or
breaking the decision hook; each accepted form is one real traffic or RFC 4475/5118 uses.
"""

from __future__ import annotations

import pytest

from antibot.sip.errors import ParseError, SipError
from antibot.sip.headers import is_ascii_digits
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram, parse_stream
from antibot.sip.uri import is_host
from antibot.sip.validate import check_forwardable

from ._support import CONFORMANCE, MISSING, load, manifest
from .test_rfc5118 import wire


def invite(
    *,
    via: str = "",
    from_: str = '"Alice" <sip:1001@pbx.example.com>;tag=f1',
    to: str = "<sip:100@pbx.example.com>",
    contact: str = "<sip:1001@192.0.2.10:5062>",
    extra: str = "",
    method: str = "INVITE",
    cseq: str = "1",
    max_forwards: str = "70",
    length: str | None = None,
) -> bytes:
    """An INVITE (or ``method``) with the given header values; ``via`` lines go below the top Via."""
    body = "v=0\r\n"
    text = (
        f"{method} sip:100@pbx.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1;rport\r\n"
        f"{via}"
        f"Max-Forwards: {max_forwards}\r\n"
        f"From: {from_}\r\n"
        f"To: {to}\r\n"
        "Call-ID: c1@192.0.2.10\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: {contact}\r\n"
        f"{extra}"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n{body}"
    )
    return text.encode("latin-1")


def request(data: bytes) -> Request:
    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    return msg


def refused(data: bytes) -> SipError:
    """``data`` parses but check_forwardable refuses it with a 400."""
    with pytest.raises(SipError) as info:
        check_forwardable(request(data))
    assert info.value.status == 400
    return info.value


def test_a_plain_invite_is_forwardable() -> None:
    check_forwardable(request(invite()))


# ---------------------------------------------------------------- Via (all of them)
@pytest.mark.parametrize(
    "via",
    [
        "Via: SIP/2.0/UDP 1.2.3.4;x:y\r\n",  # the bypass: a second Via's bad parameter
        "Via: SIP/2.0/UDP 1.2.3.4;branch=\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;branch=a b\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;branch\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;;branch=z9hG4bK1\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;received=host.example.com\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;rport=x\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;rport=5\xb2\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;ttl=300\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;maddr=999.1.1.1\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4:5\xb2\r\n",
        "Via: SIP/2.0/UDP 999.1.1.1\r\n",
        "Via: SIP/2.0/UDP bad_host\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;x=\xe9\r\n",
        "Via: SIP/3.0/UDP 1.2.3.4\r\n",
        "Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1, SIP/2.0/UDP 5.6.7.8;x:y\r\n",  # in one line too
    ],
)
def test_every_via_is_checked(via: str) -> None:
    refused(invite(via=via))


def test_valid_lower_vias_pass() -> None:
    via = (
        "Via: SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bK9ikj8;received=192.0.2.7;rport=5070\r\n"
        "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKx;received=[2001:db8::9:255];maddr=[2001:db8::1];ttl=1\r\n"
        'v: SIP/2.0/UDP 192.0.2.1 ; branch = z9hG4bK-a ; other="quoted value"\r\n'
    )
    check_forwardable(request(invite(via=via)))


# ---------------------------------------------------------------- From, To, Contact, routes
@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("from_", '"Ali\nce" <sip:1001@pbx.example.com>;tag=f1'),  # bare LF in the display name
        ("from_", '"Ali\rce" <sip:1001@pbx.example.com>;tag=f1'),  # bare CR
        ("from_", "<sip:1001@999.1.1.1>;tag=f1"),  # a bogus dotted quad
        ("from_", "<sip:1001@10.0.0>;tag=f1"),
        ("from_", "<sip:1001@>;tag=f1"),  # empty host
        ("from_", "<sip:1001@pbx_1.example.com>;tag=f1"),  # illegal character
        ("from_", "<sip:1001@-pbx.example.com>;tag=f1"),
        ("from_", "<sip:1001@pbx.example.com:5\xb2>;tag=f1"),
        ("from_", "<sip:10\xe901@pbx.example.com>;tag=f1"),  # non-ASCII user
        ("from_", "<sip:1001@pbx.example.com>;tag=a\xe9"),
        ("from_", "<http://example.com>;tag=f1"),  # INVITE: SIP, SIPS or tel only
        ("to", "<sip:100@999.999.999.999>"),
        ("to", "<sip:100@pbx.example.com;transport=u{p}>"),
        ("to", "<sip:100@pbx.example.com;maddr=999.1.1.1>"),
        ("to", "<tel:+1 212>"),
        ("to", "<sip:100@pbx.example.com?a=<b>"),
        ("contact", "<sip:alice@1.2.3.4.5>"),
        ("contact", "<sip:alice@host:5\xb2>"),
        ("contact", "*"),  # only in REGISTER
        ("contact", "<sip:alice@192.0.2.10>, <sip:bob@bad..host>"),
    ],
)
def test_addresses_are_checked(header: str, value: str) -> None:
    refused(invite(**{header: value}))


@pytest.mark.parametrize(
    "extra",
    [
        "Route: <sip:127.0.0.1:5060;lr>, <http://example.com>\r\n",
        "Route: <sip:999.1.1.1;lr>\r\n",
        "Record-Route: <sip:proxy.example.com;lr>, <sip:c@-bad-;lr>\r\n",
        "Subject: hello\nworld\r\n",  # a bare LF in any header
    ],
)
def test_routes_and_other_lines_are_checked(extra: str) -> None:
    refused(invite(extra=extra))


def test_a_call_id_with_a_space_is_refused() -> None:
    refused(invite().replace(b"Call-ID: c1@192.0.2.10", b"Call-ID: c1 x@192.0.2.10"))


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("from_", '"J Rosenberg \\\\\\"" <sip:1001@pbx.example.com;user=phone>;tag=f1'),
        ("from_", "<tel:+1-202-555-0199;phone-context=example.com>;tag=t1"),
        ("from_", "<sips:%41lice@[2001:db8::1]:5061;transport=tls>;tag=f1"),
        ("from_", "Bob <sip:*21#@pbx.example.com>;tag=f1"),
        ("to", "sip:100@pbx.example.com"),
        ("to", "<sip:100@pbx.example.com.>"),
        ("contact", '<sip:alice@192.0.2.10:5062;ob>;+sip.instance="<urn:uuid:1>";expires=3600, <sip:a@b.example>'),
        ("contact", "<sip:alice@192.0.2.10?Route=%3Csip:x%3E>"),
    ],
)
def test_real_world_addresses_pass(header: str, value: str) -> None:
    check_forwardable(request(invite(**{header: value})))


def test_other_uri_schemes_pass_outside_invite() -> None:
    """RFC 4475 §3.3.4 (unksm2): a REGISTER with an isbn: To is forwarded; the registrar decides."""
    data = invite(method="REGISTER", from_="<http://www.example.com>;tag=1", to="isbn:2983792873", contact="*")
    check_forwardable(request(data))
    refused(invite(method="REGISTER", to="isbn:29 8"))


def test_valid_torture_requests_pass() -> None:
    """Every request of RFC 4475 and RFC 5118 the parser accepts is forwardable (the suites
    expect each to be accepted, forwarded, or answered by the proxy itself)."""
    checked = 0
    for suite in ("rfc4475", "rfc5118"):
        rows = manifest(suite)
        assert rows, MISSING
        for row in rows:
            data = load(suite, row)
            if suite == "rfc5118":
                data = wire(row["name"], data)
            try:
                msg = parse_datagram(data)
            except SipError:
                continue
            if isinstance(msg, Request):
                check_forwardable(msg)
                checked += 1
    assert checked == 32 and CONFORMANCE.is_dir(), checked  # 21 RFC 4475, 11 RFC 5118


# ---------------------------------------------------------------- hosts
@pytest.mark.parametrize(
    "host", ["example.com", "pbx", "a-b.example.com.", "1.example.com", "192.0.2.1", "010.0.0.1", "255.255.255.255"]
)
def test_hosts(host: str) -> None:
    assert is_host(host)


@pytest.mark.parametrize(
    "host",
    ["", "999.1.1.1", "256.0.0.1", "1.2.3", "1.2.3.4.5", "1.2.3.4.", "a..b", "-a.com", "a-.com", "a.1com",
     "a_b.com", "a b", "ex\xe9.com", "\xb2.example.com", "a" * 64 + ".com", "a." * 130 + "com"],
)  # fmt: skip
def test_bad_hosts(host: str) -> None:
    assert not is_host(host)


# ---------------------------------------------------------------- item 9: non-ASCII digits
def test_ascii_digits_only() -> None:
    assert is_ascii_digits("0123456789")
    for text in ("", "\xb2", "1\xb3", "\xb9", "\u0661", "\uff11", "1 2", "+1", "-1"):
        assert "\xb2".isdigit() and not is_ascii_digits(text), text


#: Superscript digits ("\xb2\xb3\xb9" in latin-1, as the parser decodes) in each number it reads.
SUPERSCRIPTS = {
    "via-port": invite().replace(b"192.0.2.10:5062;branch", b"192.0.2.10:50\xb2;branch"),
    "via-port-ipv6": invite().replace(b"192.0.2.10:5062;branch", b"[2001:db8::1]:50\xb2;branch"),
    "ruri-port": invite().replace(b"sip:100@pbx.example.com SIP", b"sip:100@pbx.example.com:5\xb9 SIP"),
    "cseq": invite(cseq="\xb9"),
    "max-forwards": invite(max_forwards="\xb2"),
    "content-length": invite(length="\xb3"),
    "content-length-mixed": invite(length="\xb35"),
    "huge-content-length": invite(length="9" * 5000),
    "huge-max-forwards": invite(max_forwards="0" * 4999 + "70"),
}


@pytest.mark.parametrize("name", list(SUPERSCRIPTS))
def test_non_ascii_digits_are_a_400_over_udp(name: str) -> None:
    with pytest.raises(SipError) as info:
        parse_datagram(SUPERSCRIPTS[name])
    assert type(info.value) is ParseError and info.value.status == 400
    assert any(h.key == "via" for h in info.value.headers)  # so the 400 can be routed back


@pytest.mark.parametrize("name", list(SUPERSCRIPTS))
def test_non_ascii_digits_are_an_error_on_a_stream(name: str) -> None:
    """Over TCP: a ParseError with the Via read, so the connection answers 400 before closing."""
    with pytest.raises(SipError) as info:
        parse_stream(bytearray(SUPERSCRIPTS[name]))
    assert type(info.value) is ParseError and info.value.status == 400
    assert any(h.key == "via" for h in info.value.headers)


@pytest.mark.parametrize(
    "data",
    [
        invite().replace(b"rport", b"rport=50\xb2"),
        invite(contact="<sip:alice@host:5\xb2>"),
        invite(via="Via: SIP/2.0/UDP 1.2.3.4:\xb9\r\n"),
    ],
)
def test_non_ascii_digits_read_later_are_a_400(data: bytes) -> None:
    refused(data)


def test_a_response_with_a_non_ascii_status_code_is_dropped() -> None:
    data = b"SIP/2.0 \xb2\xb3\xb9 OK\r\n" + invite().split(b"\r\n", 1)[1]
    with pytest.raises(SipError) as info:
        parse_datagram(data)
    assert info.value.status is None


def test_a_uri_accepted_outside_invite_is_still_refused_in_an_invite() -> None:
    """Valid URIs are remembered: an isbn: To that a REGISTER may carry must not make it
    acceptable in an INVITE afterwards (only SIP, SIPS and tel URIs are remembered)."""
    check_forwardable(request(invite(method="REGISTER", to="<isbn:2983792873>", contact="*")))
    assert "must be SIP, SIPS or tel" in refused(invite(to="<isbn:2983792873>")).reason
    check_forwardable(request(invite(method="REGISTER", to="<isbn:2983792873>", contact="*")))


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ("branch=z9hG4bK-a;rport=5062", ""),
        ("branch=z9hG4bK-a;rport", ""),
        ("branch=z9hG4bK-a;rport=70000", "bad Via rport"),
        ("branch=z9hG4bK-a;rport=5a", "bad Via rport"),
        ('branch=z9hG4bK-a;rport="5"', "bad Via rport"),
        ("branch=z9hG4bK-a;rport=5{", "bad parameter value in Via"),
        ('branch="z9hG4bK-a"', "bad Via branch"),
        ("branch=z9hG4bK{a", "bad parameter value in Via"),
        ("branch=z9hG4bK[a]", "bad Via branch"),
    ],
)
def test_lower_via_branch_and_rport(params: str, reason: str) -> None:
    """Each refusal keeps its reason: a bad character names the parameter value, a valid
    parameter value that is no token (branch) or no port (rport) names the parameter."""
    data = invite(via=f"Via: SIP/2.0/UDP 192.0.2.99:5060;{params}\r\n")
    if not reason:
        check_forwardable(request(data))
    else:
        assert refused(data).reason == reason
