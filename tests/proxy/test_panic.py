"""Health is advice, a call is real: no upstream is lost to one packet or a wrong probe.

A timeout never marks the last usable PBX down, and when every PBX is marked down the calls are
tried anyway in priority order; 503 comes only after those attempts failed. Both are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from antibot.proxy.upstreams import Upstream, node_dead
from antibot.sip.message import Response

from .conftest import CALLER, PBX1, PBX2, Harness, invite, make_core, only, parsed, reply, status_of


def single(**config: float) -> Harness:
    return Harness(make_core(Upstream("sip:127.0.0.1:5080", PBX1), **config))


def two(**config: float) -> Harness:
    return Harness(
        make_core(
            Upstream("sip:127.0.0.1:5080", PBX1, priority=1),
            Upstream("sip:127.0.0.1:5090;priority=2", PBX2, priority=2),
            **config,
        )
    )


def call_n(n: int) -> bytes:
    return invite(call_id=f"call-{n}@192.0.2.10", branch=f"z9hG4bK-{n}")


def test_one_silent_invite_does_not_take_the_only_pbx_down() -> None:
    h = single(failover_timeout=1.0)
    h.call(call_n(1))  # the PBX cannot parse this one and stays silent
    out = h.tick(1.1)
    assert [status_of(e) for e in out if e.dest == CALLER] == [503]  # that call was really tried
    assert h.core.pool.targets[0].up is True
    assert h.core.stats.get("upstream_kept_last") == 1
    nxt = h.call(call_n(2))
    assert [e.dest for e in nxt] == [CALLER, PBX1]  # the next call goes to it
    assert status_of(only(h.feed(reply(nxt[1].data, 200, "OK"), PBX1), CALLER)) == 200


def test_a_flood_of_silent_invites_leaves_the_only_pbx_up() -> None:
    h = single(failover_timeout=1.0)
    for n in range(50):
        h.call(call_n(n))
    h.tick(1.1)
    assert h.core.pool.targets[0].up is True and h.core.stats.get("upstream_kept_last") == 50
    assert "upstream_panic" not in h.core.stats
    assert [e.dest for e in h.call(call_n(99))] == [CALLER, PBX1]


def test_a_pbx_that_ignores_options_still_gets_the_calls() -> None:
    h = single(probe_interval=5.0, probe_timeout=1.0)
    assert only(h.tick(0.0), PBX1).data.startswith(b"OPTIONS ")
    h.tick(1.1)  # unanswered probe
    assert h.core.pool.targets[0].up is False
    out = h.call(call_n(1))
    assert [e.dest for e in out] == [CALLER, PBX1]
    assert status_of(only(h.feed(reply(out[1].data, 200, "OK"), PBX1), CALLER)) == 200
    assert h.core.stats.get("upstream_panic") == 1


def test_two_pbxs_marked_down_by_probes_are_tried_in_priority_order() -> None:
    h = two(failover_timeout=1.0)
    for target in h.core.pool.targets:
        h.core.pool.probe_done(target, False, h.now)  # both probes failed
    out = h.call(call_n(1))
    assert [e.dest for e in out] == [CALLER, PBX1]  # priority 1 first
    second = only([e for e in h.tick(1.1) if e.dest != PBX1], PBX2)  # PBX1 silent: on to PBX2
    assert status_of(only(h.feed(reply(second.data, 200, "OK"), PBX2), CALLER)) == 200
    assert h.core.stats.get("upstream_panic") == 2


def test_503_only_after_every_attempt_failed_with_retry_after() -> None:
    h = two(failover_timeout=1.0)
    for target in h.core.pool.targets:
        h.core.pool.mark(target, False, h.now)
    out = h.call(call_n(1))
    assert [e.dest for e in out] == [CALLER, PBX1]
    busy = h.feed(reply(out[1].data, 503, "Service Unavailable"), PBX1)  # PBX1 overloaded
    assert sorted(e.dest.port for e in busy) == [5080, 5090]  # its ACK, and the INVITE to PBX2
    assert all(e.dest != CALLER for e in busy)
    final = [e for e in h.tick(1.1) if e.dest == CALLER]  # PBX2 silent too: now, and only now, 503
    assert [status_of(e) for e in final] == [503]
    resp = parsed(final[0])
    assert isinstance(resp, Response) and resp.header("retry-after") == "30"
    assert h.core.stats.get("upstream_panic") == 2


def test_a_503_from_the_only_pbx_marks_it_down_but_the_next_call_still_tries_it() -> None:
    h = single(failover_timeout=1.0)
    out = h.call(call_n(1))
    answered = h.feed(reply(out[1].data, 503, "Service Unavailable"), PBX1)  # our ACK, and the 503
    assert [status_of(e) for e in answered if e.dest == CALLER] == [503]
    assert h.core.pool.targets[0].up is False
    out = h.call(call_n(2))
    assert [e.dest for e in out] == [CALLER, PBX1]
    assert status_of(only(h.feed(reply(out[1].data, 180, "Ringing"), PBX1), CALLER)) == 180


def _both_dead(h: Harness, calls: int = 3) -> None:
    """Both probes failed, and ``calls`` calls timed out on both PBXs (tried in panic)."""
    for target in h.core.pool.targets:
        h.core.pool.probe_done(target, False, h.now)
    for n in range(calls):
        h.call(call_n(100 + n))
    h.tick(1.1)  # PBX1 silent: each call moves on to PBX2
    final = [e for e in h.tick(1.1) if e.dest == CALLER]  # PBX2 silent too: 503 after both waits
    assert [status_of(e) for e in final] == [503] * calls


def test_every_pbx_dead_by_probe_and_by_calls_gets_503_at_once() -> None:
    h = two(failover_timeout=1.0, probe_interval=5.0)
    _both_dead(h)
    out = h.call(call_n(1))
    assert [e.dest for e in out] == [CALLER, CALLER]  # nothing sent to a PBX: 100, then 503 at once
    resp = parsed(out[1])
    assert isinstance(resp, Response) and resp.status == 503 and resp.header("retry-after") == "30"
    assert h.core.stats.get("upstream_fail_fast") == 1


def test_dead_pbxs_are_tried_again_after_down_hold() -> None:
    h = two(failover_timeout=1.0, probe_interval=5.0)
    _both_dead(h)
    h.now += h.core.pool.down_hold  # no call has failed for down_hold: one more try (half-open)
    for target in h.core.pool.targets:
        h.core.pool.probe_done(target, False, h.now)  # the probes still fail
    out = h.call(call_n(1))
    assert [e.dest for e in out] == [CALLER, PBX1]
    assert "upstream_fail_fast" not in h.core.stats


def test_failed_probes_alone_never_fail_fast() -> None:
    h = two(failover_timeout=1.0, probe_interval=5.0)
    _both_dead(h, calls=2)  # two failed calls in a row are not yet a streak
    out = h.call(call_n(1))
    assert [e.dest for e in out] == [CALLER, PBX1]
    assert "upstream_fail_fast" not in h.core.stats


def test_a_pbx_that_ignores_options_and_drops_two_invites_still_gets_the_next_call() -> None:
    h = single(probe_interval=5.0, probe_timeout=1.0, failover_timeout=1.0)
    h.tick(0.0)
    h.tick(1.1)  # unanswered probe: marked down
    h.call(call_n(1))
    h.call(call_n(2))
    h.tick(2.2)  # two INVITEs it could not parse: silent
    out = h.call(call_n(3))
    assert [e.dest for e in out] == [CALLER, PBX1]
    assert status_of(only(h.feed(reply(out[1].data, 180, "Ringing"), PBX1), CALLER)) == 180
    h.call(call_n(4))
    h.call(call_n(5))
    h.tick(3.3)  # two more silent ones: the 180 broke the streak
    assert [e.dest for e in h.call(call_n(6))] == [CALLER, PBX1]
    assert "upstream_fail_fast" not in h.core.stats


def test_fail_fast_off_keeps_trying_dead_pbxs() -> None:
    h = two(failover_timeout=1.0, probe_interval=5.0)
    h.core.pool.fail_fast = False
    _both_dead(h)
    assert [e.dest for e in h.call(call_n(1))] == [CALLER, PBX1]


class Node:
    """Stands in for the node's shared array: one slot per worker, every slot read by all."""

    def __init__(self, workers: int) -> None:
        self.slots = [[0.0, 0.0, 0.0] for _ in range(workers)]

    def worker(self, index: int) -> NodeSlot:
        return NodeSlot(self, index)


@dataclass
class NodeSlot:
    node: Node
    index: int

    def publish_dead(self, since: float, until: float) -> None:
        self.node.slots[self.index][:2] = [since, until]

    def publish_alive(self, at: float) -> None:
        self.node.slots[self.index][1:] = [0.0, at]

    def verdicts(self) -> list[tuple[float, float, float]]:
        return [(s, u, a) for s, u, a in self.node.slots]


def workers(n: int = 2) -> list[Harness]:
    """``n`` workers of one node sharing their verdicts, their clocks in step."""
    node = Node(n)
    out = [two(failover_timeout=1.0, probe_interval=5.0) for _ in range(n)]
    for i, h in enumerate(out):
        h.core.pool.node = node.worker(i)
    return out


def test_a_siblings_verdict_makes_this_worker_fail_fast_too() -> None:
    a, b = workers()
    _both_dead(a)  # worker a saw its probes and three calls fail on both PBXs
    b.now = a.now  # worker b saw nothing fail itself
    out = b.call(call_n(1))
    assert [e.dest for e in out] == [CALLER, CALLER]  # 100, then 503 at once
    resp = parsed(out[1])
    assert isinstance(resp, Response) and resp.status == 503 and resp.header("retry-after") == "30"
    assert b.core.stats.get("upstream_fail_fast") == 1


def test_a_siblings_verdict_needs_the_same_rule() -> None:
    a, b = workers()
    _both_dead(a, calls=2)  # failed probes and two failed calls: no verdict
    b.now = a.now
    assert [e.dest for e in b.call(call_n(1))] == [CALLER, PBX1]
    assert "upstream_fail_fast" not in b.core.stats


def test_a_siblings_verdict_expires_after_down_hold() -> None:
    a, b = workers()
    _both_dead(a)
    b.now = a.now + b.core.pool.down_hold  # a worker that died leaves no verdict for ever
    assert [e.dest for e in b.call(call_n(1))] == [CALLER, PBX1]
    assert "upstream_fail_fast" not in b.core.stats


def test_a_probe_answered_in_one_worker_ends_fail_fast_in_all() -> None:
    a, b = workers()
    _both_dead(a)
    b.now = a.now + 0.5
    b.core.pool.probe_done(b.core.pool.targets[1], True, b.now)  # b's probe of PBX2 answered
    a.now = b.now
    assert [e.dest for e in b.call(call_n(1))] == [CALLER, PBX1]
    assert [e.dest for e in a.call(call_n(2))] == [CALLER, PBX1]  # a's own rule gives way too
    assert "upstream_fail_fast" not in a.core.stats and "upstream_fail_fast" not in b.core.stats


def test_a_response_heard_in_one_worker_ends_fail_fast_in_all() -> None:
    a, b = workers()
    waiting = b.call(call_n(7))  # b's call is at PBX1 before a concludes
    _both_dead(a)
    b.now = a.now
    b.feed(reply(waiting[1].data, 180, "Ringing"), PBX1)  # PBX1 is alive after all
    a.now = b.now
    assert [e.dest for e in a.call(call_n(2))] == [CALLER, PBX1]
    assert "upstream_fail_fast" not in a.core.stats


def test_a_worker_that_fails_again_after_an_alive_concludes_anew() -> None:
    a, b = workers()
    _both_dead(a)
    b.now = a.now + 0.5
    b.core.pool.probe_done(b.core.pool.targets[0], True, b.now)
    a.now = b.now
    assert [e.dest for e in a.call(call_n(50))] == [CALLER, PBX1]  # tried again: the alive voided a's verdict
    a.tick(1.1)
    final = [status_of(e) for e in a.tick(1.1) if e.dest == CALLER and b"call-50@" in e.data]
    assert final == [503]  # both silent again: dead anew
    b.now = a.now
    assert [e.dest for e in b.call(call_n(1))] == [CALLER, CALLER]
    assert b.core.stats.get("upstream_fail_fast") == 1


def test_a_verdict_reached_when_a_target_was_heard_alive_is_void() -> None:
    assert node_dead([(10.0, 20.0, 0.0)], 15.0)
    assert not node_dead([(10.0, 20.0, 0.0)], 20.0)  # expired
    assert not node_dead([(10.0, 20.0, 0.0), (0.0, 0.0, 10.0)], 15.0)  # a tie counts as alive
    assert node_dead([(10.0, 20.0, 0.0), (0.0, 0.0, 9.0)], 15.0)
    assert not node_dead([], 15.0)
