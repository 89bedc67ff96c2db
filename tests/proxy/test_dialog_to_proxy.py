"""In-dialog requests addressed to the proxy itself, with no Route (RFC 3261 §16.4, §12.2.1.1).

A strict-routing or careless UA (sipp's stock ``uac``) sends its ACK and BYE to the URI it
sent the INVITE to, i.e. the proxy, without the Route set the 2xx's Record-Route gave it.
The proxy routes such a request by the dialog it belongs to (the callee's Contact) while it
still knows that dialog, and answers ``404`` otherwise; never ``482``, and a BYE that fails
is never logged as the end of an answered call.
"""

from __future__ import annotations

from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr, CallOutcome
from antibot.sip.message import Request, Response

from .conftest import CALLER, ME, PBX1, Harness, invite, only, parsed, reply, status_of

#: The PBX's Contact in :func:`reply`: the dialog's remote target for the caller.
PBX_CONTACT = "sip:pbx@127.0.0.1:5080"
STRANGER = Addr("udp", "198.51.100.7", 5062)


def answered_call(h: Harness, call_ref: str = "ref-1", call_id: str = "call-1@192.0.2.10") -> None:
    """A decided INVITE from the caller, relayed and answered 200 by the PBX (the 2xx reaches the caller)."""
    verdict = Verdict(Action.RELAY, call_ref=call_ref)
    out = h.call(invite(call_id=call_id, branch="z9hG4bK-inv-" + call_id.split("@")[0]), verdict=verdict)
    forwarded = [t for t in out if t.dest == PBX1]
    assert len(forwarded) == 1
    ok = only(h.feed(reply(forwarded[0].data, 200, "OK"), PBX1), CALLER)
    assert status_of(ok) == 200
    assert h.log[-1] == CallOutcome(call_ref, CALLER, 200, h.now, ended=False)  # answered, not over


def to_proxy(method: str, *, branch: str, cseq: int, call_id: str = "call-1@192.0.2.10") -> bytes:
    """``method`` as sipp's stock uac sends it: the Request-URI of the INVITE (the proxy), no Route."""
    return invite(method=method, uri=f"sip:100@{ME}", to_tag="pbx-1", branch=branch, cseq=cseq, call_id=call_id)


def outcomes(h: Harness) -> list[CallOutcome]:
    """The calls reported over (the answer itself is reported too, with ``ended`` False)."""
    return [e for e in h.log if isinstance(e, CallOutcome) and e.ended]


def test_ack_and_bye_to_the_proxy_follow_the_known_dialog(h: Harness) -> None:
    answered_call(h)
    ack = parsed(only(h.feed(to_proxy("ACK", branch="z9hG4bK-ack", cseq=1), CALLER), PBX1))
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.uri == PBX_CONTACT  # the dialog's remote target, not the proxy's own URI
    h.now += 30.0
    bye = parsed(only(h.decided(to_proxy("BYE", branch="z9hG4bK-bye", cseq=2), CALLER), PBX1))
    assert isinstance(bye, Request) and bye.method == "BYE" and bye.uri == PBX_CONTACT
    assert outcomes(h) == [CallOutcome("ref-1", CALLER, 200, h.now)]


def test_the_pbx_answer_to_such_a_bye_reaches_the_caller(h: Harness) -> None:
    answered_call(h)
    out = h.decided(to_proxy("BYE", branch="z9hG4bK-bye", cseq=2), CALLER)
    forwarded = only(out, PBX1)
    ok = parsed(only(h.feed(reply(forwarded.data, 200, "OK"), PBX1), CALLER))
    assert isinstance(ok, Response) and ok.status == 200 and ok.cseq_method == "BYE"


def test_unknown_dialog_gets_a_clear_404_never_482(h: Harness) -> None:
    reply_ = only(h.feed(to_proxy("BYE", branch="z9hG4bK-bye", cseq=2, call_id="never-seen"), CALLER), CALLER)
    msg = parsed(reply_)
    assert isinstance(msg, Response) and msg.status == 404
    assert "dialog" in msg.reason.lower(), msg.reason
    assert h.feed(to_proxy("ACK", branch="z9hG4bK-ack", cseq=1, call_id="never-seen"), CALLER) == []
    assert outcomes(h) == []


def test_after_its_bye_the_dialog_is_forgotten(h: Harness) -> None:
    answered_call(h)
    only(h.decided(to_proxy("BYE", branch="z9hG4bK-bye", cseq=2), CALLER), PBX1)
    again = only(h.decided(to_proxy("BYE", branch="z9hG4bK-bye-2", cseq=3), CALLER), CALLER)
    assert status_of(again) == 404
    assert len(outcomes(h)) == 1


def test_a_failed_bye_does_not_end_the_answered_call(h: Harness) -> None:
    """A BYE naming the proxy from another host (someone who learnt the Call-ID) is refused
    with 404 and logs nothing; the caller's own BYE later ends the call with its real duration."""
    answered_call(h)
    h.now += 5.0
    refused = only(h.decided(to_proxy("BYE", branch="z9hG4bK-x", cseq=2), STRANGER), STRANGER)
    assert status_of(refused) == 404
    assert outcomes(h) == []
    h.now += 55.0
    only(h.decided(to_proxy("BYE", branch="z9hG4bK-bye", cseq=3), CALLER), PBX1)
    assert outcomes(h) == [CallOutcome("ref-1", CALLER, 200, h.now)]  # 60 s after the answer


def test_a_bye_refused_as_a_relay_does_not_end_the_answered_call(h: Harness) -> None:
    """A BYE towards a host that is no upstream (403) is no hang-up either."""
    answered_call(h)
    bye = invite(method="BYE", uri="sip:x@203.0.113.9", to_tag="pbx-1", branch="z9hG4bK-r", cseq=2)
    assert status_of(only(h.decided(bye, CALLER), CALLER)) == 403
    assert outcomes(h) == []
