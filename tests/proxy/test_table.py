"""The timer heap of the transaction table: cancelled entries are swept, due ones still run."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from antibot.proxy.contexts import Context, ServerSlot
from antibot.proxy.decision import Action, Verdict
from antibot.proxy.table import HEAP_SWEEP_MIN, _pending
from antibot.sip.message import Response

from .conftest import CALLER, PBX1, Harness, invite, make_core, parsed, reply


def _ring_and_answer(h: Harness, i: int, answer: bool = True) -> None:
    out = h.call(invite(branch=f"z9hG4bK-t{i}", call_id=f"timer-{i}@x"))
    forwarded = out[-1].data
    h.feed(reply(forwarded, 180, "Ringing", to_tag=f"p{i}"), PBX1)  # arms Timer C (3 min)
    if answer:
        h.feed(reply(forwarded, 200, "OK", to_tag=f"p{i}"), PBX1)


def test_answered_calls_do_not_stay_in_the_timer_heap_until_timer_c() -> None:
    """Each answered call leaves cancelled entries behind (its failover timeout, its Timer C):
    swept, the heap stays within twice its live entries, instead of holding every finished
    call (and its request) of the last three minutes."""
    h = Harness(make_core(max_calls=100_000))
    n = 3 * HEAP_SWEEP_MIN
    for i in range(n):
        _ring_and_answer(h, i)
        h.now += 0.001  # nothing falls due: every finished call's entries would still be there
    heap = h.core._heap
    live = sum(1 for deadline, _, obj in heap if _pending(deadline, obj))
    assert live == len(h.core.servers) + len(h.core.clients)  # 0: every call finished
    assert len(heap) <= max(HEAP_SWEEP_MIN, 2 * live)
    finished = sum(1 for _, _, obj in heap if isinstance(obj, Context) and obj.state == "done")
    assert finished < HEAP_SWEEP_MIN < 2 * n  # without the sweep: two per call (failover timeout, Timer C)


def test_a_ringing_call_still_gets_timer_c_after_sweeps() -> None:
    """A call ringing before thousands of others were answered and swept still gets its CANCEL
    when Timer C fires (RFC 3261 §16.8)."""
    h = Harness(make_core(max_calls=100_000))
    _ring_and_answer(h, -1, answer=False)
    for i in range(3 * HEAP_SWEEP_MIN):
        _ring_and_answer(h, i)
    assert len(h.core._heap) < 3 * HEAP_SWEEP_MIN  # swept at least once
    out = h.tick(h.core.config.timer_c + 1)
    cancels = [t for t in out if t.dest == PBX1 and t.data.startswith(b"CANCEL ")]
    assert len(cancels) == 1 and b"timer--1@x" in cancels[0].data


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_finished_calls_are_freed_without_the_cycle_collector(no_collector: None) -> None:
    """Answered, rejected (and ACKed) and statelessly rejected calls leave no reference cycle
    behind: the proxy's collector runs full collections rarely, and a context and its server
    transaction pointing at each other stayed in memory until one, about 2 KB per call."""
    h = Harness(make_core(max_calls=100_000))
    reject = Verdict(Action.REJECT, status=603, phrase="Decline", reason_text="antibot: scanner")
    stateless = Verdict(Action.REJECT, status=603, phrase="Decline", reason_text="deny", stateless=True)
    for i in range(100):
        _ring_and_answer(h, i)
        resp = parsed(h.call(invite(branch=f"z9hG4bK-r{i}", call_id=f"rej-{i}@x"), verdict=reject)[-1])
        assert isinstance(resp, Response) and resp.status == 603
        ack = invite(method="ACK", branch=f"z9hG4bK-r{i}", call_id=f"rej-{i}@x", to_tag=resp.to_tag or "")
        assert h.feed(ack, CALLER) == []
        h.call(invite(branch=f"z9hG4bK-d{i}", call_id=f"deny-{i}@x"), verdict=stateless)
    h.tick(300.0)  # every timer runs out
    h.log.clear()
    assert not h.core.servers and not h.core.clients and not h.core.pending
    alive = [o for o in gc.get_objects() if isinstance(o, Context | ServerSlot)]
    assert len(alive) == 0


def test_an_invite_retransmitted_after_its_2xx_is_absorbed_not_relayed_again() -> None:
    """RFC 6026 §7.1: an INVITE retransmitted while its 2xx was on the way (a loaded caller
    resends at T1) is absorbed. Taken for a new request, it was decided and relayed a second
    time on a new branch, and the PBX refused the call as a merged request."""
    h = Harness(make_core())
    first = invite(branch="z9hG4bK-late", call_id="late@x")
    forwarded = h.call(first)[-1].data
    h.feed(reply(forwarded, 200, "OK"), PBX1)
    h.now += 0.5
    out = h.feed(first, CALLER)
    assert out == []
    assert not h.core.pending  # no second decision
    assert h.core.stats.get("retransmissions_after_2xx") == 1
    # Timer L (64*T1) later the key is forgotten, and the table does not grow with calls.
    h.now += 64 * h.core.timers.t1
    for i in range(3):
        forwarded = h.call(invite(branch=f"z9hG4bK-n{i}", call_id=f"n{i}@x"))[-1].data
        h.feed(reply(forwarded, 200, "OK"), PBX1)
    assert not any("z9hG4bK-late" in str(k) for k in h.core.accepted)
    assert len(h.core.accepted) == 3


def test_the_answered_invites_remembered_are_capped() -> None:
    h = Harness(make_core(max_transactions=100))
    for i in range(150):
        forwarded = h.call(invite(branch=f"z9hG4bK-c{i}", call_id=f"c{i}@x"))[-1].data
        h.feed(reply(forwarded, 200, "OK"), PBX1)
    assert len(h.core.accepted) == 100


def test_a_rejected_call_keeps_only_its_ack_for_timer_d() -> None:
    """RFC 3261 §17.1.1.2: after a 300-699 the client transaction waits Timer D (32 s on UDP)
    only to resend its ACK. It keeps no copy of the relayed INVITE meanwhile: under a flood the
    PBX rejects, 32 s of relayed INVITEs were held for nothing."""
    h = Harness(make_core())
    forwarded = h.call(invite(branch="z9hG4bK-nf", call_id="nf@x"))[-1].data
    out = h.feed(reply(forwarded, 404, "Not Found"), PBX1)
    ack = [t.data for t in out if t.dest == PBX1]
    assert len(ack) == 1 and ack[0].startswith(b"ACK ")
    (slot,) = h.core.clients.values()
    assert slot.txn.state == "completed"
    held = [gc.get_referents(slot), gc.get_referents(slot.txn)]
    assert not any(isinstance(r, bytes) and r.startswith(b"INVITE ") for refs in held for r in refs)
    # The PBX resends its 404: the same ACK again, nothing to the caller.
    again = h.feed(reply(forwarded, 404, "Not Found"), PBX1)
    assert [t.data for t in again] == ack
    h.tick(32.1)
    assert not h.core.clients
