"""A node's workers (``--workers``): each one's own Via port, and CANCELs relayed between them."""

from __future__ import annotations

from antibot.proxy.config import CoreConfig
from antibot.proxy.core import ProxyCore
from antibot.proxy.effects import Addr
from antibot.proxy.routing import Listener, LocalIdentity
from antibot.proxy.siblings import unwrap, wrap
from antibot.proxy.upstreams import Upstream, UpstreamPool

from .conftest import CALLER, PBX1, Harness, invite, only, parsed, reply, status_of

PORTS = (6001, 6002)


def worker(index: int) -> Harness:
    """Worker ``index`` of a node on 127.0.0.1:5060 whose workers own ``PORTS``."""
    own = PORTS[index]
    listeners = [Listener("udp", "127.0.0.1", 5060, "127.0.0.1", own), Listener("tcp", "127.0.0.1", 5060, "127.0.0.1")]
    me = LocalIdentity(listeners, b"shared-route-secret", PORTS)
    siblings = tuple(Addr("udp", "127.0.0.1", p) for p in PORTS if p != own)
    pool = UpstreamPool([Upstream("sip:127.0.0.1:5080", PBX1)], probe_interval=0.0)
    return Harness(ProxyCore(me, pool, CoreConfig(siblings=siblings)))


def test_a_relay_frame_round_trips_and_anything_else_is_refused() -> None:
    frame = wrap(b"CANCEL sip:x SIP/2.0\r\n\r\n", CALLER)
    assert unwrap(frame) == (b"CANCEL sip:x SIP/2.0\r\n\r\n", CALLER)
    assert unwrap(b"CANCEL sip:x SIP/2.0\r\n\r\n") is None
    assert unwrap(b"ANTIBOT-RELAY tcp 1.2.3.4 5\r\nX") is None
    assert unwrap(b"ANTIBOT-RELAY udp 1.2.3.4 x\r\nX") is None


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
