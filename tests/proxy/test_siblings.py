"""A node's workers (``--workers``): each one's own Via port, and what lands on a worker that
does not hold its state relayed between them (CANCELs, requests of a dialog, ends of calls)."""

from __future__ import annotations

from antibot.proxy.config import CoreConfig
from antibot.proxy.core import ProxyCore
from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr, CallOutcome
from antibot.proxy.routing import Listener, LocalIdentity
from antibot.proxy.siblings import ended_call, ended_notice, unwrap, wrap
from antibot.proxy.upstreams import Upstream, UpstreamPool
from antibot.sip.message import Request, Response

from .conftest import CALLER, PBX1, Harness, invite, only, parsed, reply, status_of

PORTS = (6001, 6002)


def worker(index: int, *, relay_dialogs: bool = True, ports: tuple[int, ...] = PORTS) -> Harness:
    """Worker ``index`` of a node on 127.0.0.1:5060 whose workers own ``ports`` (``relay_dialogs``:
    they share UDP callers by transaction)."""
    own = ports[index]
    listeners = [Listener("udp", "127.0.0.1", 5060, "127.0.0.1", own), Listener("tcp", "127.0.0.1", 5060, "127.0.0.1")]
    me = LocalIdentity(listeners, b"shared-route-secret", ports)
    siblings = tuple(Addr("udp", "127.0.0.1", p) for p in ports if p != own)
    ring = (Addr("udp", "127.0.0.1", ports[(index + 1) % len(ports)]),)
    pool = UpstreamPool([Upstream("sip:127.0.0.1:5080", PBX1)], probe_interval=0.0)
    config = CoreConfig(siblings=siblings, ring_next=ring, relay_dialogs=relay_dialogs)
    return Harness(ProxyCore(me, pool, config))


def test_a_relay_frame_round_trips_and_anything_else_is_refused() -> None:
    frame = wrap(b"CANCEL sip:x SIP/2.0\r\n\r\n", CALLER)
    assert unwrap(frame) == (b"CANCEL sip:x SIP/2.0\r\n\r\n", CALLER, 0)
    assert unwrap(wrap(b"X", CALLER, 2)) == (b"X", CALLER, 2)
    assert unwrap(b"ANTIBOT-RELAY udp 1.2.3.4 5 -1\r\nX") is None
    assert unwrap(b"CANCEL sip:x SIP/2.0\r\n\r\n") is None
    assert unwrap(b"ANTIBOT-RELAY tcp 1.2.3.4 5\r\nX") is None
    assert unwrap(b"ANTIBOT-RELAY udp 1.2.3.4 x\r\nX") is None
    assert ended_call(ended_notice("abc@host")) == "abc@host"
    assert ended_call(b"ANTIBOT-ENDED ") is None and ended_call(b"BYE sip:x SIP/2.0") is None


def test_a_worker_puts_its_own_port_in_its_via_and_the_public_one_in_its_record_route() -> None:
    h = worker(1)
    out = h.call(invite())
    fwd = parsed(out[1])
    assert fwd.vias[0].sent_by.port == 6002
    assert "<sip:127.0.0.1:5060;lr;abt=" in (fwd.header("record-route") or "")
    # a sibling's Via is ours too: a request that loops through the other worker is caught
    assert worker(0).core.me.is_me("127.0.0.1", 6002)


def test_a_cancel_for_an_invite_held_by_another_worker_is_relayed_and_answered_there() -> None:
    holder, other = worker(0), worker(1)
    fwd = holder.call(invite())[1].data
    only(holder.feed(reply(fwd, 180, "Ringing"), PBX1), CALLER)
    relayed = only(other.feed(invite(method="CANCEL"), CALLER), Addr("udp", "127.0.0.1", 6001))
    assert other.core.stats["cancels_to_siblings"] == 1
    out = holder.feed(relayed.data, Addr("udp", "127.0.0.1", 6002))  # from the sibling's own port
    assert [(e.dest, e.data.split(b"\r\n")[0]) for e in out] == [
        (CALLER, b"SIP/2.0 200 OK"),  # answered to the caller itself
        (PBX1, b"CANCEL sip:100@127.0.0.1:5060 SIP/2.0"),
    ]
    assert holder.core.stats["cancels_from_siblings"] == 1


def test_a_relayed_cancel_nobody_holds_is_ignored_and_frames_count_only_from_siblings() -> None:
    h = worker(0)
    frame = wrap(invite(method="CANCEL"), CALLER)
    assert h.feed(frame, Addr("udp", "127.0.0.1", 6002)) == []  # no INVITE here: silent, no 481
    # the same bytes from anyone else are not a relay: a malformed request, answered by nobody
    assert h.feed(frame, CALLER) == []


def test_without_siblings_an_unknown_cancel_still_gets_481(h: Harness) -> None:
    assert status_of(only(h.feed(invite(method="CANCEL"), CALLER), CALLER)) == 481


def answered(h: Harness, call_ref: str = "ref-1") -> str:
    """A decided call from the caller, relayed and answered 200 through worker ``h``; the
    Record-Route the caller got (with the dialog token every worker checks)."""
    out = h.call(invite(), verdict=Verdict(Action.RELAY, call_ref=call_ref))
    ok = parsed(only(h.feed(reply(out[1].data, 200, "OK"), PBX1), CALLER))
    return ok.header("record-route") or ""


def bye(route: str = "", *, method: str = "BYE") -> bytes:
    """The caller's BYE (or ACK) by the Route set; without one, to the proxy itself (a UA that
    ignored the Record-Route)."""
    if not route:
        return invite(method=method, uri="sip:100@127.0.0.1:5060", to_tag="pbx-1", branch="z9hG4bK-b", cseq=2)
    extra = f"Route: {route}\r\n"
    return invite(method=method, uri="sip:pbx@127.0.0.1:5080", to_tag="pbx-1", branch="z9hG4bK-b", cseq=2, extra=extra)


def ended(h: Harness) -> list[CallOutcome]:
    return [e for e in h.log if isinstance(e, CallOutcome) and e.ended]


def test_a_bye_relayed_by_another_worker_ends_the_call_where_it_was_answered() -> None:
    holder, other = worker(0), worker(1)
    route = answered(holder)
    holder.now = other.now = 1042.0
    out = other.feed(bye(route), CALLER)
    assert [t.dest for t in out] == [Addr("udp", "127.0.0.1", 6001), PBX1]  # told, and relayed
    notice = out[0].data
    assert ended_call(notice) == "call-1@192.0.2.10" and other.core.stats["ends_to_siblings"] == 1
    assert ended(other) == []
    assert holder.feed(notice, Addr("udp", "127.0.0.1", 6002)) == []  # nothing sent: only timed
    assert ended(holder) == [CallOutcome("ref-1", CALLER, 200, 1042.0)]
    assert holder.core.stats["ends_from_siblings"] == 1
    assert "call-1@192.0.2.10" not in holder.core.dialogs.calls
    # told again (a retransmitted BYE), or by anyone else than a sibling: nothing more
    assert holder.feed(notice, Addr("udp", "127.0.0.1", 6002)) == []
    assert holder.feed(notice, CALLER) == []
    assert len(ended(holder)) == 1


def test_the_worker_that_answered_the_call_tells_nobody_of_its_bye() -> None:
    holder = worker(0)
    out = holder.feed(bye(answered(holder)), CALLER)
    assert [t.dest for t in out] == [PBX1]
    assert len(ended(holder)) == 1 and "ends_to_siblings" not in holder.core.stats


def test_a_request_to_the_proxy_itself_of_another_workers_dialog_is_forwarded_by_that_worker() -> None:
    holder, other = worker(0), worker(1)
    answered(holder)
    for method in ("ACK", "BYE"):
        relayed = only(other.feed(bye(method=method), CALLER), Addr("udp", "127.0.0.1", 6001))
        assert unwrap(relayed.data) is not None  # not answered 404 by the worker that lacks the dialog
        out = holder.decided(relayed.data, Addr("udp", "127.0.0.1", 6002))
        fwd = parsed(only(out, PBX1))
        assert isinstance(fwd, Request) and fwd.method == method and fwd.uri == "sip:pbx@127.0.0.1:5080"
    assert other.core.stats["dialogs_to_siblings"] == 2 and holder.core.stats["dialogs_from_siblings"] == 2
    assert len(ended(holder)) == 1


def test_a_relayed_request_of_a_dialog_nobody_knows_is_ignored() -> None:
    h = worker(0)
    stranger = Addr("udp", "198.51.100.7", 5062)
    answered(h)
    frame = wrap(bye(), stranger)  # the dialog's caller is someone else
    assert h.feed(frame, Addr("udp", "127.0.0.1", 6002)) == []
    assert "dialogs_from_siblings" not in h.core.stats and ended(h) == []


def test_the_ack_of_a_refused_call_landing_on_another_worker_reaches_the_one_holding_the_invite() -> None:
    holder, other = worker(0), worker(1)
    fwd = holder.call(invite())[1].data
    out = holder.feed(reply(fwd, 486, "Busy Here"), PBX1)  # ACKed to the PBX, relayed to the caller
    busy = parsed(only([t for t in out if t.dest == CALLER], CALLER))
    assert isinstance(busy, Response) and busy.status == 486
    ack = invite(method="ACK", to_tag="pbx-1")  # the INVITE's top Via and Request-URI (§17.1.1.3)
    relayed = only(other.feed(ack, CALLER), Addr("udp", "127.0.0.1", 6001))
    assert holder.feed(relayed.data, Addr("udp", "127.0.0.1", 6002)) == []  # absorbed: never forwarded
    assert holder.core.stats["acks_from_siblings"] == 1
    assert holder.tick(4.0) == []  # confirmed: the 486 is not sent again


def test_spread_by_address_a_request_to_the_proxy_of_an_unknown_dialog_still_gets_its_404() -> None:
    h = worker(1, relay_dialogs=False)  # a caller's requests reach the worker that knows its dialog
    assert status_of(only(h.feed(bye(), CALLER), CALLER)) == 404
    assert "dialogs_to_siblings" not in h.core.stats


def test_a_response_sent_to_another_workers_port_reaches_the_worker_that_sent_the_request() -> None:
    """A PBX that answers to where the dialog's first request came from (sipp does; RFC 3261
    §18.2.2 says the Via's sent-by) sends the answer to a BYE relayed by worker 1 to worker 0:
    worker 0 hands it to worker 1, whose client transaction takes it and stops retransmitting."""
    holder, other = worker(0), worker(1)
    route = answered(holder)
    told, fwd = other.feed(bye(route), CALLER)  # the end told to worker 0, the BYE relayed
    assert told.dest == Addr("udp", "127.0.0.1", 6001) and fwd.dest == PBX1
    assert parsed(fwd).vias[0].sent_by.port == 6002
    ok = reply(fwd.data, 200, "OK")
    relayed = only(holder.feed(ok, PBX1), Addr("udp", "127.0.0.1", 6002))
    assert relayed.data == ok and holder.core.stats["responses_to_siblings"] == 1
    assert status_of(only(other.feed(relayed.data, PBX1), CALLER)) == 200
    assert [t for t in other.tick(5.0) if t.dest == PBX1] == []  # no BYE retransmission: answered
    # a response naming this worker's own port with no transaction is forwarded by its next Via
    assert status_of(only(other.feed(ok, PBX1), CALLER)) == 200
    assert other.core.stats.get("responses_to_siblings") is None


THREE = (6001, 6002, 6003)


def test_a_cancel_nobody_holds_goes_round_the_workers_and_the_last_asked_answers_481() -> None:
    w0, w1, w2 = (worker(i, ports=THREE) for i in range(3))
    first = only(w0.feed(invite(method="CANCEL"), CALLER), Addr("udp", "127.0.0.1", 6002))
    assert unwrap(first.data) == (invite(method="CANCEL"), CALLER, 2)  # two workers still to ask
    second = only(w1.feed(first.data, Addr("udp", "127.0.0.1", 6001)), Addr("udp", "127.0.0.1", 6003))
    assert unwrap(second.data) == (invite(method="CANCEL"), CALLER, 1)
    assert status_of(only(w2.feed(second.data, Addr("udp", "127.0.0.1", 6002)), CALLER)) == 481
    assert w2.core.stats["unknown_from_siblings"] == 1 and not w2.core.last_asked


def test_a_cancel_goes_round_until_the_worker_holding_its_invite_answers_it() -> None:
    w0, w1, w2 = (worker(i, ports=THREE) for i in range(3))
    fwd = w2.call(invite())[1].data
    only(w2.feed(reply(fwd, 180, "Ringing"), PBX1), CALLER)
    first = only(w0.feed(invite(method="CANCEL"), CALLER), Addr("udp", "127.0.0.1", 6002))
    second = only(w1.feed(first.data, Addr("udp", "127.0.0.1", 6001)), Addr("udp", "127.0.0.1", 6003))
    out = w2.feed(second.data, Addr("udp", "127.0.0.1", 6002))
    assert [(e.dest, e.data.split(b"\r\n")[0]) for e in out] == [
        (CALLER, b"SIP/2.0 200 OK"),
        (PBX1, b"CANCEL sip:100@127.0.0.1:5060 SIP/2.0"),
    ]
    assert "unknown_from_siblings" not in w2.core.stats


def test_spread_by_transaction_a_request_to_the_proxy_of_a_dialog_no_worker_knows_gets_its_404() -> None:
    w0, w1 = worker(0), worker(1)
    relayed = only(w1.feed(bye(), CALLER), Addr("udp", "127.0.0.1", 6001))
    assert unwrap(relayed.data) == (bye(), CALLER, 1)
    assert status_of(only(w0.feed(relayed.data, Addr("udp", "127.0.0.1", 6002)), CALLER)) == 404
    # an ACK is never answered, by the last worker asked or any other
    ack = only(w1.feed(bye(method="ACK"), CALLER), Addr("udp", "127.0.0.1", 6001))
    assert w0.feed(wrap(unwrap(ack.data)[0], CALLER, 1), Addr("udp", "127.0.0.1", 6002)) == []  # type: ignore[index]
    # a frame that names workers still to ask counts only from a sibling: from anyone else, ignored
    assert w0.feed(relayed.data, CALLER) == []
    # and it never goes round more than once, whatever count it names
    assert status_of(only(w0.feed(wrap(bye(), CALLER, 99), Addr("udp", "127.0.0.1", 6002)), CALLER)) == 404
    first = worker(0, ports=THREE)
    passed = only(first.feed(wrap(bye(), CALLER, 99), Addr("udp", "127.0.0.1", 6003)), Addr("udp", "127.0.0.1", 6002))
    assert unwrap(passed.data) == (bye(), CALLER, 1)
