"""Hash tags, checked by Redis itself: a one-node Redis Cluster refuses any command or script
whose keys span hash slots (CROSSSLOT), so the whole Store API must run cleanly on it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest

from antibot.detect.counting import LocalCounters
from antibot.detect.observation import Observation
from antibot.store.embedded import EmbeddedRedis
from antibot.store.hotpath import CounterSync
from antibot.store.redis import Store

from .conftest import Node, until
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
        assert await sync.sync() == 5  # entities seen once on this node: plain writes, nothing read
        assert local.observe(weird, 1_000_005.2).src_60s == 2.0  # so this node knows only its own
        assert await sync.sync() == 5  # seen again: sync.lua, totals read back
        synced = local.observe(weird, 1_000_005.5)
    assert (c.src_60s, c.from_60s, c.to_60s, c.prefix_60s, c.ua_60s, c.src_failed_1h) == (4.0,) * 5 + (1.0,)
    assert (synced.src_60s, synced.ua_60s, synced.src_failed_1h) == (7.0, 7.0, 1.0)

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
    every key argument of every redis.call is a KEYS[...] entry (or the MGET of a list of them)."""
    scripts = [p for p in files("antibot.store").joinpath("lua").iterdir() if p.name.endswith(".lua")]
    assert [p.name for p in scripts] == ["sync.lua"]
    for script in scripts:
        text = script.read_text()
        calls = re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)", text)
        assert calls, script.name
        assert all(arg.startswith("KEYS[") or (cmd, arg) == ("MGET", "unpack(mget") for cmd, arg in calls), calls
        mget = re.findall(r"mget\[#mget \+ 1\] = (\S+)", text)
        assert all(arg.startswith("KEYS[") for arg in mget), mget
