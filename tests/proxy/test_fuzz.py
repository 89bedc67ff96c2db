"""Property-based fuzzing of the proxy core through its sans-IO interface (Hypothesis).

A run is a sequence of steps against one :class:`ProxyCore`: a mutated message (the RFC 4475 /
RFC 5118 corpora and the harness's INVITE, with the edits of ``tests/sip/_hypo.py``) from a caller
or from the PBX, the PBX's answer to something forwarded (mutated as well), a verdict for a
waiting INVITE (relay, suspect, reject, drop), or time moving on. The properties:

- the core never raises, whatever arrives and in whatever order;
- it only ever emits its effect types (the open-relay rules have their own tests);
- its tables stay within ``max_transactions`` at every step, and once every verdict is given and
  the timers have run out (RFC 3261 Timers B, F, H, J, K: 64*T1 at most), no transaction, no
  waiting decision and no stale timer is left (a ringing call whose PBX went silent was kept
  for ever: see the regressions at the end).

Budget: :data:`tests.sip._hypo.EXAMPLES` runs (``ANTIBOT_FUZZ_EXAMPLES``), derandomized.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st

from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr, CallOutcome, NeedVerdict, ProxyEffect, Transmit

from ..sip._hypo import corpus, fuzz_settings, messages
from .conftest import CALLER, PBX1, Harness, invite, make_core, only, parsed, reply, status_of

#: A small bound, so that the runs reach it.
BOUND = 6
CALLERS = (CALLER, Addr("udp", "198.51.100.7", 5060), Addr("udp", "203.0.113.9", 5070))
VERDICTS = (
    Verdict(Action.RELAY),
    Verdict(Action.SUSPECT, 0.7, ("fuzz",), headers=(("X-Antibot-Verdict", "suspect"),)),
    Verdict(Action.REJECT, 0.99, ("fuzz",), status=603, phrase="Decline"),
    Verdict(Action.REJECT, 0.99, ("fuzz",), stateless=True),
    Verdict(Action.DROP, 1.0),
)
#: Longer than any transaction timer (64*T1 = 32 s) and the decision's own timeout; enough rounds
#: for the longest chain (Timer C 181 s, our CANCEL's 64*T1, Timer H). A leak stays for ever.
DRAIN_S = 120.0
DRAIN_ROUNDS = 8


def _seeds() -> tuple[bytes, ...]:
    own = tuple(invite(call_id=f"fz-{i}@192.0.2.10", branch=f"z9hG4bK-fz{i}") for i in range(3))
    return own + own + corpus()  # the harness INVITE twice: it gets furthest into the core


_STEP = st.one_of(
    st.tuples(st.just("caller"), st.integers(0, len(CALLERS) - 1), messages(_seeds())),
    st.tuples(st.just("pbx"), st.integers(0, 7), st.sampled_from((100, 180, 183, 200, 486, 503, 603))),
    st.tuples(st.just("pbx-raw"), st.just(0), messages()),
    st.tuples(st.just("verdict"), st.integers(0, len(VERDICTS) - 1), st.just(b"")),
    st.tuples(st.just("tick"), st.integers(0, 40), st.just(b"")),
)


class Run:
    """One core, the effects it emitted, and the bounds checked after each step."""

    def __init__(self) -> None:
        self.core = make_core(max_transactions=BOUND)
        self.now = 1000.0
        self.waiting: list[NeedVerdict] = []
        self.forwarded: list[bytes] = []

    def take(self, effects: list[ProxyEffect]) -> None:
        for e in effects:
            assert isinstance(e, Transmit | NeedVerdict | CallOutcome), e
            if isinstance(e, NeedVerdict):
                self.waiting.append(e)
            elif isinstance(e, Transmit):
                assert isinstance(e.data, bytes) and e.data and isinstance(e.dest, Addr), e
                if e.dest == PBX1 and e.data.startswith(b"INVITE "):
                    self.forwarded.append(e.data)
        core = self.core
        assert len(core.servers) <= BOUND and len(core.clients) <= BOUND, (len(core.servers), len(core.clients))
        assert len(core.pending) <= BOUND and len(core.dialogs.calls) <= BOUND

    def step(self, kind: str, n: int, data: Any) -> None:
        core = self.core
        if kind == "caller":
            self.take(core.receive_datagram(data, CALLERS[n], self.now))
        elif kind == "pbx" and self.forwarded:
            request = self.forwarded[n % len(self.forwarded)]
            self.take(core.receive_datagram(reply(request, data, "Fuzz"), PBX1, self.now))
        elif kind == "pbx-raw":
            self.take(core.receive_datagram(data, PBX1, self.now))
        elif kind == "verdict" and self.waiting:
            need = self.waiting.pop(0)
            self.take(core.apply_verdict(need.ticket, VERDICTS[n], self.now))
        elif kind == "tick":
            self.now += n / 4
            self.take(core.handle_timer(self.now))

    def drain(self) -> None:
        """Every verdict given (relay), then time runs out: nothing may be left behind."""
        while self.waiting:
            self.take(self.core.apply_verdict(self.waiting.pop(0).ticket, VERDICTS[0], self.now))
        core = self.core
        for _ in range(DRAIN_ROUNDS):  # Timer C, then 64*T1 for the CANCEL, then Timer H: chained
            self.now += DRAIN_S
            self.take(core.handle_timer(self.now))
        assert core.servers == {} and core.clients == {} and core.pending == {}, (
            list(core.servers),
            list(core.clients),
            list(core.pending),
        )
        assert core.idle
        probe = core.pool.next_probe_time()
        assert core.get_timer() in (None, probe), core.get_timer()


@fuzz_settings()
@given(st.lists(_STEP, min_size=1, max_size=25))
def test_the_core_never_raises_and_its_tables_stay_bounded(steps: list[tuple[str, int, Any]]) -> None:
    note(f"steps: {steps!r}")  # this Hypothesis prints the failing list as "steps=,"
    run = Run()
    for kind, n, data in steps:
        run.step(kind, n, data)
    run.drain()


def test_a_clean_call_goes_through_the_same_steps() -> None:
    """The steps reach the PBX and back: an INVITE from a caller, relayed, answered 200."""
    run = Run()
    run.step("caller", 0, invite())
    assert len(run.waiting) == 1
    run.step("verdict", 0, b"")
    assert len(run.forwarded) == 1
    run.step("pbx", 0, 200)
    assert run.core.dialogs.calls
    run.drain()


# ---------------------------------------------------------------- what the fuzzer found
def test_a_cancelled_call_whose_pbx_never_answers_is_given_up() -> None:
    """The caller CANCELs a ringing call; the PBX takes the CANCEL but never sends the INVITE's
    final response. 64*T1 after our CANCEL the INVITE is given up (RFC 3261 §9.1): the caller gets
    487 and both transactions go, instead of staying in the tables for ever."""
    h = Harness(make_core())
    (fwd,) = [t.data for t in h.call(invite()) if t.dest == PBX1]
    only(h.feed(reply(fwd, 180, "Ringing"), PBX1), CALLER)
    out = h.feed(invite(method="CANCEL"), CALLER)
    cancel = only([t for t in out if t.dest == PBX1])
    assert h.feed(reply(cancel.data, 200, "OK"), PBX1) == []
    finals = [t for t in h.tick(33.0) if t.dest == CALLER]
    assert [status_of(t) for t in finals] == [487]
    h.feed(invite(method="ACK", to_tag=parsed(finals[0]).to_tag or ""), CALLER)
    h.tick(40.0)
    assert h.core.servers == {} and h.core.clients == {} and h.core.pending == {}


def test_a_ringing_call_past_timer_c_whose_pbx_never_answers_is_given_up() -> None:
    """Timer C (RFC 3261 §16.8) fires on a ringing call: the proxy CANCELs; when the PBX answers
    neither the CANCEL nor the INVITE, the caller gets 408 64*T1 later and the tables empty."""
    h = Harness(make_core())
    (fwd,) = [t.data for t in h.call(invite()) if t.dest == PBX1]
    only(h.feed(reply(fwd, 180, "Ringing"), PBX1), CALLER)
    out = h.tick(182.0)
    assert [t.data.split(b" ")[0] for t in out if t.dest == PBX1] == [b"CANCEL"]
    finals = [t for t in h.tick(33.0) if t.dest == CALLER and status_of(t) >= 200]
    assert [status_of(t) for t in finals] == [408]
    h.feed(invite(method="ACK", to_tag=parsed(finals[0]).to_tag or ""), CALLER)
    h.tick(40.0)
    assert h.core.servers == {} and h.core.clients == {} and h.core.pending == {}
