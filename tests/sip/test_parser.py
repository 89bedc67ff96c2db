"""The sans-IO parser: header names and values, datagram framing, request/response checks."""

from __future__ import annotations

import pytest

from antibot.sip.errors import BadResponse, NotImplementedMethod, ParseError, UnsupportedUriScheme, VersionNotSupported
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram
from antibot.sip.via import parse_via

BASE = [
    "Via: SIP/2.0/UDP pc.example.com:5062;branch=z9hG4bK1",
    "From: <sip:alice@example.com>;tag=a1",
    "To: <sip:bob@example.com>",
    "Call-ID: c1@pc.example.com",
    "CSeq: 1 OPTIONS",
    "Max-Forwards: 70",
]


def raw(
    *headers: str, start: str = "OPTIONS sip:bob@example.com SIP/2.0", body: bytes = b"", base: bool = True
) -> bytes:
    head = [start, *(BASE if base else []), *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def request(data: bytes) -> Request:
    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    return msg


def refused(data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_datagram(data)
    return info.value


def test_compact_forms() -> None:
    data = raw(
        "v: SIP/2.0/UDP pc.example.com;branch=z9hG4bK2", "f: <sip:carol@example.com>;tag=c1", "t: sip:dave@example.com",
        "i: compact@pc", "CSeq: 4 OPTIONS", "m: <sip:carol@pc>", "c: text/plain", "s: hi", "k: path", "l: 2",
        base=False, body=b"ok",
    )  # fmt: skip
    msg = request(data)
    assert [h.key for h in msg.headers] == [
        "via", "from", "to", "call-id", "cseq", "contact", "content-type", "subject", "supported", "content-length",
    ]  # fmt: skip
    assert [h.name for h in msg.headers][:4] == ["v", "f", "t", "i"]
    assert (msg.call_id, msg.from_tag, msg.to.uri, msg.body) == ("compact@pc", "c1", "sip:dave@example.com", b"ok")
    assert msg.header("content-type") == "text/plain" and msg.values("contact") == ["<sip:carol@pc>"]


def test_names_are_case_insensitive_and_spelling_is_kept() -> None:
    data = raw(
        "vIA: SIP/2.0/UDP pc.example.com;branch=z9hG4bK2", "FROM: <sip:a@example.com>;TAG=x", "tO: <sip:b@example.com>",
        "CALL-id: case@pc", "cseq: 9 OPTIONS", "mAx-FoRwArDs: 5", "CONTENT-LENGTH: 0",
        base=False,
    )  # fmt: skip
    msg = request(data)
    assert [h.name for h in msg.headers] == ["vIA", "FROM", "tO", "CALL-id", "cseq", "mAx-FoRwArDs", "CONTENT-LENGTH"]
    assert (msg.call_id, msg.cseq, msg.max_forwards, msg.from_tag) == ("case@pc", 9, 5, "x")
    assert msg.header("max-forwards") == "5" and msg.has("call-id") and not msg.has("contact")


def test_comma_separated_and_repeated_headers_keep_their_order() -> None:
    msg = request(raw(
        "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK2, SIP/2.0/TCP p2.example.com;branch=z9hG4bK3",
        'Contact: "Doe, John" <sip:j@example.com;x=1>, <sip:k@example.com>',
        "Route: <sip:r1.example.com;lr>,<sip:r2.example.com;lr>",
        "Route: <sip:r3.example.com;lr>",
    ))  # fmt: skip
    assert [v.sent_by.host for v in msg.vias] == ["pc.example.com", "p1.example.com", "p2.example.com"]
    assert msg.values("contact") == ['"Doe, John" <sip:j@example.com;x=1>', "<sip:k@example.com>"]
    assert msg.values("route") == ["<sip:r1.example.com;lr>", "<sip:r2.example.com;lr>", "<sip:r3.example.com;lr>"]
    assert msg.header("route") == "<sip:r1.example.com;lr>,<sip:r2.example.com;lr>"  # first line, as is


def test_headers_with_commas_in_their_grammar_are_not_split() -> None:
    msg = request(raw(
        'Authorization: Digest username="alice", realm="example.com", nonce="n1"',
        "Date: Sat, 13 Nov 2010 23:29:00 GMT",
        "User-Agent: Phone/1.0 (build 7, beta)",
    ))  # fmt: skip
    assert msg.values("authorization") == ['Digest username="alice", realm="example.com", nonce="n1"']
    assert msg.values("date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
    assert msg.values("user-agent") == ["Phone/1.0 (build 7, beta)"]


def test_folded_values_are_unfolded_and_the_line_kept() -> None:
    msg = request(raw("Subject: first\r\n second\r\n\tthird", "X-Long:\r\n  only-continuation"))
    subject = next(h for h in msg.headers if h.key == "subject")
    assert subject.value == "first second third"
    assert subject.line == "Subject: first\r\n second\r\n\tthird\r\n"
    assert msg.header("x-long") == "only-continuation"


def test_datagram_framing_by_content_length() -> None:
    msg = request(raw("Content-Length: 3", body=b"abcdef"))
    assert (msg.body, msg.implicit_length) == (b"abc", False)
    assert msg.raw.endswith(b"\r\n\r\nabc")
    implicit = request(raw(body=b"rest of datagram"))
    assert (implicit.body, implicit.implicit_length) == (b"rest of datagram", True)
    same_twice = request(raw("Content-Length: 3", "l: 3", body=b"abc"))
    assert same_twice.body == b"abc"
    assert refused(raw("Content-Length: 3", "l: 2", body=b"abc")).reason == "more than one Content-Length header"
    assert refused(raw("Content-Length: 9", body=b"abc")).reason == "Content-Length larger than the datagram"


def test_headers_without_the_empty_line_are_tolerated_in_a_datagram() -> None:
    data = raw("Content-Length: 0")[:-2]
    assert request(data).body == b""
    assert refused(data[:-2]).reason == "header section not terminated"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Max-Forwards: 256", "bad Max-Forwards"),
        ("Max-Forwards: -1", "bad Max-Forwards"),
        ("Call-ID: second@pc", "more than one Call-ID header"),
        ("Bad Name: x", "bad header name 'Bad Name'"),
        ("no colon here", "header line without a name"),
        ("Contact: <sip:a@example.com>;;", "empty parameter in Contact"),
        ("Date: Sat, 13 Nov 2010 23:29:00 PST", "Date must be in GMT (RFC 3261 section 20.17)"),
    ],
)
def test_bad_header_is_a_400(header: str, reason: str) -> None:
    err = refused(raw(header).replace(b"Max-Forwards: 70\r\n", b"") if "Max" in header else raw(header))
    assert (err.status, err.reason) == (400, reason)
    assert err.reason.isascii()


@pytest.mark.parametrize(
    ("cseq", "ok"), [("4294967295 OPTIONS", True), ("4294967296 OPTIONS", False), ("1", False), ("x OPTIONS", False)]
)
def test_cseq_number_limit(cseq: str, ok: bool) -> None:
    data = raw(*[h for h in BASE if not h.startswith("CSeq")], f"CSeq: {cseq}", base=False)
    if ok:
        assert request(data).cseq == 2**32 - 1
    else:
        assert "CSeq" in refused(data).reason


def test_missing_mandatory_headers() -> None:
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        data = raw(*[h for h in BASE if not h.startswith(name + ":")], base=False)
        err = refused(data)
        assert err.reason == f"missing {name} header"
    assert (
        refused(raw(*[h for h in BASE if not h.startswith("Call-ID")], "Call-ID: ", base=False)).reason
        == "empty Call-ID"
    )


def test_request_line_checks() -> None:
    unknown = request(raw(*BASE[:4], "CSeq: 1 FOO", start="FOO sip:bob@example.com SIP/2.0", base=False))
    assert (unknown.method, unknown.cseq_method) == ("FOO", "FOO")
    with pytest.raises(NotImplementedMethod) as info:
        parse_datagram(raw(start="FOO sip:bob@example.com SIP/2.0"))  # CSeq says OPTIONS
    assert info.value.status == 501
    assert (
        refused(raw(start="INVITE sip:bob@example.com SIP/2.0")).reason
        == "CSeq method does not match the request method"
    )
    assert request(raw(start="OPTIONS tel:+15551234 SIP/2.0")).uri == "tel:+15551234"
    with pytest.raises(UnsupportedUriScheme) as scheme:
        parse_datagram(raw(start="OPTIONS mailto:bob@example.com SIP/2.0"))
    assert (scheme.value.status, scheme.value.reason) == (416, "unsupported URI scheme 'mailto'")
    assert refused(raw(start="OPTIONS bob SIP/2.0")).reason == "malformed Request-URI"
    with pytest.raises(VersionNotSupported) as version:
        parse_datagram(raw(start="OPTIONS sip:bob@example.com SIP/3.0"))
    assert version.value.status == 505
    assert refused(raw(start="OPTIONS sip:bob@example.com HTTP/1.1")).reason == "malformed request line"


def test_sip_version_is_case_insensitive() -> None:
    assert request(raw(start="OPTIONS sip:bob@example.com sip/2.0")).method == "OPTIONS"
    resp = parse_datagram(raw(start="sip/2.0 200 OK").replace(b"Max-Forwards: 70\r\n", b""))
    assert isinstance(resp, Response) and resp.status == 200


def test_reasons_never_echo_raw_bytes() -> None:
    err = refused(raw(start="OPTIONS sip:bob@ex\xe4mple." + "x" * 200 + " SIP/2.0"))
    assert err.reason.startswith("bad host 'ex\\xe4mple.xxx") and err.reason.isascii() and len(err.reason) < 60
    assert refused(raw("X-\xe9t\xe9: 1")).reason == "bad header name 'X-\\xe9t\\xe9'"
    scheme = "s" + "\xe9" * 100
    with pytest.raises(UnsupportedUriScheme) as info:
        parse_datagram(raw(start=f"OPTIONS {scheme}:x SIP/2.0"))
    assert info.value.reason.isascii() and len(info.value.reason) < 300


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        ("SIP/2.0 099 Early", "bad status code"),
        ("SIP/2.0 700 Late", "bad status code"),
        ("SIP/2.0 20 x", "bad status code"),
    ],
)
def test_bad_responses_are_dropped(start: str, reason: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_datagram(raw(start=start))
    assert (info.value.status, info.value.reason) == (None, reason)


def test_response_status_line_and_errors() -> None:
    ok = parse_datagram(raw(start="SIP/2.0 699 Some Reason Phrase"))
    assert isinstance(ok, Response) and (ok.status, ok.reason) == (699, "Some Reason Phrase")
    bare = parse_datagram(raw(start="SIP/2.0 100"))
    assert isinstance(bare, Response) and (bare.status, bare.reason) == (100, "")
    with pytest.raises(BadResponse) as info:  # any defect in a response: drop, never answer
        parse_datagram(raw(*BASE[:3], base=False, start="SIP/2.0 200 OK"))
    assert (info.value.status, info.value.reason) == (None, "discarded response: missing Call-ID header")


def test_a_refused_request_keeps_its_header_lines_for_the_400() -> None:
    err = refused(raw("Max-Forwards: 1"))
    assert [h.key for h in err.headers] == ["via", "from", "to", "call-id", "cseq", "max-forwards", "max-forwards"]
    # a repeated header before the end: every line after it is still there for the 400
    err = refused(raw("Call-ID: again@pc", "Subject: later"))
    assert err.reason == "more than one Call-ID header"
    assert [h.key for h in err.headers][-3:] == ["max-forwards", "call-id", "subject"]


def test_a_header_section_that_cannot_be_split_leaves_nothing_to_answer_with() -> None:
    for line in ("no colon here", "Bad Name: x"):
        assert refused(raw(line, "Subject: later")).headers == []


def test_via_values() -> None:
    via = parse_via("SIP / 2.0 / udp  [2001:db8::1] : 5070 ; Branch=z9hG4bKx ;received=192.0.2.1;rport=6000")
    assert (via.transport, via.sent_by.host, via.sent_by.port) == ("UDP", "2001:db8::1", 5070)
    assert via.params == (("branch", "z9hG4bKx"), ("received", "192.0.2.1"), ("rport", "6000"))
    assert via.response_address() == ("192.0.2.1", 6000)
    assert parse_via("SIP/2.0/TCP h.example.com;rport").response_address(5061) == ("h.example.com", 5061)
    assert parse_via("SIP/2.0/UDP h.example.com:5080").branch is None
    with pytest.raises(VersionNotSupported):
        parse_via("SIP/3.0/UDP h.example.com")
    for bad, reason in [
        ("SIP/2.0/UDP h.example.com;branch=z9hG4bK", "Via branch has no transaction identifier"),
        ("SIP/2.0/UDP ;branch=z9hG4bK1", "Via without sent-by"),
        ("XIP/2.0/UDP h.example.com", "bad Via protocol"),
        ("SIP/2.0/UDP h.example.com;;", "empty parameter in Via"),
    ]:
        with pytest.raises(ParseError) as info:
            parse_via(bad)
        assert info.value.reason == reason


def test_in_dialog_requests_keep_what_forwarding_does_not_use() -> None:
    """RFC 3261 §16.3 step 1: a proxy leaves alone what it does not need (here a bad Contact)."""
    base = (
        "{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-d1\r\n"
        "From: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.2>{to_tag}\r\nCall-ID: d1\r\n"
        "CSeq: 2 {method}\r\nContact: <sip:alice@192.0.2.1>;;\r\nContent-Length: 0\r\n\r\n"
    )
    bye = parse_datagram(base.format(method="BYE", to_tag=";tag=b1").encode())
    assert isinstance(bye, Request) and bye.to_tag == "b1" and bye.from_tag == "a1"
    with pytest.raises(ParseError, match="empty parameter in Contact"):
        parse_datagram(base.format(method="INVITE", to_tag="").encode())
