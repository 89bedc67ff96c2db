"""Hash tags, checked by Redis itself: a one-node Redis Cluster refuses any command or script
whose keys span hash slots (CROSSSLOT), so the whole Store API must run cleanly on it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest

from antibot.detect.counting import LocalCounters
from antibot.detect.observation import Observation
from antibot.store.cluster import ClusterWire, cluster_seeds, is_cluster_url, key_slot
from antibot.store.embedded import EmbeddedRedis
from antibot.store.hotpath import CounterSync
from antibot.store.keys import entity_prefix
from antibot.store.redis import Store

from .conftest import Node, until
from .redis_cluster import LocalCluster
from .resp import Resp, RespError


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Resp]:
    server = EmbeddedRedis(tmp_path, extra_args=("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"))
    server.start()
    rc = Resp(str(server.socket_path))
    try:
        rc("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        yield rc
    finally:
        rc.close()
        server.stop()


async def test_every_script_call_stays_in_one_slot(cluster: Resp, tmp_path: Path) -> None:
    await until(lambda: "cluster_state:ok" in cluster("CLUSTER", "INFO"), what="cluster_state:ok")
    # the referee works: the keys of two entities in one call are refused
    with pytest.raises(RespError, match="CROSSSLOT"):
        cluster("EVAL", "return 1", 2, "ab:{src:1.2.3.4}:x", "ab:{from:alice}:x")

    weird = Observation("2001:db8::1", "al}ice{", "+1 555 0100", "+1555", "Zoiper é" * 20)
    async with await Store.connect(f"unix://{tmp_path}/redis.sock") as store:
        node = Node(store)  # on a replayed clock, as training counts
        for i in range(3):
            c = await node.observe(weird, 1_000_000.0 + i)
        await node.outcome(weird.source_ip, 486, None, 1_000_003.0)
        await store.log_calls([{"call": "1"}], 100)
        assert await store.read_calls(1)
        c = await node.observe(weird, 1_000_004.0)
        await node.sync.flush()
        local = LocalCounters()  # the proxy's way: counted locally, synced with one script per entity
        local.observe(weird, 1_000_005.0)
        sync = CounterSync(store.hot, local, clock=lambda: 1_000_005.0)
        assert await sync.sync() == 5  # first sync: sync.lua (totals read back), the number written only
        seen = local.observe(weird, 1_000_005.2)
        assert (seen.src_60s, seen.to_60s) == (6.0, 2.0)  # Redis's source total; the number: its own
        assert await sync.sync() == 5  # seen again: sync.lua for every entity
        synced = local.observe(weird, 1_000_005.5)
    assert (c.src_60s, c.from_60s, c.to_60s, c.prefix_60s, c.ua_60s, c.src_failed_1h) == (4.0,) * 5 + (1.0,)
    assert (synced.src_60s, synced.to_60s, synced.ua_60s, synced.src_failed_1h) == (7.0, 7.0, 7.0, 1.0)

    keys = cluster.scan()
    tags = {key: re.match(r"ab:(\{[^}]*\})", key) for key in keys if key != "ab:calls"}
    assert all(tags.values()), keys
    slots = {}
    for key, tag in tags.items():
        slots.setdefault(tag[1], set()).add(cluster("CLUSTER", "KEYSLOT", key))  # type: ignore[index]
    assert len(slots) == 5  # src, from, to, pfx, ua
    assert all(len(s) == 1 for s in slots.values()), slots


async def test_admin_transactions_stay_in_one_slot(cluster: Resp, tmp_path: Path) -> None:
    """Policy commits and feedback write several keys in one MULTI/EXEC: they share a tag."""
    await until(lambda: "cluster_state:ok" in cluster("CLUSTER", "INFO"), what="cluster_state:ok")
    async with await Store.connect(f"unix://{tmp_path}/redis.sock") as store:
        assert await store.seed_policy({"version": 1, "rules": []})
        assert await store.commit_policy({"version": 2, "rules": []}, 1, {"who": "t", "action": "test"})
        await store.store_feedback("ref-1", '{"label": 1}', {"who": "t", "action": "feedback"})
        await store.add_audit({"who": "t", "action": "note"})
        assert (await store.get_policy() or {}).get("version") == 2
    slots = {cluster("CLUSTER", "KEYSLOT", key) for key in cluster.scan()}
    assert len(slots) == 1, cluster.scan()


def test_scripts_touch_only_declared_keys() -> None:
    """Redis 7.0 does not check keys a script reaches without declaring them, so check the source:
    every key argument of every redis.call is a KEYS[...] entry (or the MGET / EXISTS of a list of them, or of KEYS)."""
    scripts = [p for p in files("antibot.store").joinpath("lua").iterdir() if p.name.endswith(".lua")]
    assert [p.name for p in scripts] == ["sync.lua"]
    for script in scripts:
        text = script.read_text()
        calls = re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", text)
        assert calls, script.name
        lists = {("MGET", "unpack(mget"), ("EXISTS", "unpack(exists"), ("EXISTS", "unpack(KEYS")}
        assert all(arg.startswith("KEYS[") or (cmd, arg) in lists for cmd, arg in calls), calls
        for name in ("mget", "exists"):
            listed = re.findall(rf"{name}\[#{name} \+ 1\] = (\S+)", text)
            assert all(arg.startswith("KEYS[") for arg in listed), listed


# --- a real 3-master Redis Cluster (redis-cli --cluster create), through cluster.ClusterWire ---


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh(three: LocalCluster) -> LocalCluster:
    """The module's cluster, every master emptied."""
    for port in three.masters():
        client = three.client(port)
        client("FLUSHALL")
        client.close()
    return three


def _keys_by_master(cluster: LocalCluster) -> dict[int, list[str]]:
    out = {}
    for port in cluster.masters():
        client = cluster.client(port)
        out[port] = client.scan()
        client.close()
    return out


def test_cluster_urls_and_slots() -> None:
    seeds = cluster_seeds("redis+cluster://user:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
    assert [(s.host, s.port) for s in seeds] == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
    assert {(s.username, s.password, s.tls) for s in seeds} == {("user", "p@ss", None)}
    (secret,) = cluster_seeds("rediss+cluster://s3cret@db")
    assert (secret.host, secret.port, secret.username, secret.password) == ("db", 6379, None, "s3cret")
    assert secret.tls is not None
    assert is_cluster_url("redis+cluster://a:1") and not is_cluster_url("redis://a:1")
    with pytest.raises(ValueError):
        cluster_seeds("redis+cluster://")
    # the slots Redis itself documents (CLUSTER KEYSLOT): tags hash alone, empty tags do not count
    assert key_slot("foo") == 12182 and key_slot("{user1000}.following") == key_slot("user1000") == 3443
    assert key_slot("foo{}{bar}") == key_slot("foo{}{bar}") != key_slot("bar")
    assert key_slot("ab:{src:1.2.3.4}:inv:60s:1") == key_slot("src:1.2.3.4")


def test_key_slot_agrees_with_redis(fresh: LocalCluster) -> None:
    client = fresh.client(fresh.ports[0])
    keys = ["ab:calls", "ab:{admin}:policy", "ab:{flow:10.0.0.1|f00}:recent", "x{}y", "a{b}{c}", "{}", "é{ü}"]
    assert [key_slot(k) for k in keys] == [client("CLUSTER", "KEYSLOT", k) for k in keys]
    client.close()


async def test_two_nodes_count_as_one_across_three_masters(fresh: LocalCluster) -> None:
    """Two stores (two proxy nodes) count one campaign: each entity's script runs on its slot's
    master, the totals are the sum of both nodes, and the entities land on every master."""
    now = 1_000_000.0
    async with await Store.connect(fresh.url) as a, await Store.connect(fresh.url) as b:
        assert isinstance(a.wire, ClusterWire) and len(a.wire.masters()) == 3
        nodes = [(LocalCounters(), a), (LocalCounters(), b)]
        syncs = [CounterSync(store.hot, local, clock=lambda: now) for local, store in nodes]
        for _ in range(2):  # the second round reads back (sync.lua): totals from both nodes
            for i in range(40):
                local, _ = nodes[i // 8 % 2]  # each source calls through both nodes
                local.observe(Observation(f"10.0.{i % 8}.1", "alice", f"1650555{i:04d}", "1650", "Zoiper"), now)
            for sync in syncs:
                assert await sync.sync() > 0 and sync.failures == 0, sync.last_error
        local, _ = nodes[1]  # synced last: it read what both nodes counted
        seen = local.observe(Observation("10.0.3.1", "alice", "16505559999", "1650", "Zoiper"), now)
        assert seen.src_60s == 11.0  # 5 per round across both nodes, and this one
        assert seen.from_60s == 81.0 and seen.ua_60s == 81.0
        assert a.wire.redirects == 0
    spread = _keys_by_master(fresh)
    assert all(len(keys) > 5 for keys in spread.values()), {p: len(k) for p, k in spread.items()}
    tags = [{re.match(r"ab:(\{[^}]*\})", k)[1] for k in keys if k.startswith("ab:{")} for keys in spread.values()]  # type: ignore[index]
    assert not tags[0] & tags[1] and not tags[1] & tags[2] and not tags[0] & tags[2]  # one master per entity


def _node_ids(cluster: LocalCluster) -> dict[int, str]:
    client = cluster.client(cluster.ports[0])
    text: str = client("CLUSTER", "NODES")
    client.close()
    return {int(line.split()[1].split(":")[1].split("@")[0]): line.split()[0] for line in text.splitlines()}


async def test_moved_and_ask_are_followed(fresh: LocalCluster) -> None:
    """A slot moved to another master after the store read the map (MOVED), and a slot in
    migration (ASK): the commands reach the right master, counted once. A dialled number: its
    first sync is plain single-key writes, which ASK lets through to the importing master
    (a script's several keys missing there get TRYAGAIN until the migration ends)."""
    obs = Observation("", "", "442079460077", "", "")
    tag = entity_prefix("to", obs.to_number)
    slot = key_slot(tag)
    src = next(port for port, ranges in fresh.masters().items() if any(lo <= slot <= hi for lo, hi in ranges))
    dst = next(port for port in fresh.masters() if port != src)
    ids = _node_ids(fresh)
    async with await Store.connect(fresh.url) as store:
        local = LocalCounters()
        sync = CounterSync(store.hot, local, clock=lambda: 1_000_000.0)
        # ASK: the slot is migrating and its keys are not on the source yet
        source, target = fresh.client(src), fresh.client(dst)
        target("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
        source("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
        local.observe(obs, 1_000_000.0)
        assert await sync.sync() >= 1 and sync.failures == 0, sync.last_error
        assert store.wire.redirects >= 1  # type: ignore[union-attr]
        assert not source.scan(f"{tag}*") and target.scan(f"{tag}*")
        # MOVED: the migration ends, the slot now belongs to dst; the store still maps it to src
        for client in (source, target):
            client("CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
        redirects = store.wire.redirects  # type: ignore[union-attr]
        local.observe(obs, 1_000_000.0)
        assert await sync.sync() >= 1 and sync.failures == 0, sync.last_error
        assert store.wire.redirects == redirects + 1  # type: ignore[union-attr]
        counted = local.observe(obs, 1_000_000.0)
        assert counted.to_60s == 3.0  # once each: the redirected commands ran once
        await until(lambda: store.wire._slots[slot] == ("127.0.0.1", dst), what="the map read again")  # type: ignore[union-attr]
        source.close()
        target.close()
    fresh.wait_ok()  # the slot stays on dst: the next tests do not depend on the layout


async def test_a_policy_change_reaches_a_node_on_another_master(fresh: LocalCluster) -> None:
    """The policy commits in one MULTI/EXEC on the {admin} slot's master; a store seeded with
    another node hears the new version on the change channel (PUBLISH spans the cluster)."""
    ports = fresh.ports
    async with (
        await Store.connect(f"redis+cluster://127.0.0.1:{ports[0]}") as a,
        await Store.connect(f"redis+cluster://127.0.0.1:{ports[2]}") as b,
    ):
        assert await a.seed_policy({"version": 1, "rules": []})
        heard: list[int] = []
        subscribed = asyncio.Event()

        async def listen() -> None:
            async for version in b.policy_changes(subscribed.set):
                heard.append(version)
                return

        task = asyncio.get_running_loop().create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 5)
        assert await a.commit_policy({"version": 2, "rules": []}, 1, {"who": "t", "action": "test", "ts": "1"})
        assert not await a.commit_policy({"version": 2, "rules": []}, 1, {"who": "t", "action": "late"})
        await asyncio.wait_for(task, 5)
        assert heard == [2]
        assert (await b.get_policy() or {}).get("version") == 2
        assert [e["version"] for _, e in await b.policy_history(5)] == ["2"]
        await a.store_feedback("ref-1", '{"label": 1}', {"who": "t", "action": "feedback"})
        await a.log_calls([{"call": "c1", "verdict": "reject", "ts": "1000000", "src": "192.0.2.9"}], 100)
        assert (await b.find_call("c1") or ((), {}))[1]["src"] == "192.0.2.9"
        assert await b.ping()
