"""Upstream choice, serial failover and OPTIONS health probes."""

from __future__ import annotations

from collections import Counter

from antibot.proxy.effects import Addr
from antibot.proxy.upstreams import Upstream, UpstreamPool

from .conftest import CALLER, PBX1, PBX2, Harness, invite, make_core, only, parsed, reply, status_of


def two_targets(**config: float) -> Harness:
    return Harness(
        make_core(
            Upstream("sip:127.0.0.1:5080", PBX1, priority=1),
            Upstream("sip:127.0.0.1:5090;priority=2", PBX2, priority=2),
            **config,
        )
    )


def test_silent_target_fails_over_to_the_next_one() -> None:
    h = two_targets(failover_timeout=2.0)
    out = h.call(invite())
    assert [e.dest for e in out] == [CALLER, PBX1]
    first_branch = parsed(out[1]).vias[0].branch
    retries = h.tick(1.9)
    assert {e.dest for e in retries} <= {PBX1}
    second = only(h.tick(0.2), PBX2)
    assert parsed(second).vias[0].branch != first_branch  # a new client transaction
    assert h.core.pool.targets[0].up is False
    assert status_of(only(h.feed(reply(second.data, 200, "OK"), PBX2), CALLER)) == 200
    # the next call goes straight to the healthy target
    nxt = h.call(invite(call_id="call-2", branch="z9hG4bK-2"))
    assert [e.dest for e in nxt] == [CALLER, PBX2]


def test_503_fails_over_and_is_never_seen_by_the_caller() -> None:
    h = two_targets()
    out = h.call(invite())
    busy = h.feed(reply(out[1].data, 503, "Service Unavailable"), PBX1)
    assert sorted((e.dest.port, e.data.split(b" ")[0]) for e in busy) == [(5080, b"ACK"), (5090, b"INVITE")]
    invite2 = next(e for e in busy if e.dest == PBX2)
    assert status_of(only(h.feed(reply(invite2.data, 180, "Ringing"), PBX2), CALLER)) == 180


def test_every_target_failing_ends_in_503() -> None:
    h = two_targets(failover_timeout=1.0)
    h.call(invite())
    h.tick(1.1)  # PBX1 silent -> PBX2
    out = h.tick(1.1)  # PBX2 silent too
    assert [status_of(e) for e in out if e.dest == CALLER] == [503]


def test_probes_mark_targets_down_and_up() -> None:
    h = Harness(make_core(Upstream("sip:127.0.0.1:5080", PBX1), probe_interval=5.0, probe_timeout=1.0))
    probe = only(h.tick(0.0), PBX1)
    assert probe.data.startswith(b"OPTIONS sip:127.0.0.1:5080 SIP/2.0")
    h.tick(1.1)  # no answer within probe_timeout
    assert h.core.pool.targets[0].up is False
    assert [e for e in h.tick(3.0) if e.data.startswith(b"OPTIONS")] == []  # next probe 5 s after the last
    probe2 = next(e for e in h.tick(2.0) if e.data.startswith(b"OPTIONS"))
    assert h.feed(reply(probe2.data, 200, "OK"), PBX1) == []
    assert h.core.pool.targets[0].up is True
    probe3 = next(e for e in h.tick(5.0) if e.data.startswith(b"OPTIONS"))
    h.feed(reply(probe3.data, 503, "Service Unavailable"), PBX1)
    assert h.core.pool.targets[0].up is False


def test_weighted_order_is_stable_per_call_and_follows_weights() -> None:
    a = Upstream("a", Addr("udp", "10.0.0.1", 5060), priority=1, weight=3)
    b = Upstream("b", Addr("udp", "10.0.0.2", 5060), priority=1, weight=1)
    c = Upstream("c", Addr("udp", "10.0.0.3", 5060), priority=2, weight=1)
    pool = UpstreamPool([a, b, c], probe_interval=0)
    assert pool.candidates("x") == pool.candidates("x")
    firsts = Counter(pool.candidates(f"call-{i}")[0].uri for i in range(4000))
    assert 2700 < firsts["a"] < 3300 and firsts["c"] == 0
    assert all(pool.candidates(f"k{i}")[-1] is c for i in range(50))
    b.up = False
    assert pool.candidates("y") == [a, c]


def test_a_failed_target_is_tried_again_after_the_hold_without_probes() -> None:
    h = two_targets(failover_timeout=1.0)
    h.core.pool.down_hold = 10.0
    out = h.call(invite())
    h.feed(reply(out[1].data, 503, "Service Unavailable"), PBX1)  # PBX1 overloaded: down, PBX2 gets the call
    assert h.core.pool.targets[0].up is False
    out = h.call(invite(call_id="c2", branch="z9hG4bK-c2"))
    assert [e.dest for e in out] == [CALLER, PBX2]  # PBX1 skipped while held down
    h.now += 10.0
    out = h.call(invite(call_id="c3", branch="z9hG4bK-c3"))
    assert [e.dest for e in out] == [CALLER, PBX1]  # half-open: tried again
    h.feed(reply(out[1].data, 200, "OK"), PBX1)
    assert h.core.pool.targets[0].up is True


def three() -> tuple[Upstream, Upstream, Upstream, UpstreamPool]:
    a = Upstream("a", Addr("udp", "10.0.0.1", 5060), priority=1, weight=3)
    b = Upstream("b", Addr("udp", "10.0.0.2", 5060), priority=1, weight=1)
    c = Upstream("c", Addr("udp", "10.0.0.3", 5060), priority=2, weight=1)
    return a, b, c, UpstreamPool([a, b, c], probe_interval=0, down_hold=10.0)


def test_every_target_down_means_every_target_is_a_candidate_in_the_same_order() -> None:
    """Panic (Envoy below its panic threshold): health is advice, the call is still tried."""
    a, b, c, pool = three()
    healthy = {f"k{i}": pool.candidates(f"k{i}", 0.0) for i in range(50)}
    for target in (a, b, c):
        pool.mark(target, False, 0.0)
    assert pool.panicking(1.0)
    assert all(pool.candidates(key, 1.0) == order for key, order in healthy.items())
    assert all(order[-1] is c for order in healthy.values())  # priority first, weight within one
    pool.mark(c, True)  # one target back: only it is offered
    assert not pool.panicking(1.0) and pool.candidates("k1", 1.0) == [c]
    only = Upstream("x", Addr("udp", "10.0.0.9", 5060))
    single = UpstreamPool([only], probe_interval=0)
    single.mark(only, False, 0.0)
    assert single.candidates("k", 1.0) == [only]


def test_a_timeout_never_marks_the_last_usable_target_down() -> None:
    a, b, c, pool = three()
    assert pool.mark_failed(a, 1.0, "timeout") == "down"
    assert pool.mark_failed(b, 1.0, "timeout") == "down"
    assert pool.mark_failed(c, 1.0, "timeout") == "kept"  # the last one standing stays up
    assert c.up and pool.candidates("k", 1.0) == [c]
    assert pool.mark_failed(c, 1.0, "503") == "down"  # it said so itself: believe it
    assert pool.mark_failed(c, 1.0, "503") is None  # already down
    only = Upstream("x", Addr("udp", "10.0.0.9", 5060))
    single = UpstreamPool([only], probe_interval=0)
    assert [single.mark_failed(only, float(t), "timeout") for t in range(20)] == ["kept"] * 20  # a flood of them
    assert only.up
    single.probe_done(only, False, 30.0)  # a failed probe still marks it down ...
    assert not only.up
    assert single.mark_failed(only, 31.0, "timeout") is None  # ... and a timeout then changes nothing


def test_a_target_that_went_down_is_skipped_only_for_a_usable_one() -> None:
    a, b, c, pool = three()
    pool.mark(a, False, 0.0)
    assert not pool.worth_trying(a, [b, c], 1.0)  # b is usable: skip a
    pool.mark(b, False, 0.0)
    pool.mark(c, False, 0.0)
    assert pool.worth_trying(a, [b, c], 1.0)  # nothing usable left: try it anyway
    assert pool.worth_trying(a, [], 1.0)
    assert pool.worth_trying(a, [b], 10.0)  # held long enough: usable again (half-open)
