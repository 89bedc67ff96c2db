"""Transports in our routing headers: Via TLS, Record-Route across transports (RFC 5658), sips: (RFC 5630)."""

from __future__ import annotations

import pytest

from antibot.proxy import routing
from antibot.proxy.contexts import Context
from antibot.proxy.effects import Addr
from antibot.proxy.routing import Listener, LocalIdentity, forwarded, uri_target
from antibot.proxy.targets import RouteInfo, request_targets
from antibot.proxy.upstreams import Upstream, UpstreamPool
from antibot.sip.errors import SipError
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram

ME = LocalIdentity(
    [
        Listener("udp", "192.0.2.1", 5060, "192.0.2.1"),
        Listener("tcp", "192.0.2.1", 5060, "192.0.2.1"),
        Listener("tls", "192.0.2.1", 5061, "192.0.2.1"),
    ],
    b"route-secret-for-tests",
)
CALLER_TLS = Addr("tls", "198.51.100.7", 40000)
UDP_PBX = Upstream("sip:10.0.0.5:5060", Addr("udp", "10.0.0.5", 5060))
TLS_PBX = Upstream("sip:10.0.0.6:5061;transport=tls", Addr("tls", "10.0.0.6", 5061))


def _invite(uri: str = "sip:100@192.0.2.1", transport: str = "TLS") -> Request:
    msg = parse_datagram(
        (
            f"INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/{transport} 198.51.100.7:40000;branch=z9hG4bK-1;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:a@198.51.100.7>;tag=1\r\nTo: <sip:100@192.0.2.1>\r\n"
            "Call-ID: tls-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(msg, Request)
    return msg


def _forward(req: Request, source: Addr, dest: Addr) -> str:
    ctx = Context(req, source, None)
    ctx.record_route = True
    return forwarded(ME, ctx, req, dest, "z9hG4bK-ab0000000000.1").decode()


def _headers(text: str, name: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in text.split("\r\n") if line.lower().startswith(name.lower() + ":")]


def test_tls_caller_to_udp_pbx_gets_two_record_routes_and_a_udp_via() -> None:
    """RFC 5658: one Record-Route per side, the side towards the PBX on top, each naming its transport."""
    out = _forward(_invite(), CALLER_TLS, UDP_PBX.addr)
    rr = _headers(out, "Record-Route")
    assert rr[0].startswith("<sip:192.0.2.1:5060;lr;abt=")
    assert rr[1].startswith("<sip:192.0.2.1:5061;transport=tls;lr;abt=")
    assert _headers(out, "Via")[0].startswith("SIP/2.0/UDP 192.0.2.1:5060;")


def test_udp_caller_to_tls_pbx_gets_a_tls_via_and_two_record_routes() -> None:
    out = _forward(_invite(transport="UDP"), Addr("udp", "198.51.100.7", 5060), TLS_PBX.addr)
    rr = _headers(out, "Record-Route")
    assert rr[0].startswith("<sip:192.0.2.1:5061;transport=tls;lr;abt=") and rr[1].startswith("<sip:192.0.2.1:5060;lr")
    assert _headers(out, "Via")[0].startswith("SIP/2.0/TLS 192.0.2.1:5061;")


def test_tls_to_tls_gets_one_record_route() -> None:
    out = _forward(_invite(), CALLER_TLS, TLS_PBX.addr)
    assert len(_headers(out, "Record-Route")) == 1


def test_a_sips_request_gets_one_sips_record_route() -> None:
    """RFC 3261 §16.6 step 4: a SIPS Request-URI makes our Record-Route a SIPS URI."""
    out = _forward(_invite("sips:100@192.0.2.1"), CALLER_TLS, TLS_PBX.addr)
    rr = _headers(out, "Record-Route")
    assert len(rr) == 1 and rr[0].startswith("<sips:192.0.2.1:5061;lr;abt="), rr
    assert ME.route_is_me(parse_datagram(f"BYE sip:a@b SIP/2.0\r\nRoute: {rr[0]}\r\n".encode() + _rest()).routes[0])


def _rest() -> bytes:
    return (
        b"Via: SIP/2.0/TLS 10.0.0.6;branch=z9hG4bK-2\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\n"
        b"Call-ID: tls-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("uri", "addr"),
    [
        ("sip:10.0.0.6;transport=tls", Addr("tls", "10.0.0.6", 5061)),
        ("sips:10.0.0.6", Addr("tls", "10.0.0.6", 5061)),
        ("sips:10.0.0.6:5071;transport=tcp", Addr("tls", "10.0.0.6", 5071)),  # TLS over TCP, never plain
        ("sip:10.0.0.6;transport=tcp", Addr("tcp", "10.0.0.6", 5060)),
    ],
)
def test_uri_targets(uri: str, addr: Addr) -> None:
    assert uri_target(uri) == addr


def test_responses_to_a_tls_request_go_back_on_its_connection() -> None:
    req = _invite()
    assert routing.response_dest(req.top_via, CALLER_TLS) == CALLER_TLS


def _targets(uri: str, pool: UpstreamPool) -> list[Addr]:
    req = _invite(uri)
    targets, decide = request_targets(ME, pool, req, RouteInfo(ME, req), CALLER_TLS, 0.0, False)
    assert decide
    return [addr for addr, _ in targets]


def test_a_sips_request_goes_only_to_tls_upstreams() -> None:
    pool = UpstreamPool([UDP_PBX, Upstream(TLS_PBX.uri, TLS_PBX.addr, priority=2)])
    assert _targets("sip:100@192.0.2.1", pool) == [UDP_PBX.addr, TLS_PBX.addr]
    assert _targets("sips:100@192.0.2.1", pool) == [TLS_PBX.addr]


def test_a_sips_request_without_a_tls_upstream_is_refused_not_downgraded() -> None:
    with pytest.raises(SipError) as err:
        _targets("sips:100@192.0.2.1", UpstreamPool([UDP_PBX]))
    assert err.value.status == 416


def test_our_via_offers_the_connection_on_tls_hops_only() -> None:
    """RFC 5923: the connection's initiator puts ``alias`` in its Via; never over UDP or TCP."""
    assert _headers(_forward(_invite(), CALLER_TLS, TLS_PBX.addr), "Via")[0].endswith(";rport;alias")
    assert "alias" not in _headers(_forward(_invite(), CALLER_TLS, UDP_PBX.addr), "Via")[0]
    tcp = Addr("tcp", "10.0.0.7", 5060)
    assert "alias" not in _headers(_forward(_invite(), CALLER_TLS, tcp), "Via")[0]
    assert b";rport;alias\r\n" in ME.probe_request(TLS_PBX.addr, "z9hG4bK-ab0000000000.2", 1)


def test_tls_alias_off_leaves_our_via_without_it() -> None:
    me = LocalIdentity(ME.listeners, b"route-secret-for-tests", alias=False)
    ctx = Context(_invite(), CALLER_TLS, None)
    out = forwarded(me, ctx, _invite(), TLS_PBX.addr, "z9hG4bK-ab0000000000.1").decode()
    assert _headers(out, "Via")[0].endswith(";branch=z9hG4bK-ab0000000000.1;rport")
