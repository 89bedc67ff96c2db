"""LocalCounters without Redis: sliding windows, syncs settled, failed or unsure, eviction."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from antibot.detect.counting import FLOW_PLAN, PLANS, LocalCounters, outcome_metrics
from antibot.detect.observation import Observation
from antibot.detect.windowed import PENDING_MAX, Totals, own_totals

T0 = 472_222 * 3600.0  # a multiple of every window
OBS = Observation("192.0.2.1", "alice", "442079460011", "44207", "ua1")


def totals(
    counts: Sequence[tuple[int, int]],
    distinct: Sequence[tuple[int, int]],
    recent: Sequence[str] = (),
    recent_at: Sequence[int] = (),
) -> Totals:
    return Totals(counts, distinct, list(recent), list(recent_at))


def settle_all(c: LocalCounters, now: float, scale: int = 0) -> None:
    """Settle one batch as if Redis held ``scale`` more of everything than this node sent."""
    batch = c.take(now)
    c.settle(
        batch,
        [
            totals(
                [(a + scale, b) for a, b in d.counts],
                [(len(m) + scale, len(m) + scale) for m, _ in d.members],
                list(reversed(d.pushed)),
            )
            for d in batch
        ],
    )


def test_sliding_window_weights_the_previous_bucket() -> None:
    c = LocalCounters()
    assert c.observe(OBS, T0).src_1s == 1
    assert c.observe(OBS, T0 + 0.5).src_1s == 2
    got = c.observe(OBS, T0 + 1.25)  # this bucket 1, the previous 2 weighted 0.75
    assert got.src_1s == pytest.approx(1 + 2 * 0.75)
    assert got.src_60s == 3 and got.from_1h == 3 and got.src_distinct_to_1h == 1
    assert got.src_recent_to == ("442079460011", "442079460011")  # before this INVITE, newest first
    assert c.observe(OBS, T0 + 3.0).src_1s == 1  # two buckets on: the old ones are out


def test_a_settled_sync_adds_what_other_nodes_counted() -> None:
    c = LocalCounters()
    c.observe(OBS, T0)
    settle_all(c, T0 + 0.01, scale=5)  # Redis: 5 more calls from other nodes
    got = c.observe(OBS, T0 + 0.02)
    assert got.src_60s == 7 and got.to_1h == 7 and got.src_distinct_to_60s == 6  # same member: not new
    assert c.pending() == 5 and c.synced == 5 and c.in_sync


def test_a_failed_sync_keeps_the_counts_for_the_next_one() -> None:
    c = LocalCounters()
    c.observe(OBS, T0)
    batch = c.take(T0 + 0.01)
    assert c.observe(OBS, T0 + 0.02).src_60s == 2  # in flight: still counted locally
    c.fail(batch)
    assert not c.in_sync and c.observe(OBS, T0 + 0.03).src_60s == 3
    again = c.take(T0 + 0.04)
    src = next(d for d in again if d.entity.plan is PLANS[0])
    assert src.counts[2] == (3, 0) and src.pushed == ("442079460011",) * 3  # nothing lost, in order


def test_an_unsure_sync_is_never_sent_twice() -> None:
    c = LocalCounters()
    c.observe(OBS, T0)
    batch = c.take(T0 + 0.01)
    with pytest.raises(RuntimeError):
        c.take(T0 + 0.02)  # one batch in flight at a time
    c.forget(batch)
    assert c.unsure == 5 and not c.in_sync
    again = c.take(T0 + 0.02)
    assert len(again) == 5 and all(d.counts[0] == (0, 0) for d in again)  # a read, to refresh from Redis


def test_counts_of_an_old_bucket_are_dropped_not_carried() -> None:
    c = LocalCounters()
    c.observe(OBS, T0)
    batch = c.take(T0 + 5.0)  # the sync runs 5 s later: the 1 s bucket of T0 counts nowhere
    src = next(d for d in batch if d.entity.plan is PLANS[0])
    assert src.counts[0] == (0, 0) and src.counts[1] == (1, 0)  # 1 s window: dropped; 10 s: kept
    c.fail(batch)
    assert c.lost == 1


def test_outcomes_count_for_the_source() -> None:
    c = LocalCounters()
    c.outcome("192.0.2.1", outcome_metrics(486, None), T0)
    c.outcome("192.0.2.1", outcome_metrics(200, 2.0), T0)
    c.outcome("192.0.2.1", outcome_metrics(200, 60.0), T0)
    got = c.observe(OBS, T0 + 1)
    assert (got.src_calls_1h, got.src_failed_1h, got.src_short_1h) == (3, 1, 1)


def test_least_recently_used_entities_are_forgotten_first() -> None:
    c = LocalCounters(max_entities=6)
    c.observe(OBS, T0)
    c.observe(Observation("192.0.2.9", "", "", "", ""), T0 + 0.01)
    settle_all(c, T0 + 0.02)
    c.observe(OBS, T0 + 0.03)  # used again: now the most recent
    c.observe(Observation("192.0.2.8", "", "", "", ""), T0 + 0.04)
    assert len(c.entities) == 6 and ("src", "192.0.2.9") not in c.entities and ("src", "192.0.2.1") in c.entities
    assert c.evicted_unsynced == 0  # it had been synced: nothing lost


def test_a_full_table_forgets_its_oldest_entity_even_with_counts_to_sync() -> None:
    """the bound held only for synced entities, so with Redis down it did not hold."""
    c = LocalCounters(max_entities=5)
    c.observe(OBS, T0)  # five entities, none synced
    c.observe(Observation("192.0.2.9", "", "", "", ""), T0 + 0.01)
    assert len(c.entities) == 5 and ("src", "192.0.2.1") not in c.entities
    assert c.evicted_unsynced == 1 and c.pending() == 5  # counted as lost, and off the dirty list
    assert ("src", "192.0.2.1") not in {(d.entity.plan.kind, d.entity.value) for d in c.take(T0 + 0.02)}


def test_the_table_stays_bounded_while_every_sync_fails() -> None:
    """Unique callers with Redis down: every sync fails, the table and the dirty list stay
    bounded, each retry takes at most ``limit`` entities, and what was dropped is counted."""
    c = LocalCounters(max_entities=100)
    for i in range(3000):
        now = T0 + i * 0.001
        c.observe(Observation("192.0.2.1", f"caller{i}", f"4420794{i:05d}", "44207", "ua1"), now)
        if i % 10 == 9:
            batch = c.take(now, limit=20)
            assert len(batch) <= 20
            # nothing handed out has been forgotten by the table (no dangling entity is synced)
            assert all(c.entities.get((d.entity.plan.kind, d.entity.value)) is d.entity for d in batch)
            c.fail(batch)
        assert len(c.entities) <= 100 and c.pending() <= 100
    assert not c.in_sync
    assert c.evicted_unsynced >= 2 * 3000 - 100  # every caller and callee but the last ones
    assert ("src", "192.0.2.1") in c.entities and ("ua", "ua1") in c.entities  # in use: kept


def test_an_entity_evicted_in_flight_is_dropped_when_its_sync_fails() -> None:
    c = LocalCounters(max_entities=5)
    c.observe(OBS, T0)
    batch = c.take(T0 + 0.01)
    c.observe(Observation("192.0.2.2", "bob", "15551230000", "1555", "ua2"), T0 + 0.02)  # evicts all five
    c.fail(batch)
    assert c.evicted_unsynced == 5 and len(c.entities) == 5
    again = c.take(T0 + 0.03)
    assert {d.entity.value for d in again} == {"192.0.2.2", "bob", "15551230000", "1555", "ua2"}


def test_take_hands_out_at_most_limit_entities_oldest_first() -> None:
    c = LocalCounters()
    c.observe(OBS, T0)
    c.observe(Observation("192.0.2.2", "", "", "", ""), T0 + 0.01)
    first = c.take(T0 + 0.02, limit=4)
    assert [d.entity.plan.kind for d in first] == ["src", "from", "to", "pfx"] and c.pending() == 2
    c.fail(first)  # back in the queue, behind what waited
    assert [d.entity.value for d in c.take(T0 + 0.03, limit=2)] == ["ua1", "192.0.2.2"]


def test_a_first_sync_reads_back_but_a_caller_or_a_dialled_number_seen_once_is_only_written() -> None:
    c = LocalCounters()
    c.observe(OBS, T0)
    first = c.take(T0 + 0.01)
    kinds = [d.entity.plan.kind for d in first]
    assert kinds == ["src", "from", "to", "pfx", "ua"]
    # what other nodes counted is wanted at once, except for a caller or a number seen once so far
    assert [d.read for d in first] == [k not in ("from", "to") for k in kinds]
    c.settle(first, [own_totals(d) for d in first])  # the store's stand-in for a reply
    got = c.observe(OBS, T0 + 0.02)  # this node's two calls, the first one settled
    assert (got.src_60s, got.from_1h, got.src_distinct_to_1h, got.to_60s) == (2, 2, 1, 2)
    assert got.src_recent_to == ("442079460011",)
    again = c.take(T0 + 0.03)
    assert [d.read for d in again] == [True] * 5  # the caller and number seen again: their syncs read too
    c.observe(Observation("192.0.2.7", "", "", "", ""), T0 + 0.04)
    c.observe(Observation("", "", "442079460099", "", ""), T0 + 0.04)
    c.forget(again)  # unsure: read next time, whatever was sent
    later = {d.entity.value: d.read for d in c.take(T0 + 0.05)}
    assert later == {"192.0.2.7": True, "442079460099": False, **{d.entity.value: True for d in again}}


def test_own_totals_are_what_redis_holds_of_one_node() -> None:
    c = LocalCounters()
    c.observe(OBS, T0 + 59.5)
    c.observe(Observation("192.0.2.2", "alice", "442079460099", "44207", "ua1"), T0 + 59.6)
    batch = c.take(T0 + 60.2)  # the 60 s window moved on: the calls are the previous bucket's
    alice = own_totals(next(d for d in batch if d.entity.value == "alice"))
    assert alice.counts == ((0, 2), (2, 0))  # 60 s: (this bucket, previous); 1 h: this bucket
    assert alice.distinct == [(2, 0), (2, 2), (2, 2)]  # To numbers 60 s and 1 h, sources 1 h


def test_a_distinct_count_keeps_counting_in_bounded_memory_while_syncs_fail() -> None:
    """a source dialling unique numbers with Redis down kept every number pending, and
    every INVITE copied them all to read its distinct counts."""
    c = LocalCounters()
    n = PENDING_MAX + 1000
    for i in range(n):
        got = c.observe(Observation("192.0.2.1", "", f"4420{i:08d}", "", ""), T0 + i * 0.001)
        if i % 500 == 499:
            c.fail(c.take(T0 + i * 0.001, limit=100))
    assert got.src_distinct_to_60s == n and got.src_distinct_to_1h == n  # every number counted
    src = c.entities[("src", "192.0.2.1")]
    assert [len(m) for d in src.distinct for m in d.pending.values()] == [PENDING_MAX, PENDING_MAX]


def test_a_flow_is_counted_apart_from_the_other_flows_of_its_address() -> None:
    """Two flows on one address: each has its own INVITEs, high scores, outcomes, extensions,
    neighbour-spoofed caller IDs and recent callees; the source counts them all."""
    c = LocalCounters()
    phone = Observation("192.0.2.1", "alice", "442079460011", "442079", "fp1", "192.0.2.1|fp1")
    for k in range(3):
        c.high(phone, T0 + k)
        c.observe(phone, T0 + k)
    sweep = [
        Observation("192.0.2.1", "4420794600" + str(10 + k), str(400 + k), "", "fp2", "192.0.2.1|fp2", str(400 + k))
        for k in range(4)
    ]
    for k, obs in enumerate(sweep):
        got = c.observe(obs, T0 + 10 + k)
    c.outcome("192.0.2.1", outcome_metrics(404, None), T0 + 20, "192.0.2.1|fp2")
    c.outcome("192.0.2.1", outcome_metrics(200, 1.0), T0 + 20, "192.0.2.1|fp2")  # hung up at once: short
    c.outcome("192.0.2.1", outcome_metrics(200, 90.0), T0 + 20, "192.0.2.1|fp2")  # talked through
    got = c.observe(Observation("192.0.2.1", "x", "404", "", "fp2", "192.0.2.1|fp2", "404", "x"), T0 + 21)
    assert (got.src_60s, got.flow_60s, got.flow_1h, got.flow_high_1h) == (8, 5, 5, 0)
    assert (got.flow_calls_1h, got.flow_failed_1h, got.src_calls_1h, got.src_short_1h) == (3, 1, 3, 1)
    assert got.flow_short_1h == 1
    assert (got.flow_distinct_ext_60s, got.flow_distinct_nbr_1h) == (5, 1)
    assert got.flow_recent_to == ("403", "402", "401", "400")
    assert got.src_recent_to[:4] == ("403", "402", "401", "400") and got.src_recent_to[4] == "442079460011"
    back = c.observe(phone, T0 + 22)
    assert (back.flow_60s, back.flow_high_1h, back.flow_calls_1h, back.flow_recent_to[0]) == (4, 3, 0, "442079460011")
    assert {kind for kind, _ in c.entities} == {"src", "from", "to", "pfx", "ua", "flow"}


def test_a_flows_outcomes_count_over_the_hour_and_over_the_day() -> None:
    """Two hours on, the flow's hour has forgotten its outcomes and its day has not (what
    :func:`antibot.detect.corroboration.answered` reads in a quiet hour)."""
    c = LocalCounters()
    obs = Observation("192.0.2.9", "alice", "442079460011", "442079", "fp", "192.0.2.9|fp")
    c.observe(obs, T0)
    c.outcome("192.0.2.9", outcome_metrics(200, 90.0), T0 + 60, "192.0.2.9|fp")
    c.outcome("192.0.2.9", outcome_metrics(486, None), T0 + 60, "192.0.2.9|fp")
    c.outcome("192.0.2.9", outcome_metrics(200, 1.0), T0 + 60, "192.0.2.9|fp")
    now = c.observe(obs, T0 + 120)
    assert (now.flow_calls_1h, now.flow_failed_1h, now.flow_short_1h) == (3, 1, 1)
    assert (now.flow_calls_24h, now.flow_failed_24h, now.flow_short_24h) == (3, 1, 1)
    later = c.observe(obs, T0 + 2 * 3600 + 60)
    assert (later.flow_calls_1h, later.flow_failed_1h, later.flow_short_1h) == (0, 0, 0)
    assert later.flow_calls_24h > 2.0 and later.flow_failed_24h > 0.5 and later.flow_short_24h > 0.5
    assert later.src_calls_1h == 0  # the source keeps no day


def test_a_flow_syncs_like_every_entity() -> None:
    c = LocalCounters()
    obs = Observation("192.0.2.1", "", "400", "", "fp", "192.0.2.1|fp", "400")
    c.observe(obs, T0)
    c.outcome("", ["calls", "failed"], T0, obs.flow)
    batch = c.take(T0 + 0.01)
    flow = next(d for d in batch if d.entity.plan is FLOW_PLAN)
    assert flow.counts == ((1, 0), (1, 0), (0, 0), (1, 0), (1, 0), (0, 0), (1, 0), (1, 0), (0, 0)) and flow.pushed == (
        "400",
    )
    c.settle(batch, [own_totals(d) for d in batch])
    got = c.observe(obs, T0 + 0.02)
    assert (got.flow_60s, got.flow_failed_1h, got.flow_recent_to) == (2, 1, ("400",))


def test_recent_callees_are_in_the_order_dialled_whichever_node_synced_first() -> None:
    """Another node's call, synced while an earlier one of this node's was not yet: the recent
    list merges both by call time, so a sweep split across nodes stays a run."""
    c = LocalCounters()
    sweep = Observation("192.0.2.1", "", "400", "", "fp", "192.0.2.1|fp")
    c.observe(sweep, T0)
    batch = c.take(T0 + 0.01)
    c.observe(Observation("192.0.2.1", "", "402", "", "fp", "192.0.2.1|fp"), T0 + 0.02)  # not synced yet
    src = next(d for d in batch if d.entity.plan is PLANS[0])
    assert src.pushed == ("400",) and src.pushed_at == (int(T0 * 1_000_000),)
    # Redis: this node's 400, and 401 then 403 that another node dialled around this node's 402
    at = [int((T0 + dt) * 1_000_000) for dt in (0.03, 0.015, 0.0)]
    c.settle(batch, [totals(d.counts, [(1, 1)] * len(d.members), ["403", "401", "400"], at) for d in batch])
    got = c.observe(Observation("192.0.2.1", "", "404", "", "fp", "192.0.2.1|fp"), T0 + 0.04)
    assert got.src_recent_to == ("403", "402", "401", "400")
    assert got.flow_recent_to == ("403", "402", "401", "400")


def test_calls_at_one_instant_keep_the_order_they_came_in() -> None:
    c = LocalCounters()
    for to in ("400", "401", "402"):
        c.observe(Observation("192.0.2.1", "", to, "", ""), T0)
    batch = c.take(T0)
    src = next(d for d in batch if d.entity.plan is PLANS[0])
    assert src.pushed == ("400", "401", "402")
    assert list(src.pushed_at) == sorted(set(src.pushed_at))  # rising: the stamps never tie


def test_a_fingerprints_recent_callees_are_read_from_its_second_address_on() -> None:
    """One address: nothing reads the fingerprint's list (corroboration wants SHARED_UA
    addresses), so it is not built; from the second address on it is, newest first, the
    other address's calls included."""
    c = LocalCounters()
    for to in ("400", "401"):
        got = c.observe(Observation("192.0.2.1", "", to, "", "fp", "192.0.2.1|fp"), T0)
    assert got.ua_distinct_src_1h == 1.0 and got.ua_recent_to == () and got.flow_recent_to == ("400",)
    got = c.observe(Observation("192.0.2.2", "", "402", "", "fp", "192.0.2.2|fp"), T0)
    assert got.ua_distinct_src_1h == 2.0 and got.ua_recent_to == ("401", "400")
    settle_all(c, T0 + 0.01)
    got = c.observe(Observation("192.0.2.1", "", "403", "", "fp", "192.0.2.1|fp"), T0 + 0.02)
    assert got.ua_recent_to == ("402", "401", "400") and got.src_recent_to == ("401", "400")


def test_a_long_recent_list_keeps_only_the_newest() -> None:
    c = LocalCounters()
    for k in range(100):
        c.observe(Observation(f"192.0.2.{k % 2}", "", str(1000 + k), "", "fp", ""), T0 + k * 0.001)
    settle_all(c, T0 + 0.1)
    for k in range(100, 150):
        got = c.observe(Observation(f"192.0.2.{k % 2}", "", str(1000 + k), "", "fp", ""), T0 + k * 0.001)
    assert got.ua_recent_to == tuple(str(1000 + k) for k in range(148, 84, -1))
