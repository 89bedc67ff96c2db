"""Upstream choice, serial failover and OPTIONS health probes."""

from __future__ import annotations

from collections import Counter

from antibot.proxy.effects import Addr
from antibot.proxy.upstreams import Upstream, UpstreamPool
from antibot.sip.message import Response

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


def test_no_healthy_target_gives_503_with_retry_after() -> None:
    h = two_targets(failover_timeout=1.0)
    for target in h.core.pool.targets:
        h.core.pool.mark(target, False, h.now)
    out = h.call(invite())
    assert [status_of(e) for e in out] == [100, 503]
    resp = parsed(out[1])
    assert isinstance(resp, Response) and resp.header("retry-after") == "30"


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
    h = Harness(make_core(Upstream("sip:127.0.0.1:5080", PBX1), failover_timeout=1.0))
    h.core.pool.down_hold = 10.0
    h.call(invite())
    h.tick(1.1)  # the only target stays silent: down, the caller gets 503
    assert h.core.pool.targets[0].up is False
    out = h.call(invite(call_id="c2", branch="z9hG4bK-c2"))
    assert [status_of(e) for e in out] == [100, 503]
    h.now += 10.0
    out = h.call(invite(call_id="c3", branch="z9hG4bK-c3"))
    assert [e.dest for e in out] == [CALLER, PBX1]  # half-open: tried again
    h.feed(reply(out[1].data, 200, "OK"), PBX1)
    assert h.core.pool.targets[0].up is True
