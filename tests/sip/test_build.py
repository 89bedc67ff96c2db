"""Building outgoing messages: forwarding (RFC 3261 §16.6, §16.7), responses (§8.2.6), ACK and CANCEL."""

from __future__ import annotations

import pytest

from antibot.sip import build
from antibot.sip.errors import ParseError
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram

OUR_VIA = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ab1;rport"

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP a.example.com;branch=z9hG4bKa, SIP/2.0/UDP b.example.com;branch=z9hG4bKb\r\n"
    b"VIA: SIP/2.0/TCP c.example.com;branch=z9hG4bKc\r\n"
    b"Record-Route: <sip:rr.example.com;lr>\r\n"
    b"route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Route: <sip:p3.example.com;lr>\r\n"
    b"MaX-fOrWaRdS: 0068\r\n"
    b'From: "Alice" <sip:alice@example.com>;tag=a1\r\n'
    b"t: <sip:bob@example.com>\r\n"
    b"Call-ID: c1@example.com\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Subject: folded\r\n  subject line\r\n"
    b"X-Antibot-Verdict: relay\r\n"
    b"Contact: <sip:alice@192.0.2.1>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def invite(data: bytes = INVITE) -> Request:
    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    return msg


def lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_forward_keeps_every_line_and_pushes_our_via_on_top() -> None:
    out = build.forward_request(invite(), via=OUR_VIA)
    original = INVITE.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert lines(out)[0] == original[0]
    assert lines(out)[1] == b"Via: " + OUR_VIA.encode()
    kept = [line.replace(b"MaX-fOrWaRdS: 0068", b"MaX-fOrWaRdS: 67") for line in original[1:]]
    assert lines(out)[2:] == kept  # order, spelling, compact names and folding byte for byte
    assert out.endswith(b"\r\n\r\nv=0\n")
    again = invite(out)
    assert [v.sent_by.host for v in again.vias] == ["10.0.0.1", "a.example.com", "b.example.com", "c.example.com"]
    assert again.max_forwards == 67


def test_forward_adds_max_forwards_and_content_length_when_absent() -> None:
    data = INVITE.replace(b"MaX-fOrWaRdS: 0068\r\n", b"").replace(b"Content-Length: 4\r\n", b"")
    out = build.forward_request(invite(data), via=OUR_VIA)
    assert lines(out)[-2:] == [b"Max-Forwards: 70", b"Content-Length: 4"]
    assert invite(out).max_forwards == 70


def test_record_route_goes_on_top_above_the_existing_one() -> None:
    top = [("Record-Route", "<sip:10.0.0.1;lr>"), ("Record-Route", "<sip:10.0.0.2;transport=tcp;lr>")]
    out = build.forward_request(invite(), via=OUR_VIA, top=top)
    assert lines(out)[1:4] == [
        b"Record-Route: <sip:10.0.0.1;lr>",
        b"Record-Route: <sip:10.0.0.2;transport=tcp;lr>",
        b"Via: " + OUR_VIA.encode(),
    ]
    assert invite(out).values("record-route") == [
        "<sip:10.0.0.1;lr>", "<sip:10.0.0.2;transport=tcp;lr>", "<sip:rr.example.com;lr>",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pop", "routes"),
    [
        (0, [b"route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>", b"Route: <sip:p3.example.com;lr>"]),
        (1, [b"route: <sip:p2.example.com;lr>", b"Route: <sip:p3.example.com;lr>"]),
        (2, [b"Route: <sip:p3.example.com;lr>"]),
        (3, []),
    ],
)
def test_pop_routes_removes_only_the_requested_values(pop: int, routes: list[bytes]) -> None:
    out = build.forward_request(invite(), via=OUR_VIA, pop_routes=pop)
    assert [line for line in lines(out) if line.lower().startswith(b"route:")] == routes
    assert b"Record-Route: <sip:rr.example.com;lr>" in lines(out)


def test_antibot_headers_are_stripped_only_when_asked_and_added_ones_appended() -> None:
    kept = build.forward_request(invite(), via=OUR_VIA)
    assert b"X-Antibot-Verdict: relay" in lines(kept)
    add = [("X-Antibot-Score", "0.9"), ("X-Antibot-Verdict", "suspect")]
    stripped = build.forward_request(invite(), via=OUR_VIA, strip_antibot=True, add=add)
    out = lines(stripped)
    assert b"X-Antibot-Verdict: relay" not in out
    assert out[-2:] == [b"X-Antibot-Score: 0.9", b"X-Antibot-Verdict: suspect"]
    assert len(out) == len(lines(kept)) - 1 + 2


def test_forward_can_replace_uri_and_top_via_value() -> None:
    fixed = "SIP/2.0/UDP a.example.com;branch=z9hG4bKa;received=192.0.2.9"
    out = build.forward_request(invite(), via=OUR_VIA, uri="sip:bob@10.0.0.9", top_via=fixed)
    assert lines(out)[0] == b"INVITE sip:bob@10.0.0.9 SIP/2.0"
    assert lines(out)[2] == b"v: " + fixed.encode() + b", SIP/2.0/UDP b.example.com;branch=z9hG4bKb"
    assert lines(out)[3] == b"VIA: SIP/2.0/TCP c.example.com;branch=z9hG4bKc"


RESPONSE = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ab1;rport=5060, SIP/2.0/UDP a.example.com;branch=z9hG4bKa\r\n"
    b"v: SIP/2.0/TCP c.example.com;branch=z9hG4bKc\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:bob@example.com>;tag=b2\r\n"
    b"Call-ID: c1@example.com\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Content-Length: 3\r\n"
    b"\r\n"
    b"abc"
)


def test_forward_response_removes_exactly_the_top_via_value_from_a_shared_line() -> None:
    resp = parse_datagram(RESPONSE)
    assert isinstance(resp, Response)
    out = build.forward_response(resp)
    expected = RESPONSE.replace(b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ab1;rport=5060, ", b"")
    assert out == expected
    assert [v.sent_by.host for v in parse_datagram(out).vias] == ["a.example.com", "c.example.com"]


def test_forward_response_drops_a_via_line_holding_one_value() -> None:
    data = RESPONSE.replace(b", SIP/2.0/UDP a.example.com;branch=z9hG4bKa", b"")
    resp = parse_datagram(data)
    assert isinstance(resp, Response)
    out = build.forward_response(resp)
    assert out == data.replace(b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-ab1;rport=5060\r\n", b"")
    assert [v.sent_by.host for v in parse_datagram(out).vias] == ["c.example.com"]


def test_response_copies_the_transaction_headers_and_tags_to() -> None:
    req = invite()
    out = build.response(req.headers, 486, "Busy Here", to_tag="t9", extra=[("Retry-After", "30")])
    assert lines(out) == [
        b"SIP/2.0 486 Busy Here",
        b"v: SIP/2.0/UDP a.example.com;branch=z9hG4bKa, SIP/2.0/UDP b.example.com;branch=z9hG4bKb",
        b"VIA: SIP/2.0/TCP c.example.com;branch=z9hG4bKc",
        b'From: "Alice" <sip:alice@example.com>;tag=a1',
        b"t: <sip:bob@example.com>;tag=t9",
        b"Call-ID: c1@example.com",
        b"CSeq: 7 INVITE",
        b"Retry-After: 30",
        b"Server: antibot",
        b"Content-Length: 0",
    ]
    resp = parse_datagram(out)
    assert isinstance(resp, Response) and (resp.status, resp.to_tag, resp.body) == (486, "t9", b"")


def test_response_100_has_no_to_tag_and_others_get_a_random_one() -> None:
    req = invite()
    trying = parse_datagram(build.response(req.headers, 100, "Trying"))
    assert trying.to_tag is None
    ringing = parse_datagram(build.response(req.headers, 180, "Ringing"))
    assert ringing.to_tag is not None and len(ringing.to_tag) == 12


def test_response_keeps_an_existing_to_tag() -> None:
    req = invite(INVITE.replace(b"t: <sip:bob@example.com>", b"t: <sip:bob@example.com> ; tag = x1"))
    out = build.response(req.headers, 200, "OK", to_tag="new")
    assert b"\r\nt: <sip:bob@example.com> ; tag = x1\r\n" in out and b"new" not in out


def test_response_to_repeated_headers_copies_one_of_each() -> None:
    dup = INVITE.replace(b"CSeq: 7 INVITE\r\n", b"CSeq: 7 INVITE\r\nCall-ID: other\r\nt: <sip:carol@example.com>\r\n")
    with pytest.raises(ParseError) as info:
        parse_datagram(dup)
    out = build.response(info.value.headers, 400, info.value.reason, to_tag="t1")
    assert lines(out)[0] == b"SIP/2.0 400 more than one Call-ID header"
    assert lines(out)[3:7] == [
        b'From: "Alice" <sip:alice@example.com>;tag=a1',
        b"t: <sip:bob@example.com>;tag=t1",
        b"Call-ID: c1@example.com",
        b"CSeq: 7 INVITE",
    ]
    assert b"other" not in out and b"carol" not in out


def _final(status: int) -> Response:
    resp = parse_datagram(
        f"SIP/2.0 {status} Nope\r\n"
        "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKa, SIP/2.0/UDP b.example.com;branch=z9hG4bKb\r\n"
        'From: "Alice" <sip:alice@example.com>;tag=a1\r\n'
        "To: <sip:bob@example.com>;tag=uas9\r\n"
        "Call-ID: c1@example.com\r\nCSeq: 7 INVITE\r\n"
        "Contact: <sip:bob@192.0.2.9>\r\nContent-Length: 0\r\n\r\n".encode()
    )
    assert isinstance(resp, Response)
    return resp


def test_ack_for_a_non_2xx_final_follows_rfc3261_17_1_1_3() -> None:
    req = invite()
    out = build.ack_for(req, _final(486))
    assert lines(out) == [
        b"ACK sip:bob@example.com SIP/2.0",  # same Request-URI
        b"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKa",  # only the INVITE's top Via value
        b"route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",  # the INVITE's Route headers
        b"Route: <sip:p3.example.com;lr>",
        b"MaX-fOrWaRdS: 0068",
        b'From: "Alice" <sip:alice@example.com>;tag=a1',
        b"t: <sip:bob@example.com>;tag=uas9",  # To of the response, with its tag
        b"Call-ID: c1@example.com",
        b"CSeq: 7 ACK",  # same number, method ACK
        b"Content-Length: 0",
    ]
    ack = parse_datagram(out)
    assert isinstance(ack, Request) and ack.body == b"" and ack.cseq_method == "ACK"
    assert ack.vias[0].branch == req.vias[0].branch and ack.to_tag == "uas9"


def test_cancel_follows_rfc3261_9_1() -> None:
    req = invite()
    out = build.cancel_for(req)
    assert lines(out) == [
        b"CANCEL sip:bob@example.com SIP/2.0",
        b"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKa",  # single Via = top Via of the INVITE
        b"route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
        b"Route: <sip:p3.example.com;lr>",
        b"MaX-fOrWaRdS: 0068",
        b'From: "Alice" <sip:alice@example.com>;tag=a1',
        b"t: <sip:bob@example.com>",  # identical To: no tag
        b"Call-ID: c1@example.com",
        b"CSeq: 7 CANCEL",
        b"Content-Length: 0",
    ]
    cancel = parse_datagram(out)
    assert isinstance(cancel, Request) and (cancel.method, cancel.cseq, cancel.to_tag) == ("CANCEL", 7, None)
