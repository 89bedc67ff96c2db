"""CounterSync (the proxy's sync task) and ReplaySync (the same on a replayed clock), with a real
Redis and with stand-ins that fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from antibot.detect.counting import LocalCounters
from antibot.detect.observation import Observation
from antibot.store import StoreError
from antibot.store.hotpath import CounterSync, ReplaySync
from antibot.store.keys import SYNC, entity_prefix
from antibot.store.redis import Store
from antibot.store.wire import NotSent

from .resp import Resp

T0 = 472_222 * 3600.0 + 1234.5


class _Recording:
    """A HotPath stand-in: fails when told to."""

    def __init__(self) -> None:
        self.fail = False
        self.on_call: Callable[[], None] = lambda: None

    async def sync_counts(self, calls: list[object], batch: object, timeout: object) -> list[object]:
        self.on_call()
        if self.fail:
            raise NotSent("redis: not connected")
        return [[[0] * 2 * int(args[0]), [0] * 2 * int(args[1]), []] for _, args in calls]  # type: ignore[misc]


async def test_a_replay_syncs_at_each_tick_that_finds_counts_pending() -> None:
    local = LocalCounters()
    hot = _Recording()
    replay = ReplaySync(hot, local, interval=0.05)  # type: ignore[arg-type]
    synced: list[float] = []  # the replayed time of each sync that reached Redis
    hot.on_call = lambda: synced.append(round(replay.sync.clock() - T0, 6))
    await replay.advance(T0)
    local.observe(Observation("192.0.2.1", "", "", "", ""), T0)
    await replay.advance(T0 + 0.01)  # before the next tick: nothing synced yet
    assert synced == [] and local.pending() == 1
    await replay.advance(T0 + 3.0)  # one tick synced it; the idle ticks after it cost nothing
    assert synced == [0.05] and local.pending() == 0
    local.outcome("192.0.2.2", ["calls"], T0 + 3.0)
    await replay.advance(T0 + 3.0)  # the same instant: its tick is still to come
    await replay.flush()
    assert synced == [0.05, 3.05]
    with pytest.raises(ValueError, match="went back"):
        await replay.advance(T0)
    local.observe(Observation("192.0.2.3", "", "", "", ""), T0 + 4.0)
    hot.fail = True
    with pytest.raises(StoreError, match="not connected"):
        await replay.advance(T0 + 5.0)  # a replay stops at a failed sync


async def test_a_number_dialled_once_costs_writes_and_no_script(url: str, rc: Resp) -> None:
    store = await Store.connect(url)
    try:
        local = LocalCounters()
        sync = CounterSync(store.hot, local, clock=lambda: T0 + 0.05)
        for i in range(20):  # one source, caller, prefix and User-Agent, twenty numbers (each dialled once)
            local.observe(Observation("192.0.2.1", "alice", f"44207946{i:04}", "44207", "ua1"), T0)
        rc("CONFIG", "RESETSTAT")
        assert await sync.sync() == 24 and local.in_sync
        stats = rc("INFO", "commandstats")
        assert "cmdstat_evalsha:calls=4," in stats  # source, prefix, UA read at once; the caller, seen again, too
        key = f"{entity_prefix('to', '442079460007')}inv:60s:{int(T0 // 60)}"
        assert rc("GET", key) == "1" and 0 < rc("TTL", key) <= 120
        assert local.observe(Observation("", "", "442079460007", "", ""), T0 + 0.1).to_60s == 2
    finally:
        await store.close()


async def test_a_caller_seen_once_is_written_and_read_back_from_its_second_invite(url: str, rc: Resp) -> None:
    """A caller on two nodes: its first sync on each only writes (no script, nothing read back);
    its second INVITE on a node makes that node's next sync read every node's count back."""
    store = await Store.connect(url)
    try:
        a, b = LocalCounters(), LocalCounters()
        sync_a, sync_b = (CounterSync(store.hot, local, clock=lambda: T0 + 0.05) for local in (a, b))
        caller = Observation("", "bob", "", "", "")
        b.observe(caller, T0)
        await sync_b.sync()
        rc("CONFIG", "RESETSTAT")
        assert a.observe(caller, T0).from_60s == 1  # this node's knowledge only
        assert await sync_a.sync() == 1
        assert "cmdstat_evalsha" not in rc("INFO", "commandstats")  # written, not read back
        key = f"{entity_prefix('from', 'bob')}inv:60s:{int(T0 // 60)}"
        assert rc("GET", key) == "2" and 0 < rc("TTL", key) <= 120
        assert a.observe(caller, T0 + 0.01).from_60s == 2  # still this node's own two
        assert await sync_a.sync() == 1
        assert "cmdstat_evalsha:calls=1," in rc("INFO", "commandstats")
        assert a.observe(caller, T0 + 0.02).from_60s == 4  # node B's call came back with the read
    finally:
        await store.close()


class _OddRedis:
    """A HotPath stand-in whose replies have the wrong shape, then whose sync raises a bug."""

    def __init__(self) -> None:
        self.calls = 0

    async def sync_counts(self, calls: list[object], batch: object, timeout: object) -> list[object]:
        self.calls += 1
        if self.calls == 1:
            return [1] * len(calls)  # not {counts, distinct, recent}
        raise RuntimeError("a bug")


async def test_an_odd_reply_or_a_bug_never_stops_the_sync_loop() -> None:
    import asyncio

    local = LocalCounters()
    sync = CounterSync(_OddRedis(), local, interval=0.001, clock=lambda: T0)  # type: ignore[arg-type]
    for _ in range(2):  # seen twice: every entity's sync reads totals back
        local.observe(Observation("192.0.2.1", "alice", "4420", "4420", "ua"), T0)
    assert await sync.sync() == 0 and local.unsure == 5 and not local.in_sync  # forgotten, not resent
    task = asyncio.get_running_loop().create_task(sync.run())
    while sync.failures < 3:
        await asyncio.sleep(0.005)
    assert not task.done()  # still running after the bug
    task.cancel()


class _SlowRedis:
    async def sync_counts(self, calls: list[object], batch: object, timeout: object) -> list[object]:
        import asyncio

        await asyncio.sleep(10)
        return []


async def test_a_sync_cancelled_mid_flight_leaves_the_counters_usable() -> None:
    import asyncio

    local = LocalCounters()
    sync = CounterSync(_SlowRedis(), local, clock=lambda: T0)  # type: ignore[arg-type]
    local.observe(Observation("192.0.2.1", "alice", "4420", "4420", "ua"), T0)
    task = asyncio.get_running_loop().create_task(sync.sync())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(local.take(T0 + 1)) == 5  # not stuck "in flight": the shutdown's last sync can run


class _DownRedis:
    """A HotPath stand-in for a Redis that is down: nothing is ever sent."""

    def __init__(self) -> None:
        self.sizes: list[int] = []  # script calls (entities read back) per attempt

    async def sync_counts(self, calls: list[object], batch: object, timeout: object) -> list[object]:
        self.sizes.append(len(calls))
        raise NotSent("redis: not connected")


class _Stop(Exception):
    pass


def _seen_twice(local: LocalCounters, callers: int) -> None:
    """``callers`` unique callers and callees, each seen twice (their syncs read totals back)."""
    for i in range(callers):
        obs = Observation("192.0.2.1", f"caller{i}", f"4420794{i:05d}", "44207", "ua1")
        local.observe(obs, T0)
        local.observe(obs, T0)


async def test_failed_syncs_back_off_and_each_retries_one_bounded_batch() -> None:
    """with Redis down every sync retried every entity, every 50 ms."""
    local = LocalCounters()
    _seen_twice(local, 1000)  # 2,003 entities pending
    down = _DownRedis()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 10:
            raise _Stop

    sync = CounterSync(down, local, interval=0.05, max_batch=300, max_backoff=5.0, sleep=sleep, clock=lambda: T0)  # type: ignore[arg-type]
    with pytest.raises(_Stop):
        await sync.run()
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert sync.failures == 9 and down.sizes == [300] * 9  # never more than one batch
    assert local.pending() == 2003 and not local.in_sync  # nothing lost: all queued again


async def test_a_good_sync_ends_the_backoff_and_a_backlog_drains_in_batches(url: str) -> None:
    store = await Store.connect(url)
    try:
        local = LocalCounters()
        _seen_twice(local, 1000)
        sync = CounterSync(_DownRedis(), local, interval=0.05, max_batch=500, clock=lambda: T0 + 0.05)  # type: ignore[arg-type]
        for _ in range(3):
            assert await sync.sync() == 0
        assert sync.delay == 0.4
        sync.hot = store.hot  # Redis is back
        sizes = [await sync.sync() for _ in range(5)]
        assert sizes == [500, 500, 500, 500, 3] and local.in_sync and local.pending() == 0
        assert sync.delay == 0.05  # backlog gone: the usual interval (0 while a full batch waited)
    finally:
        await store.close()


async def test_flush_sends_every_batch_and_stops_at_a_failure(url: str) -> None:
    store = await Store.connect(url)
    try:
        local = LocalCounters()
        _seen_twice(local, 300)  # 603 entities
        await CounterSync(_DownRedis(), local, max_batch=100).flush()  # type: ignore[arg-type]
        assert local.pending() == 603  # one failed attempt, then it gave up
        await CounterSync(store.hot, local, max_batch=100, clock=lambda: T0 + 0.05).flush()
        assert local.pending() == 0 and local.in_sync
    finally:
        await store.close()


async def test_two_nodes_share_a_sweep_in_the_order_dialled(url: str, rc: Resp) -> None:
    """A sweep split over two nodes (even callees on one, odd on the other), one node syncing
    after each call and the other only at the end: the shared recent list is in the order the
    callees were dialled, not the order the nodes synced, and ends up as 10 in a row."""
    store = await Store.connect(url)
    try:
        nodes = [LocalCounters(), LocalCounters()]
        now = [T0]
        syncs = [CounterSync(store.hot, local, clock=lambda: now[0]) for local in nodes]
        for ext in range(400, 410):
            now[0] = T0 + (ext - 400) * 0.02
            nodes[ext % 2].observe(Observation("192.0.2.9", "", str(ext), "", "fp", "192.0.2.9|fp"), now[0])
            if ext % 2:
                await syncs[1].sync()
        await syncs[0].sync()
        got = nodes[0].observe(Observation("192.0.2.9", "", "410", "", "fp", "192.0.2.9|fp"), T0 + 0.2)
        in_order = tuple(str(ext) for ext in range(409, 399, -1))
        assert got.src_recent_to == in_order and got.flow_recent_to == in_order
        key = f"{entity_prefix('src', '192.0.2.9')}callees"
        assert rc("ZCARD", key) == 10 and 0 < rc("TTL", key) <= 3600
    finally:
        await store.close()


def _run_sync_lua(rc: Resp, tag: str, counters: list[tuple[int, int]], hlls: list[tuple[list[str], list[str]]]) -> Any:
    """``lua/sync.lua`` on ``tag``'s keys: per counter (amount to cur, to prev), per HyperLogLog
    (members to cur, to prev), a recent set of keep 3 with one pushed number."""
    keys: list[str] = []
    args: list[str | int] = [len(counters), len(hlls), 3]
    for i, (add, add_prev) in enumerate(counters):
        keys += (f"{tag}c{i}:cur", f"{tag}c{i}:prev")
        args += (120, 60, add, add_prev)
    for i, (cur, prev) in enumerate(hlls):
        keys += (f"{tag}h{i}:cur", f"{tag}h{i}:prev")
        args += (120, 60, len(cur), len(prev), *cur, *prev)
    keys.append(f"{tag}recent")
    args += (3600, 1, 5, "5:442079460001")
    return rc("EVAL", SYNC.text, len(keys), *keys, *args)


def _held(rc: Resp, tag: str, nc: int, nh: int) -> list[Any]:
    """What Redis holds for ``tag`` after a sync, read with plain commands: sync.lua's reply shape."""
    counts = [int(rc("GET", f"{tag}c{i}:{b}") or 0) for i in range(nc) for b in ("cur", "prev")]
    distinct: list[int] = []
    for i in range(nh):
        distinct += (rc("PFCOUNT", f"{tag}h{i}:cur", f"{tag}h{i}:prev"), rc("PFCOUNT", f"{tag}h{i}:cur"))
    return [counts, distinct, rc("ZREVRANGE", f"{tag}recent", 0, 2)]


async def test_sync_lua_replies_what_redis_then_holds_and_skips_reads_it_knows(rc: Resp) -> None:
    """Its shortcuts (an entity with no key yet, no previous HyperLogLog bucket, one MGET for
    the counters nothing was added to) reply what plain reads give right after."""
    counters = [(1, 0), (0, 0), (2, 1)]
    shapes = [
        [(["a"], []), ([], ["b"]), ([], [])],  # one member at most per HyperLogLog
        [(["a", "b", "c"], []), (["a"], ["b"]), ([], [])],  # more: counted by Redis
    ]
    for n, hlls in enumerate(shapes):
        tag = f"{{t{n}}}"
        rc("CONFIG", "RESETSTAT")
        fresh = _run_sync_lua(rc, tag, counters, hlls)
        stats = rc("INFO", "commandstats")
        assert fresh == _held(rc, tag, len(counters), len(hlls)), n
        assert fresh[0] == [1, 0, 0, 0, 2, 1] and fresh[1][:4] == ([1, 1, 1, 0] if n == 0 else [3, 3, 2, 1])
        assert "cmdstat_mget" not in stats and "cmdstat_incrby" not in stats  # nothing there to read or add to
        assert ("cmdstat_pfcount" in stats) == (n == 1)
        assert 0 < rc("TTL", f"{tag}c0:cur") <= 120 and 0 < rc("TTL", f"{tag}c2:prev") <= 60
        assert 0 < rc("TTL", f"{tag}h0:cur") <= 120
        for _ in range(2):  # an entity Redis has: counted, read back (the union only once a previous bucket exists)
            again = _run_sync_lua(rc, tag, counters, [(["d"], []), ([], []), (["e"], ["f"])])
            assert again == _held(rc, tag, len(counters), 3), n
