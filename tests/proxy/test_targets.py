"""The pieces the core keeps per call, tested on their own: a response context's defaults
(``contexts``), the known dialogs of answered calls from outside (``targets``, RFC 3261 §12)
and the hop-by-hop ACK of a forwarded INVITE (``table``, RFC 3261 §17.1.1.3)."""

from __future__ import annotations

from antibot.proxy.contexts import Context
from antibot.proxy.effects import Addr
from antibot.proxy.routing import Listener, LocalIdentity
from antibot.proxy.table import ack_factory
from antibot.proxy.targets import KnownDialogs
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram

from .conftest import CALLER, invite, reply

ME = LocalIdentity([Listener("udp", "127.0.0.1", 5060, "127.0.0.1")])


def _parsed(data: bytes) -> Request:
    req = parse_datagram(data)
    assert isinstance(req, Request)
    return req


def _response(data: bytes) -> Response:
    resp = parse_datagram(data)
    assert isinstance(resp, Response)
    return resp


def test_a_new_context_is_proceeding_with_nothing_tried() -> None:
    ctx = Context(None, CALLER, None, strip=True)
    assert (ctx.state, ctx.attempt, ctx.targets, ctx.client, ctx.verdict) == ("proceeding", 0, [], None, None)
    assert ctx.strip and not (ctx.cancelled or ctx.provisional or ctx.record_route)


def test_an_answered_call_from_outside_is_known_until_its_bye() -> None:
    data = invite()
    req = _parsed(data)
    dialogs = KnownDialogs(limit=1)
    inside = Context(req, CALLER, None, strip=False)
    assert dialogs.final(ME, inside, 200, 10.0, _response(reply(data, 200, "OK"))) is None
    assert dialogs.calls == {}  # from inside: nothing to remember
    outside = Context(req, CALLER, None, strip=True)
    assert dialogs.final(ME, outside, 486, 10.0, _response(reply(data, 486, "Busy Here"))) is None
    assert dialogs.calls == {}  # not answered
    assert dialogs.final(ME, outside, 200, 10.0, _response(reply(data, 200, "OK"))) is None
    assert dialogs.remote_target(req, CALLER) == "sip:pbx@127.0.0.1:5080"  # the callee's Contact
    assert dialogs.remote_target(req, Addr("udp", "192.0.2.99", CALLER.port)) is None  # another caller
    other = _parsed(invite(call_id="call-2@192.0.2.10"))
    dialogs.final(ME, Context(other, CALLER, None, strip=True), 200, 11.0, _response(reply(other.raw, 200, "OK")))
    assert list(dialogs.calls) == [other.call_id]  # limit 1: the oldest is forgotten
    assert dialogs.ended(other.call_id, 20.0) is None  # not decided: no outcome
    assert dialogs.calls == {}


def test_the_ack_of_a_non_2xx_repeats_the_invites_branch_and_takes_the_to_tag() -> None:
    data = invite(branch="z9hG4bK-fwd-7")
    ack = ack_factory(data)(_response(reply(data, 486, "Busy Here", to_tag="busy-1")))
    parsed = _parsed(ack)
    assert (parsed.method, parsed.uri, parsed.cseq) == ("ACK", "sip:100@127.0.0.1:5060", 1)
    assert parsed.top_via.branch == "z9hG4bK-fwd-7" and parsed.to_tag == "busy-1"
