"""One entity's windowed counts on a node: the sliding-window estimate and distinct members."""

from __future__ import annotations

from antibot.detect.windowed import Count, Delta, Distinct, Entity, Plan, own_totals

T0 = 1_000_000 * 60.0  # a multiple of the 60 s window


def test_count_weights_the_previous_bucket_by_what_the_window_still_covers() -> None:
    c = Count(60)
    for _ in range(4):
        c.add(T0 - 1)  # previous bucket
    c.add(T0 + 1)
    assert c.value(T0 + 15) == 1 + 4 * 0.75
    assert c.value(T0 + 60) == 1.0  # the old bucket has left the window
    c.bucket, c.cur, c.prev = int(T0 // 60), 10, 2  # what Redis held at the last sync
    assert c.total(int(T0 // 60)) == 11 and c.total(int(T0 // 60) - 1) == 6


def test_distinct_counts_a_member_once_and_not_again_when_redis_already_had_it() -> None:
    d = Distinct(60)
    for member in ("a", "b", "a"):
        d.add(member, T0 + 1)
    assert d.value(T0 + 2) == 2.0
    d.bucket, d.union, d.seen, d.seen_bucket = int(T0 // 60), 5, frozenset({"a"}), int(T0 // 60)
    assert d.value(T0 + 2) == 5 + 1  # "a" is among Redis's 5 already


def test_own_totals_of_a_delta_are_its_counts_members_and_pushes() -> None:
    plan = Plan("src", "source_ip", (("inv", 60),), (("dto", 60, "to_number"),), 10, ("n", "d"))
    delta = Delta(Entity(plan, "192.0.2.1"), T0, ((3, 1),), ((("100", "101"), ("100",)),), ("100", "101"))
    totals = own_totals(delta)
    assert list(totals.counts) == [(3, 1)]
    assert list(totals.distinct) == [(2, 2)]  # union of both buckets, this bucket alone
    assert list(totals.recent) == ["101", "100"]  # newest first
