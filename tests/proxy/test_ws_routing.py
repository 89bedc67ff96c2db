"""WebSocket clients in the core (RFC 7118): Via WS, two Record-Routes (RFC 5658) whose WebSocket
side names the connection, and requests from the PBX delivered back over that connection."""

from __future__ import annotations

from antibot.proxy.config import CoreConfig
from antibot.proxy.core import ProxyCore
from antibot.proxy.effects import Addr
from antibot.proxy.routing import Listener, LocalIdentity, flow_param, flow_target
from antibot.proxy.upstreams import Upstream, UpstreamPool
from antibot.sip.message import Request, Response, Route

from .conftest import PBX1, Harness, only, parsed, reply

BROWSER = Addr("ws", "198.51.100.7", 51000)
OTHER_BROWSER = Addr("ws", "198.51.100.8", 52000)


def _core() -> Harness:
    me = LocalIdentity(
        [Listener("udp", "127.0.0.1", 5060, "127.0.0.1"), Listener("ws", "127.0.0.1", 8088, "127.0.0.1")],
        b"route-secret-for-tests",
    )
    return Harness(ProxyCore(me, UpstreamPool([Upstream("sip:127.0.0.1:5080", PBX1)]), CoreConfig()))


def _invite(call_id: str = "ws-1") -> bytes:
    """An INVITE as JsSIP sends it: a ``.invalid`` Via host and Contact (RFC 7118 §5)."""
    return (
        "INVITE sip:100@127.0.0.1:8088 SIP/2.0\r\n"
        "Via: SIP/2.0/WS abcdef.invalid;branch=z9hG4bK-ws1\r\n"
        "Max-Forwards: 69\r\nFrom: <sip:alice@example.com>;tag=ft1\r\nTo: <sip:100@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
        "Contact: <sip:u1@abcdef.invalid;transport=ws;ob>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _headers(data: bytes, name: str) -> list[str]:
    lines = data.decode().split("\r\n")
    return [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith(name.lower() + ":")]


def _answered(h: Harness, call_id: str = "ws-1", source: Addr = BROWSER) -> bytes:
    """Relay the browser's INVITE, answer it 200 from the PBX; the INVITE as the PBX got it."""
    out = h.call(_invite(call_id), source)
    assert [t.dest for t in out] == [source, PBX1]  # 100 Trying, the INVITE
    sent = out[1]
    out = h.feed(reply(sent.data, 200, "OK"), PBX1)
    assert [t.dest for t in out] == [source]
    assert isinstance(parsed(out[0]), Response)
    return sent.data


def test_a_websocket_call_gets_a_ws_record_route_naming_its_connection() -> None:
    h = _core()
    invite = _answered(h)
    rr = _headers(invite, "Record-Route")
    assert rr[0].startswith("<sip:127.0.0.1:5060;lr;abt=")  # towards the PBX, on top
    assert rr[1].startswith("<sip:127.0.0.1:8088;transport=ws;lr;abt=")
    assert rr[1].endswith(f";abf={flow_param(BROWSER)}>"), rr
    assert _headers(invite, "Via")[1].endswith(";rport=51000;received=198.51.100.7")  # found again statelessly


def test_the_pbx_bye_goes_back_over_the_callers_websocket() -> None:
    """The BYE's Request-URI is the browser's ``.invalid`` Contact: the Route entry finds the flow."""
    h = _core()
    invite = _answered(h)
    route = ", ".join(_headers(invite, "Record-Route"))  # the callee's route set: in order (§12.1.1)
    bye = (
        "BYE sip:u1@abcdef.invalid;transport=ws;ob SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-pbxbye;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:100@127.0.0.1>;tag=pbx-1\r\nTo: <sip:alice@example.com>;tag=ft1\r\n"
        f"Call-ID: ws-1\r\nCSeq: 9 BYE\r\nRoute: {route}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    out = only(h.feed(bye, PBX1), BROWSER)
    msg = parsed(out)
    assert isinstance(msg, Request) and msg.method == "BYE"
    assert _headers(out.data, "Via")[0].startswith("SIP/2.0/WS 127.0.0.1:8088;branch=")
    assert not _headers(out.data, "Route")  # both of ours popped


def test_the_browsers_own_bye_goes_to_the_pbx() -> None:
    """The browser's Route set names its own connection on the first entry only: the last of ours
    faces the PBX, so the request goes by the Request-URI (the PBX's Contact)."""
    h = _core()
    invite = _answered(h)
    route = ", ".join(reversed(_headers(invite, "Record-Route")))  # the caller's: reversed (§12.1.2)
    bye = (
        "BYE sip:pbx@127.0.0.1:5080 SIP/2.0\r\n"
        "Via: SIP/2.0/WS abcdef.invalid;branch=z9hG4bK-wsbye\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=ft1\r\nTo: <sip:100@127.0.0.1>;tag=pbx-1\r\n"
        f"Call-ID: ws-1\r\nCSeq: 2 BYE\r\nRoute: {route}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    only(h.feed(bye, BROWSER), PBX1)


def test_an_outsider_cannot_steer_a_request_into_another_websocket() -> None:
    """A Route entry naming someone else's connection, sent from outside: refused (403)."""
    h = _core()
    invite = _answered(h, "ws-2", OTHER_BROWSER)
    theirs = _headers(invite, "Record-Route")[1]
    forged = (
        "MESSAGE sip:u1@abcdef.invalid;transport=ws SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-forged;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:x@203.0.113.9>;tag=x\r\nTo: <sip:alice@example.com>;tag=ft1\r\n"
        f"Call-ID: ws-2\r\nCSeq: 3 MESSAGE\r\nRoute: {theirs}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    out = h.decided(forged, Addr("udp", "203.0.113.9", 5060))
    assert all(t.dest != OTHER_BROWSER for t in out)
    assert [t.dest for t in out] == [Addr("udp", "203.0.113.9", 5060)]
    assert parsed(out[0]).status == 403  # type: ignore[union-attr]


def test_flow_values_that_do_not_name_a_websocket_are_ignored() -> None:
    def target(param: str) -> Addr | None:
        return flow_target(Route(f"<sip:127.0.0.1:8088;transport=ws;lr;abf={param}>"))

    assert target("ws~198.51.100.7~51000") == BROWSER
    assert target("wss~::1~443") == Addr("wss", "::1", 443)
    assert target("udp~198.51.100.7~5060") is None  # only ws/wss are reached by their flow
    assert target("ws~example.com~80") is None
    assert target("ws~198.51.100.7") is None
    assert flow_target(Route("<sip:127.0.0.1:5060;lr>")) is None
