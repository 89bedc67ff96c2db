"""Attacks on the proxy core, sans-IO: open relay, forged dialogs, amplification, unbounded state."""

from __future__ import annotations

import logging

import pytest

from antibot.proxy.config import CoreConfig
from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr, NeedVerdict
from antibot.proxy.routing import Listener, LocalIdentity
from antibot.sip.message import Request

from .conftest import CALLER, ME, PBX1, Harness, invite, make_core, only, parsed, reply, status_of

FAR_END = Addr("udp", "198.51.100.7", 5060)  # neither an upstream nor us
SCANNER = "friendly-scanner"


def _needs_verdict(h: Harness) -> bool:
    return any(isinstance(e, NeedVerdict) for e in h.log)


def _our_route(h: Harness, call_id: str) -> str:
    return f"<sip:{ME};lr;abt={h.core.me.dialog_token(call_id)}>"


@pytest.mark.parametrize(
    "where",
    [
        {"uri": "sip:100@198.51.100.7:5060"},
        {"extra": "Route: <sip:198.51.100.7:5060;lr>\r\n"},
        {"extra": f"Route: <sip:{ME};lr>, <sip:198.51.100.7:5060;lr>\r\n"},
    ],
    ids=["request-uri", "route", "route-after-ours"],
)
def test_forged_in_dialog_request_is_not_relayed_to_a_foreign_host(h: Harness, where: dict[str, str]) -> None:
    data = invite(to_tag="forged", ua=SCANNER, uri=where.get("uri", f"sip:100@{ME}"), extra=where.get("extra", ""))
    out = h.feed(data, CALLER)
    assert status_of(only(out, CALLER)) == 403
    assert not _needs_verdict(h) and h.core.servers == {}
    assert h.core.stats["relay_refused"] == 1


@pytest.mark.parametrize("method", ["BYE", "INFO", "MESSAGE", "NOTIFY"])
def test_forged_in_dialog_non_invite_is_not_relayed_to_a_foreign_host(h: Harness, method: str) -> None:
    out = h.feed(invite(method=method, to_tag="forged", uri="sip:bob@198.51.100.7"), CALLER)
    assert status_of(only(out, CALLER)) == 403


def test_forged_ack_to_a_foreign_host_is_dropped(h: Harness) -> None:
    assert h.feed(invite(method="ACK", to_tag="forged", uri="sip:bob@198.51.100.7"), CALLER) == []
    assert h.core.stats["relay_refused"] == 1


def test_forged_in_dialog_invite_towards_the_pbx_goes_through_the_decision_hook(h: Harness) -> None:
    data = invite(to_tag="forged", ua=SCANNER, uri="sip:100@127.0.0.1:5080")
    assert h.feed(data, CALLER) == []  # nothing sent before the verdict
    assert _needs_verdict(h)
    out = h.verdict(Verdict(Action.REJECT, rule="deny-list:ua", stateless=True))
    assert status_of(only(out, CALLER)) == 603


def test_a_route_naming_us_without_our_token_is_not_trusted(h: Harness) -> None:
    for n, route in enumerate((f"<sip:{ME};lr>", f"<sip:{ME};lr;abt=0123456789abcdef0123>")):
        h.log.clear()
        data = invite(to_tag="forged", uri="sip:100@127.0.0.1:5080", extra=f"Route: {route}\r\n", branch=f"z9hG4bK-{n}")
        assert h.feed(data, CALLER) == [] and _needs_verdict(h), route


def test_a_dialog_we_record_routed_is_relayed_without_a_new_decision(h: Harness) -> None:
    fwd = h.call(invite())[1]
    token_route = _our_route(h, "call-1@192.0.2.10")
    assert f"Record-Route: {token_route}".encode() in fwd.data
    h.feed(reply(fwd.data, 200, "OK"), PBX1)
    h.log.clear()
    bye = invite(method="BYE", to_tag="pbx-1", uri="sip:pbx@127.0.0.1:5080", cseq=2, extra=f"Route: {token_route}\r\n")
    out = only(h.feed(bye, CALLER), PBX1)
    assert not _needs_verdict(h)
    assert isinstance(parsed(out), Request) and b"\r\nRoute:" not in out.data  # our entry popped


def test_a_valid_token_does_not_open_a_relay_to_foreign_hosts(h: Harness) -> None:
    """A caller that got a real dialog cannot use its token to reach anything but our upstreams."""
    route = _our_route(h, "call-1@192.0.2.10")
    data = invite(method="BYE", to_tag="pbx-1", uri="sip:x@198.51.100.7", cseq=2, extra=f"Route: {route}\r\n")
    assert status_of(only(h.feed(data, CALLER), CALLER)) == 403


def test_the_pbx_may_reach_a_dialog_peer_from_a_new_connection() -> None:
    """The PBX's host with a valid token (e.g. a new TCP connection, ephemeral port) is trusted."""
    h = Harness(make_core())
    route = _our_route(h, "call-1@192.0.2.10")
    data = invite(method="BYE", to_tag="c-1", uri="sip:alice@192.0.2.10:5062", cseq=2, extra=f"Route: {route}\r\n")
    out = only(h.feed(data, Addr("tcp", "127.0.0.1", 40123)), Addr("udp", "192.0.2.10", 5062))
    assert out.data.startswith(b"BYE sip:alice@192.0.2.10:5062 ")


def test_out_of_dialog_request_with_a_route_beyond_us_is_refused(h: Harness) -> None:
    data = invite(extra=f"Route: <sip:{ME};lr>, <sip:198.51.100.7;lr>\r\n")
    assert status_of(only(h.feed(data, CALLER), CALLER)) == 403
    assert not _needs_verdict(h)


@pytest.mark.parametrize("method", ["REGISTER", "MESSAGE", "SUBSCRIBE", "OPTIONS"])
def test_every_out_of_dialog_request_from_outside_is_decided(h: Harness, method: str) -> None:
    data = invite(method=method, uri="sip:100@127.0.0.1:5060", ua=SCANNER)
    assert h.feed(data, CALLER) == [] and _needs_verdict(h)
    out = h.verdict(Verdict(Action.REJECT, rule="deny-list:ua", stateless=True))
    assert status_of(only(out, CALLER)) == 603


def test_stateless_reject_is_sent_once_and_leaves_no_state() -> None:
    h = Harness(make_core())
    out = h.call(invite(ua=SCANNER), verdict=Verdict(Action.REJECT, rule="deny-list:ua", stateless=True))
    assert status_of(only(out, CALLER)) == 603 and b"\r\nReason: SIP;cause=603" in out[0].data
    assert h.core.servers == {} and h.core.pending == {}
    sent = [t for _ in range(80) for t in h.tick(0.5)]  # 40 s: past Timer H
    assert sent == []  # never retransmitted to a source that does not ACK
    # A retransmission of the INVITE is decided again and gets one answer again: 1 in, 1 out.
    assert h.feed(invite(ua=SCANNER), CALLER) == [] and _needs_verdict(h)


def test_stateful_reject_still_retransmits_for_a_score_reject() -> None:
    """Control: a score-based reject (a person may be behind it) keeps RFC 3261 reliability."""
    h = Harness(make_core())
    h.call(invite(), verdict=Verdict(Action.REJECT, rule="score-reject"))
    again = [t for _ in range(10) for t in h.tick(0.5)]
    assert again and all(status_of(t) == 603 for t in again)


def test_stateless_drop_keeps_nothing() -> None:
    h = Harness(make_core())
    assert h.call(invite(ua=SCANNER), verdict=Verdict(Action.DROP, rule="deny-list:ua", stateless=True)) == []
    assert h.core.servers == {} and h.core.pending == {}


def test_transactions_are_bounded() -> None:
    h = Harness(make_core(max_transactions=100))
    refused = 0
    for i in range(300):
        out = h.feed(invite(branch=f"z9hG4bK-storm-{i}", call_id=f"storm-{i}"), Addr("udp", "203.0.113.9", 5060 + i))
        if out:
            assert status_of(only(out)) == 503
            refused += 1
    assert len(h.core.servers) == 100 and len(h.core.pending) == 100
    assert refused == 200 and h.core.stats["overload"] == 200


def test_probe_call_ids_differ_between_instances() -> None:
    listeners = [Listener("udp", "127.0.0.1", 5060, "127.0.0.1")]
    a, b = LocalIdentity(listeners), LocalIdentity(listeners)
    ids = set()
    for me in (a, b):
        probe = me.probe_request(PBX1, "z9hG4bK-ab.probe.1", 1)
        ids.add(probe.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0])
    assert len(ids) == 2


def test_malformed_packets_are_logged_at_a_bounded_rate(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="antibot.proxy")
    bad = invite().replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
    for i in range(1000):
        h.now += 0.001  # 1000 packets in one second
        h.feed(bad.replace(b"caller-1", f"c{i}".encode()), CALLER)
    lines = [r for r in caplog.records if r.getMessage() in ("malformed", "refused")]
    assert 1 <= len(lines) <= 2, len(lines)
    h.now += 1.0
    h.feed(bad, CALLER)
    last = [r for r in caplog.records if r.getMessage() in ("malformed", "refused")][-1]
    assert getattr(last, "suppressed", 0) >= 990


def test_per_call_tables_stay_bounded_under_a_storm() -> None:
    """Unique INVITEs (callers, callees, Call-IDs, source ports, User-Agents), decided by the
    detector and answered by the PBX with no BYE ever: every per-call table keeps to its bound."""
    from antibot.detect import fingerprint
    from antibot.detect.counting import LocalCounters
    from antibot.detect.engine import Detector
    from antibot.detect.policy_doc import default_doc, ruleset_from_doc
    from antibot.sip import address, uri

    bound = 300
    h = Harness(make_core(max_transactions=bound, max_calls=bound))
    counters = LocalCounters(max_entities=500)
    detector = Detector(rules=ruleset_from_doc(default_doc()), model=None, counters=counters)
    for i in range(3000):
        source = Addr("udp", f"198.51.{i // 250}.{i % 250}", 5060 + i % 1000)
        data = invite(
            branch=f"z9hG4bK-s{i}",
            call_id=f"storm-{i}@x",
            ua=f"Phone{i} v{i}",
            via_host=f"{source.host}:{source.port}",
            uri=f"sip:{10**9 + i}@{ME}",
        ).replace(b"74951@", f"{5 * 10**8 + i}@".encode())
        out = h.feed(data, source)
        need = [e for e in h.log if isinstance(e, NeedVerdict)]
        if not need:
            assert status_of(only(out)) == 503  # over the bound: refused, statelessly
            continue
        h.log.clear()
        out = h._take(h.core.apply_verdict(need[-1].ticket, detector.decide(need[-1].request, source, h.now), h.now))
        to_pbx = [t for t in out if t.dest == PBX1]
        if to_pbx:
            h.feed(reply(to_pbx[0].data, 200, "OK", to_tag=f"p{i}"), PBX1)
        h.now += 0.01
    core = h.core
    assert len(core.servers) <= bound and len(core.clients) <= bound and len(core.pending) <= bound
    assert 0 < len(core.dialogs.calls) <= bound
    assert len(counters.entities) <= 500
    for cache, limit in (
        (fingerprint._FORMS, 4096),
        (fingerprint._IP_KINDS, 4096),
        (uri._HOSTPORTS, 4096),
        (uri._URIS, 4096),
        (address._PARSED, 4096),
    ):
        assert len(cache) <= limit


def test_answered_calls_are_remembered_up_to_max_calls_not_max_transactions() -> None:
    """Answered calls that never send BYE (a storm of unique callers) are bounded by their own,
    smaller cap: each costs memory until its BYE, and a transaction cap of 100,000 let them grow
    by about 1 KB per call to 100,000."""
    assert CoreConfig().max_calls < CoreConfig().max_transactions
    h = Harness(make_core(max_calls=100))  # max_transactions: the default 100,000
    for i in range(250):
        out = h.call(invite(branch=f"z9hG4bK-a{i}", call_id=f"answered-{i}@x"))
        h.feed(reply(out[-1].data, 200, "OK", to_tag=f"p{i}"), PBX1)
    assert len(h.core.dialogs.calls) == 100
    assert "answered-0@x" not in h.core.dialogs.calls and "answered-249@x" in h.core.dialogs.calls
