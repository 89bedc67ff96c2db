"""One node's counting (LocalCounters, synced with a real Redis by ReplaySync), the clock driven by the test."""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from antibot.detect.observation import Counters, Observation
from antibot.store import StoreError
from antibot.store.redis import Store, entity_prefix

from .conftest import Node, until
from .resp import Resp

T0 = 472_222 * 3600.0  # a realistic epoch (Nov 2023), a multiple of every window
RATES = {
    "src": ("source_ip", {1: "src_1s", 10: "src_10s", 60: "src_60s", 3600: "src_1h"}),
    "from": ("from_user", {60: "from_60s", 3600: "from_1h"}),
    "to": ("to_number", {60: "to_60s", 3600: "to_1h"}),
    "pfx": ("to_prefix", {60: "prefix_60s", 3600: "prefix_1h"}),
    "ua": ("ua_fingerprint", {60: "ua_60s", 3600: "ua_1h"}),
}
KEY = re.compile(
    r"ab:\{(src|from|to|pfx|ua):[^{}]+\}:(?:(inv|dto|dsrc|calls|failed|short|high):(1s|10s|60s|1h):(\d+)|callees)"
)
WINDOW_SECONDS = {"1s": 1, "10s": 10, "60s": 60, "1h": 3600}


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Store]:
    store = await Store.connect(url)
    try:
        yield store
    finally:
        await store.close()


def obs(src: str = "", frm: str = "", to: str = "", pfx: str = "", ua: str = "") -> Observation:
    return Observation(source_ip=src, from_user=frm, to_number=to, to_prefix=pfx, ua_fingerprint=ua)


class Model:
    """Reference: per-entity event counts per (window, bucket) and the spec's sliding formula."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, int, int]] = Counter()

    def add(self, kind: str, value: str, t: float) -> None:
        for w in RATES[kind][1]:
            self.counts[kind, value, w, math.floor(t / w)] += 1

    def rate(self, kind: str, value: str, w: int, now: float) -> float:
        b = math.floor(now / w)
        return self.counts[kind, value, w, b] + self.counts[kind, value, w, b - 1] * (1 - (now % w) / w)


async def test_replay_two_hours_matches_reference(url: str, rc: Resp) -> None:
    """~2 h of bursty synthetic traffic replayed in well under a second; every rate checked."""
    rng = random.Random(7)
    model = Model()
    srcs = ["10.0.0.1", "10.0.0.2", "2001:db8::7"]
    froms = ["alice", "bob", "+33144556677", ""]
    uas = ["ua-a", "ua-b", ""]
    now, end, checked = T0 + 0.3, T0 + 2 * 3600, 0
    async with connected(url) as store:
        node = Node(store)
        while now < end:
            burst = rng.random() < 0.05
            for _ in range(rng.randint(5, 30) if burst else 1):
                to = f"+3361234{rng.randint(0, 60):04d}"
                o = obs(rng.choice(srcs), rng.choice(froms), to, to[:6], rng.choice(uas))
                got = await node.observe(o, now)
                for kind, (attr, fields) in RATES.items():
                    value = getattr(o, attr)
                    if value:
                        model.add(kind, value, now)
                    for w, field in fields.items():
                        want = model.rate(kind, value, w, now) if value else 0.0
                        assert getattr(got, field) == pytest.approx(want, abs=1e-9), (field, now - T0)
                        checked += 1
                now += rng.uniform(0.01, 0.3) if burst else rng.expovariate(1 / 8)
        assert checked > 10_000
        keys = rc.scan()
        assert keys
        for key in keys:
            match = KEY.fullmatch(key)
            assert match, key
            pttl = rc("PTTL", key)  # -2: expired meanwhile; -1 (no expiry) is the bug this catches
            limit = 3600 if match[2] is None else 2 * WINDOW_SECONDS[match[3]]
            assert pttl == -2 or 0 <= pttl <= limit * 1000, (key, pttl)
        # 1 s buckets really go away (real seconds: their TTL is at most 2 s)
        await until(lambda: not rc.scan("*:1s:*"), timeout=5, what="1 s buckets to expire")
        assert rc.scan("*:10s:*") and rc.scan("*:1h:*")


async def test_sliding_window_by_hand(url: str) -> None:
    ip = "192.0.2.1"
    async with connected(url) as store:
        node = Node(store)
        base = T0 + 120  # 60 s bucket starts here
        for i in range(6):
            await node.observe(obs(ip), base + i * 0.1)
        c = await node.observe(obs(ip), base + 75)  # next 60 s bucket, 25 % in: 1 + 6 * 0.75
        assert (c.src_1s, c.src_10s, c.src_60s, c.src_1h) == (1.0, 1.0, 5.5, 7.0)
        c = await node.observe(obs(ip), base + 120)  # exactly on a boundary: previous bucket in full
        assert c.src_60s == 2.0
        assert c.src_1h == 8.0
        c = await node.observe(obs(ip), base + 240.5)  # previous 60 s bucket empty
        assert (c.src_1s, c.src_10s, c.src_60s) == (1.0, 1.0, 1.0)
        c = await node.observe(obs(ip), base + 240.75)  # same 1 s bucket
        assert c.src_1s == 2.0
        c = await node.observe(obs(ip), base + 241.5)  # next second, half way: 1 + 2 * 0.5
        assert c.src_1s == 2.0
        assert c.src_10s == 3.0  # 240.5, 240.75, 241.5; the 10 s bucket before is empty
        c = await node.observe(obs(ip), T0 + 3600 + 900)  # next hour, 25 % in: 1 + 11 * 0.75
        assert c.src_1h == 9.25
        c = await node.observe(obs(ip), T0 + 3 * 3600)  # two hours later: old buckets are not read
        assert (c.src_1s, c.src_10s, c.src_60s, c.src_1h) == (1.0, 1.0, 1.0, 1.0)


async def test_counts_are_per_entity_and_include_this_invite(url: str) -> None:
    async with connected(url) as store:
        node = Node(store)
        await node.observe(obs("198.51.100.1", "alice", "+3312", "+33", "ua1"), T0)
        c = await node.observe(obs("198.51.100.2", "alice", "+3399", "+33", "ua2"), T0 + 1)
        assert (c.src_60s, c.from_60s, c.to_60s, c.prefix_60s, c.ua_60s) == (1.0, 2.0, 1.0, 2.0, 1.0)
        assert (c.from_distinct_to_60s, c.from_distinct_src_1h, c.src_distinct_to_60s) == (2.0, 2.0, 1.0)


async def test_hyperloglog_distinct_counts(url: str, rc: Resp) -> None:
    async with connected(url) as store:
        node = Node(store)
        now = T0
        for i in range(1000):
            await node.observe(obs("203.0.113.5", "robo", f"+4420{i:07d}"), now)
            now += 0.05
        c = await node.observe(obs("203.0.113.5", "robo", "+44200000000"), now)  # a repeat
        assert c.src_distinct_to_60s == pytest.approx(1000, rel=0.03)
        assert c.src_distinct_to_1h == pytest.approx(1000, rel=0.03)
        assert c.from_distinct_to_60s == pytest.approx(1000, rel=0.03)
        assert c.from_distinct_to_1h == pytest.approx(1000, rel=0.03)
        await node.sync.flush()
        key = f"ab:{{src:203.0.113.5}}:dto:60s:{int(now // 60)}"
        counted = rc("PFCOUNT", key)
        await node.observe(obs("203.0.113.5", "robo", "+44200000500"), now + 0.01)
        await node.sync.flush()
        assert rc("PFCOUNT", key) == counted == pytest.approx(1000, rel=0.03)  # repeats add nothing

        for i in range(300):  # one From user and one UA fingerprint from many sources
            await node.observe(obs(f"100.64.{i // 256}.{i % 256}", "spoofed", "+1555", ua="sipvicious"), now + 1)
        c = await node.observe(obs("100.64.0.0", "spoofed", "+1555", ua="sipvicious"), now + 1)
        assert c.from_distinct_src_1h == pytest.approx(300, rel=0.03)
        assert c.ua_distinct_src_1h == pytest.approx(300, rel=0.03)
        assert c.from_distinct_to_1h == 1.0

        # windows: current + previous bucket, so numbers dialled two minutes ago fall out
        base = T0 + 3 * 3600
        for i in range(20):
            await node.observe(obs("203.0.113.9", to=f"+49{i}"), base + i)
        c = await node.observe(obs("203.0.113.9", to="+49x"), base + 60)
        assert c.src_distinct_to_60s == 21.0
        c = await node.observe(obs("203.0.113.9", to="+49y"), base + 120)
        assert c.src_distinct_to_60s == 2.0
        assert c.src_distinct_to_1h == 22.0


async def test_recent_to_is_read_before_push_newest_first(url: str) -> None:
    async with connected(url) as store:
        node = Node(store)
        for i in range(13):
            c = await node.observe(obs("192.0.2.7", to=f"n{i}"), T0 + i)
            assert c.src_recent_to == tuple(f"n{j}" for j in range(i - 1, max(i - 11, -1), -1))
        c = await node.observe(obs("192.0.2.7"), T0 + 20)  # no To: read, nothing pushed
        assert c.src_recent_to[:2] == ("n12", "n11") and len(c.src_recent_to) == 10
        c = await node.observe(obs("192.0.2.7", to="n13"), T0 + 21)
        assert c.src_recent_to[0] == "n12"
        other = await node.observe(obs("192.0.2.8", to="n1"), T0 + 22)
        assert other.src_recent_to == ()


async def test_outcomes_are_read_not_updated_by_observe(url: str, rc: Resp) -> None:
    ip = "192.0.2.50"
    async with connected(url) as store:
        node = Node(store)
        t = T0 + 600
        for status, duration in [(200, 30.0), (200, 2.0), (486, None), (0, None), (200, None), (302, None)]:
            await node.outcome(ip, status, duration, t)
        await node.outcome(ip, 487, 0.0, t)
        await node.outcome(ip, 200, 8.0, t, short_call_seconds=10.0)
        await node.outcome("192.0.2.51", 503, None, t)
        c = await node.observe(obs(ip), t)
        assert (c.src_calls_1h, c.src_failed_1h, c.src_short_1h) == (8.0, 3.0, 2.0)
        c = await node.observe(obs(ip), t + 1)
        assert c.src_calls_1h == 8.0  # observe does not count outcomes
        await node.sync.flush()
        assert rc("GET", f"ab:{{src:{ip}}}:failed:1h:{int(t // 3600)}") == "3"
        c = await node.observe(obs(ip), T0 + 3600 + 1800)  # next hour, half way
        assert (c.src_calls_1h, c.src_failed_1h, c.src_short_1h) == (4.0, 1.5, 1.0)
        assert c.src_failed_1h / c.src_calls_1h == pytest.approx(3 / 8)
        c = await node.observe(obs(ip), T0 + 3 * 3600)
        assert (c.src_calls_1h, c.src_failed_1h, c.src_short_1h) == (0.0, 0.0, 0.0)
        await node.sync.flush()
        before = sorted(rc.scan())
        await node.outcome("", 500, None, T0 + 3 * 3600 + 1)  # no source: nothing counted
        await node.sync.flush()
        assert sorted(rc.scan()) == before


async def test_empty_entities_write_nothing_and_read_zero(url: str, rc: Resp) -> None:
    async with connected(url) as store:
        node = Node(store)
        assert await node.observe(obs(), T0) == Counters()
        await node.sync.flush()
        assert rc("DBSIZE") == 0

        c = await node.observe(obs(src="192.0.2.60"), T0 + 1)
        assert c.src_60s == 1.0 and c.src_distinct_to_60s == 0.0 and c.src_recent_to == ()
        await node.sync.flush()
        assert {KEY.fullmatch(k)[1] for k in rc.scan()} == {"src"}  # type: ignore[index]
        assert not rc.scan("*:callees")  # nothing pushed for an empty To
        assert dataclasses.replace(c, src_1s=0.0, src_10s=0.0, src_60s=0.0, src_1h=0.0) == Counters()

        rc("FLUSHALL")
        c = await node.observe(obs(frm="anon-ish", ua="ua9"), T0 + 2)
        assert (c.from_60s, c.ua_1h, c.from_distinct_src_1h, c.ua_distinct_src_1h, c.from_distinct_to_1h) == (
            1.0,
            1.0,
            0.0,
            0.0,
            0.0,
        )
        assert (c.src_1h, c.to_1h, c.prefix_1h) == (0.0, 0.0, 0.0)
        await node.sync.flush()
        assert {KEY.fullmatch(k)[1] for k in rc.scan()} == {"from", "ua"}  # type: ignore[index]


async def test_every_counters_field_is_filled_and_read_back_from_redis(url: str) -> None:
    full = Observation("192.0.2.70", "u", "+1", "+", "ua", "192.0.2.70|ua", "+1", "u")
    async with connected(url) as store:
        node = Node(store)
        await node.outcome("192.0.2.70", 486, None, T0)
        await node.outcome("192.0.2.70", 200, 1.0, T0)
        node.local.high(full, T0)
        node.local.outcome("", ["calls", "failed"], T0, full.flow)
        node.local.outcome("", ["calls", "short"], T0, full.flow)
        await node.observe(full, T0)
        # the fingerprint on a second address: its recent callees are read (SHARED_UA)
        await node.observe(Observation("192.0.2.71", "", "+2", "", "ua", "192.0.2.71|ua"), T0)
        await node.sync.flush()
        other = Node(store)  # another node: it learns the first one's counts from Redis
        for k in range(3):  # first seen: written only; seen again: its next sync reads the totals
            await other.observe(Observation("192.0.2.70", "u", "+1", "+", "ua", "192.0.2.70|ua"), T0 + 0.2 + k * 0.1)
        c = await other.observe(full, T0 + 0.55)
    zero = [f.name for f in dataclasses.fields(Counters) if not getattr(c, f.name)]
    assert zero == []
    assert (c.src_high_1h, c.ua_high_1h, c.flow_high_1h, c.flow_failed_1h, c.flow_short_1h) == (1.0,) * 5
    assert c.src_failed_1h == 1.0 and c.src_short_1h == 1.0
    assert c.flow_recent_to[-1] == "+1" and c.flow_60s == 5.0 and c.src_60s == 5.0


async def test_key_names_and_tags(url: str, rc: Resp) -> None:
    weird = obs("::ffff:192.0.2.1", "a}b{c %d", "+33 1 23", "é" * 40, "x" * 500)
    async with connected(url) as store:
        node = Node(store)
        c = await node.observe(weird, T0)
        await node.outcome(weird.source_ip, 404, None, T0)
        c = await node.observe(weird, T0 + 1)
    assert (c.from_60s, c.to_60s, c.prefix_60s, c.ua_60s, c.src_calls_1h) == (2.0, 2.0, 2.0, 2.0, 1.0)
    keys = rc.scan()
    tags = {key[: key.index("}") + 1] for key in keys}
    assert all(KEY.fullmatch(key) for key in keys), keys
    assert len(tags) == 5
    assert all(len(tag) < 110 for tag in tags)
    assert entity_prefix("ua", "x" * 500) != entity_prefix("ua", "x" * 499)
    assert entity_prefix("from", "a}b") != entity_prefix("from", "a%7Db")
    assert entity_prefix("src", "10.0.0.1") == "ab:{src:10.0.0.1}:"


async def test_undecodable_values_round_trip(url: str) -> None:
    """A To number carrying bytes that were not UTF-8 (surrogate-escaped) is counted and kept intact."""
    odd = b"+33\xff\xfe12".decode("utf-8", "surrogateescape")
    async with connected(url) as store:
        node = Node(store)
        await node.observe(obs("192.0.2.99", odd, odd, odd, odd), T0)
        c = await node.observe(obs("192.0.2.99", odd, "+1", odd, odd), T0)
    assert c.src_recent_to == (odd,)
    assert (c.from_60s, c.prefix_60s, c.ua_60s, c.src_distinct_to_60s) == (2.0, 2.0, 2.0, 2.0)


async def test_noscript_recovery_after_script_flush(url: str, rc: Resp) -> None:
    o = obs("192.0.2.80", "u", "+1", "+", "ua")
    async with connected(url) as store:
        node = Node(store)
        await node.observe(o, T0)
        await node.observe(o, T0)  # seen again: its syncs run sync.lua
        await node.sync.flush()
        assert rc("SCRIPT", "FLUSH") == "OK"
        await node.observe(o, T0 + 0.1)
        await node.sync.flush()  # NOSCRIPT: loaded again, and only what did not run is retried
        assert rc("GET", f"ab:{{src:192.0.2.80}}:inv:1h:{int(T0 // 3600)}") == "3"  # counted once
        rc("SCRIPT", "FLUSH")
        await node.outcome(o.source_ip, 500, None, T0 + 0.2)
        c = await node.observe(o, T0 + 0.2)
        await node.sync.flush()
        c = await node.observe(o, T0 + 0.3)
        assert c.src_1h == 5.0 and c.src_failed_1h == 1.0
        assert (c.from_1h, c.to_1h, c.prefix_1h, c.ua_1h) == (5.0,) * 4
        assert node.sync.sync.failures == 0


async def test_one_write_per_sync(url: str, rc: Resp) -> None:
    o = obs("192.0.2.90", "u", "+1", "+", "ua")
    async with connected(url) as store:
        node = Node(store)
        await node.observe(o, T0)  # warm: the connection is open
        await node.sync.flush()
        proto = store.wire._proto
        assert proto is not None and proto.transport is not None
        real = proto.transport
        sends: list[int] = []

        class Counting:
            def write(self, data: bytes) -> None:
                sends.append(len(data))
                real.write(data)

            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

        proto.transport = Counting()  # type: ignore[assignment]
        rc("CONFIG", "RESETSTAT")
        reads = int(rc.info("stats")["total_reads_processed"])
        for i in range(50):
            await node.observe(o, T0 + 1 + i)  # a sync between every two (each a tick apart)
        await node.sync.flush()
        assert len(sends) == 50  # client side: one write per sync
        # server side: one read event per sync (+1 for the INFO below), 5 EVALSHA each
        assert int(rc.info("stats")["total_reads_processed"]) - reads == 51
        stats = rc.info("commandstats")
        assert stats["cmdstat_evalsha"].startswith("calls=250,")
        assert not any(k in stats for k in ("cmdstat_script", "cmdstat_eval", "cmdstat_ping"))

        sends.clear()
        await node.observe(obs(src="192.0.2.91"), T0 + 60)
        await node.outcome("192.0.2.91", 200, 1.0, T0 + 60)
        await node.sync.flush()
        await store.log_calls([{"n": str(i)} for i in range(100)], 1000)
        assert len(sends) == 2  # the sync's write, the call log's


async def test_call_stream_newest_first_and_trimmed(url: str, rc: Resp) -> None:
    async with connected(url) as store:
        assert await store.read_calls(5) == []
        await store.log_calls([{"call": "1", "verdict": "relay"}, {}, {"call": "2", "verdict": "reject"}], 100)
        await store.log_calls([], 100)
        rows = await store.read_calls(5)
        assert [fields for _, fields in rows] == [{"call": "2", "verdict": "reject"}, {"call": "1", "verdict": "relay"}]
        assert rows[0][0] > rows[1][0] or len(rows[0][0]) > len(rows[1][0])
        await store.log_calls([{"n": str(i)} for i in range(1000)], 100)
        assert 100 <= rc("XLEN", "ab:calls") < 300  # MAXLEN ~ trims whole macro nodes
        assert [f["n"] for _, f in await store.read_calls(3)] == ["999", "998", "997"]


async def test_an_outcome_joins_its_call_and_takes_no_stream_entry(url: str, rc: Resp) -> None:
    async with connected(url) as store:
        await store.log_calls([{"call": "c1", "verdict": "pass", "ts": "1795766400.0"}], 100)
        await store.log_calls([{"call": "c1", "outcome": "486", "duration": "", "ts": "1795766401.0"}], 100)
        assert rc("XLEN", "ab:calls") == 1  # the stream keeps decisions: its length is calls, not events
        found = await store.find_call("c1")
        assert found is not None and found[1]["verdict"] == "pass" and found[2]["status"] == "486"
        assert 0 < rc("TTL", "ab:outcome:c1") <= 7 * 86400


async def test_unreachable_redis_raises_store_error(tmp_path: object) -> None:
    with pytest.raises(StoreError):
        await Store.connect(f"unix://{tmp_path}/nothing.sock", timeout=0.5)
