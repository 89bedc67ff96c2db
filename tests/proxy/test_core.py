"""The proxy core end to end without sockets: a caller, the proxy, and one or two PBX targets."""

from __future__ import annotations

from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr
from antibot.sip.message import Request, Response

from .conftest import CALLER, PBX1, Harness, invite, only, parsed, reply, status_of


def relay_invite(h: Harness, data: bytes | None = None) -> bytes:
    """Send an INVITE through; return what reached the PBX."""
    out = h.call(data or invite())
    assert [e.dest for e in out] == [CALLER, PBX1]
    assert status_of(out[0]) == 100
    return out[1].data


def test_invite_is_forwarded_with_only_the_required_changes(h: Harness) -> None:
    original = invite(extra="X-Custom: keep me\r\n")
    fwd = relay_invite(h, original)
    msg = parsed_req(fwd)
    lines = fwd.split(b"\r\n")
    assert lines[0] == b"INVITE sip:100@127.0.0.1:5060 SIP/2.0"
    token = h.core.me.dialog_token(msg.call_id)
    assert lines[1] == f"Record-Route: <sip:127.0.0.1:5060;lr;abt={token}>".encode()
    assert lines[2].startswith(b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ab")
    # the caller's Via gets received/rport (RFC 3581), Max-Forwards goes down by one
    assert b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-caller-1;rport=5062;received=192.0.2.10" in fwd
    assert msg.max_forwards == 69
    for line in original.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        if not line.startswith((b"Via", b"Max-Forwards")):
            assert line in lines, line
    assert msg.body == parsed_req(original).body


def parsed_req(data: bytes) -> Request:
    from antibot.sip.parser import parse_datagram

    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    return msg


def test_full_call_with_bye_from_either_side(h: Harness) -> None:
    fwd = relay_invite(h)
    ringing = only(h.feed(reply(fwd, 180, "Ringing"), PBX1), CALLER)
    ring = parsed(ringing)
    assert isinstance(ring, Response) and ring.status == 180
    assert len(ring.vias) == 1 and ring.vias[0].branch == "z9hG4bK-caller-1"
    ok = only(h.feed(reply(fwd, 200, "OK"), PBX1), CALLER)
    assert status_of(ok) == 200
    # A retransmitted 200 has no transaction any more: forwarded statelessly by Via (§16.7).
    assert status_of(only(h.feed(reply(fwd, 200, "OK"), PBX1), CALLER)) == 200
    route = "Route: <sip:127.0.0.1:5060;lr>\r\n"
    ack = invite(method="ACK", uri="sip:pbx@127.0.0.1:5080", to_tag="pbx-1", branch="z9hG4bK-ack", extra=route)
    fwd_ack = only(h.feed(ack, CALLER), PBX1)
    assert b"Route:" not in fwd_ack.data and fwd_ack.data.startswith(b"ACK sip:pbx@127.0.0.1:5080 SIP/2.0")
    # BYE from the PBX towards the caller's Contact, through us (Record-Route both ways).
    bye = (
        b"BYE sip:alice@192.0.2.10:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-pbx-bye\r\n"
        b"Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:100@127.0.0.1>;tag=pbx-1\r\n"
        b'To: "Alice" <sip:74951@192.0.2.10>;tag=from-1\r\nCall-ID: call-1@192.0.2.10\r\nCSeq: 7 BYE\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    fwd_bye = only(h.feed(bye, PBX1), Addr("udp", "192.0.2.10", 5062))
    assert fwd_bye.data.startswith(b"BYE sip:alice@192.0.2.10:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060")
    assert only(h.feed(reply(fwd_bye.data, 200, "OK"), CALLER), PBX1).data.startswith(b"SIP/2.0 200 OK")


def test_invite_retransmission_is_absorbed_and_100_resent(h: Harness) -> None:
    relay_invite(h)
    again = h.feed(invite(), CALLER)
    assert [status_of(e) for e in again] == [100]


def test_upstream_retransmission_follows_timer_a_with_configured_t1() -> None:
    from .conftest import make_core

    h = Harness(make_core(timers=_timers(t1=0.1), failover_timeout=10.0))
    fwd = relay_invite(h)
    assert h.tick(0.09) == []
    assert only(h.tick(0.02), PBX1).data == fwd  # A fires at T1
    assert h.tick(0.15) == []
    assert only(h.tick(0.06), PBX1).data == fwd  # then 2*T1 later


def _timers(**kw: float) -> object:
    from antibot.transaction import TimerConfig

    return TimerConfig(**kw)


def test_cancel_before_answer(h: Harness) -> None:
    fwd = relay_invite(h)
    only(h.feed(reply(fwd, 180, "Ringing"), PBX1), CALLER)
    cancel = invite(method="CANCEL")
    out = h.feed(cancel, CALLER)
    assert [(e.dest, e.data.split(b"\r\n")[0]) for e in out] == [
        (CALLER, b"SIP/2.0 200 OK"),
        (PBX1, b"CANCEL sip:100@127.0.0.1:5060 SIP/2.0"),
    ]
    # The CANCEL carries the same branch as the INVITE we sent (RFC 3261 §9.1).
    assert parsed(out[1]).vias[0].branch == parsed_req(fwd).vias[0].branch
    assert h.feed(reply(out[1].data, 200, "OK"), PBX1) == []  # the 200 to our CANCEL ends there
    terminated = h.feed(reply(fwd, 487, "Request Terminated"), PBX1)
    # hop-by-hop ACK to the PBX, and the 487 to the caller
    assert sorted((e.dest.port, e.data.split(b" ")[0]) for e in terminated) == [(5062, b"SIP/2.0"), (5080, b"ACK")]
    ack = invite(method="ACK", to_tag="pbx-1")
    assert h.feed(ack, CALLER) == []  # absorbed by the server transaction


def test_cancel_unknown_gets_481(h: Harness) -> None:
    assert status_of(only(h.feed(invite(method="CANCEL"), CALLER), CALLER)) == 481


def test_reject_verdict_sends_603_with_reason(h: Harness) -> None:
    verdict = Verdict(Action.REJECT, status=603, phrase="Decline", reason_text="antibot: scanner user-agent")
    out = only(h.call(invite(ua="friendly-scanner"), verdict=verdict), CALLER)
    resp = parsed(out)
    assert isinstance(resp, Response) and resp.status == 603 and resp.reason == "Decline"
    assert resp.header("reason") == 'SIP;cause=603;text="antibot: scanner user-agent"'
    assert resp.to_tag
    # retransmitted by Timer G until the ACK, which is absorbed hop-by-hop
    assert status_of(only(h.tick(0.5), CALLER)) == 603
    assert h.feed(invite(method="ACK", to_tag=resp.to_tag or ""), CALLER) == []
    assert h.tick(1.0) == []


def test_drop_verdict_answers_nothing_even_to_retransmissions(h: Harness) -> None:
    assert h.call(invite(ua="sipcli"), verdict=Verdict(Action.DROP)) == []
    assert h.feed(invite(ua="sipcli"), CALLER) == []
    assert h.feed(invite(method="CANCEL"), CALLER) == []
    assert h.tick(40.0) == []


def test_a_request_waits_for_its_verdict_without_a_timer(h: Harness) -> None:
    """The decision hook is synchronous (the transport applies its verdict at once), so the
    core arms no timer of its own while deciding: nothing is sent until the verdict comes."""
    assert h.feed(invite(), CALLER) == []
    assert h.tick(5.0) == []
    assert h.core.stats.get("verdict_timeout") is None
    assert [e.dest for e in h.verdict()] == [CALLER, PBX1]


def test_relay_verdict_headers_are_added_and_spoofed_ones_stripped(h: Harness) -> None:
    spoof = "X-Antibot-Verdict: pass\r\nx-antibot-score: 0.000\r\n"
    verdict = Verdict(Action.RELAY, headers=(("X-Antibot-Verdict", "suspect"), ("X-Antibot-Score", "0.700")))
    out = h.call(invite(extra=spoof), verdict=verdict)
    fwd = out[1].data
    assert fwd.count(b"X-Antibot-Verdict") == 1 and b"X-Antibot-Verdict: suspect\r\n" in fwd
    assert b"x-antibot-score" not in fwd and b"X-Antibot-Score: 0.700\r\n" in fwd


def test_max_forwards_zero_gives_483_and_loop_gives_482(h: Harness) -> None:
    assert status_of(only(h.feed(invite(method="OPTIONS", max_forwards=0), CALLER), CALLER)) == 483
    fwd = relay_invite(h)
    # our own forwarded request coming back to us is a loop (RFC 3261 §16.3 step 4)
    looped = h.feed(fwd, PBX1)
    assert status_of(only(looped, PBX1)) == 482


def test_options_to_the_proxy_itself_is_answered(h: Harness) -> None:
    out = only(h.feed(invite(method="OPTIONS", uri="sip:127.0.0.1:5060"), CALLER), CALLER)
    resp = parsed(out)
    assert isinstance(resp, Response) and resp.status == 200 and "INVITE" in (resp.header("allow") or "")


def test_register_is_relayed_with_path(h: Harness) -> None:
    out = only(h.decided(invite(method="REGISTER", uri="sip:127.0.0.1:5060"), CALLER), PBX1)
    assert b"\r\nPath: <sip:127.0.0.1:5060;lr>\r\n" in out.data and b"Record-Route" not in out.data
    assert status_of(only(h.feed(reply(out.data, 200, "OK"), PBX1), CALLER)) == 200


def test_malformed_request_gets_400_with_reason(h: Harness) -> None:
    bad = invite().replace(b"CSeq: 1 INVITE", b"CSeq: 99999999999 INVITE")
    out = only(h.feed(bad, CALLER), CALLER)
    assert out.data.startswith(b"SIP/2.0 400 CSeq number larger than 2**32-1\r\n")
    assert b"\r\nCall-ID: call-1@192.0.2.10\r\n" in out.data


def test_garbage_is_dropped_silently(h: Harness) -> None:
    assert h.feed(b"\x00\x01garbage\r\n\r\n", CALLER) == []
    assert h.feed(b"\r\n\r\n", CALLER) == []


def test_proxy_require_gives_420(h: Harness) -> None:
    out = only(h.feed(invite(method="OPTIONS", extra="Proxy-Require: foo\r\n"), CALLER), CALLER)
    resp = parsed(out)
    assert isinstance(resp, Response) and resp.status == 420 and resp.header("unsupported") == "foo"


def test_draining_refuses_new_calls_with_retry_after(h: Harness) -> None:
    h.core.draining = True
    resp = parsed(only(h.feed(invite(), CALLER), CALLER))
    assert isinstance(resp, Response) and resp.status == 503 and resp.header("retry-after") == "30"


def test_register_flood_is_limited_per_source() -> None:
    from antibot.proxy.limiter import TokenBuckets

    from .conftest import make_core

    core = make_core()
    core.config.flood = TokenBuckets(rate=1.0, burst=3)
    h = Harness(core)
    results = []
    for i in range(5):
        out = h.decided(invite(method="REGISTER", uri="sip:127.0.0.1:5060", branch=f"z9hG4bK-r{i}"), CALLER)
        results.append(out[0].dest.port if out else None)
    assert results[:3] == [5080, 5080, 5080]  # relayed to the PBX
    limited = [parsed(e) for e in h.feed(invite(method="OPTIONS", branch="z9hG4bK-o"), CALLER)]
    assert isinstance(limited[0], Response) and limited[0].status == 503
    assert limited[0].header("retry-after") == "1"
    other = Addr("udp", "192.0.2.99", 5060)
    assert only(h.decided(invite(method="REGISTER", uri="sip:127.0.0.1:5060", branch="z9hG4bK-x"), other), PBX1)
    core.config.flood_action = "drop"
    assert h.feed(invite(method="REGISTER", uri="sip:127.0.0.1:5060", branch="z9hG4bK-y"), CALLER) == []
    h.now += 2.0
    assert only(h.decided(invite(method="REGISTER", uri="sip:127.0.0.1:5060", branch="z9hG4bK-z"), CALLER), PBX1)


def test_call_outcomes_are_reported_for_decided_calls(h: Harness) -> None:
    from antibot.proxy.effects import CallOutcome

    def seen() -> list[CallOutcome]:
        return [e for e in h.log if isinstance(e, CallOutcome)]

    out = h.call(invite(), verdict=Verdict(Action.RELAY, call_ref="ref-1"))
    h.feed(reply(out[1].data, 200, "OK"), PBX1)
    assert seen() == [CallOutcome("ref-1", CALLER, 200, 1000.0, ended=False)]  # answered, not over
    h.now += 42.0
    bye = invite(
        method="BYE",
        uri="sip:pbx@127.0.0.1:5080",
        to_tag="pbx-1",
        branch="z9hG4bK-bye",
        cseq=2,
        extra="Route: <sip:127.0.0.1:5060;lr>\r\n",
    )
    h.feed(bye, CALLER)
    assert seen()[-1] == CallOutcome("ref-1", CALLER, 200, 1042.0)  # ended: the consumer times it
    out2 = h.call(invite(call_id="c2", branch="z9hG4bK-c2"), verdict=Verdict(Action.RELAY, call_ref="ref-2"))
    h.feed(reply(out2[1].data, 486, "Busy Here"), PBX1)
    assert seen()[-1] == CallOutcome("ref-2", CALLER, 486, 1042.0)
    # calls relayed without a call ref (no detector) report nothing
    out3 = h.call(invite(call_id="c3", branch="z9hG4bK-c3"))
    h.feed(reply(out3[1].data, 486, "Busy Here"), PBX1)
    assert len(seen()) == 3


def test_own_responses_carry_received_and_rport(h: Harness) -> None:
    out = h.call(invite())
    trying = out[0].data
    assert b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-caller-1;rport=5062;received=192.0.2.10\r\n" in trying
    reject = h.call(invite(call_id="c9", branch="z9hG4bK-9"), verdict=Verdict(Action.REJECT, reason_text="x"))
    assert b";rport=5062;received=192.0.2.10\r\n" in reject[0].data
