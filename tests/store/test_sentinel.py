"""The store behind Redis Sentinel (``redis+sentinel://``): a real master, one replica and one
``redis-server --sentinel`` on loopback. The store finds the master through the Sentinel, and
after the master is killed (SIGKILL) and the replica promoted, both its connections (the SIP
path's and the admin API's) follow: counting and the policy go on on the new master."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from antibot.detect.counting import LocalCounters
from antibot.detect.observation import Observation
from antibot.store.hotpath import CounterSync
from antibot.store.keys import POLICY_KEY
from antibot.store.redis import Store
from antibot.store.sentinel import SentinelUrl, is_sentinel_url

from .conftest import until
from .redis_cluster import HOST, MISSING, cluster_ports, stop_all
from .resp import Resp, RespError

SERVICE = "antibot"
T0 = 1_700_000_000.0
pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason=MISSING)


def test_sentinel_urls() -> None:
    url = "redis+sentinel://u%40x:p%3Aw@10.0.0.1:26379,[::1]:26380,sentinel-c/my-service?db=2&sentinel_password=s"
    parts = SentinelUrl.parse(url)
    assert is_sentinel_url(url) and not is_sentinel_url("redis://h:6379")
    assert parts.sentinels == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-c", 26379))
    assert (parts.service, parts.username, parts.password, parts.db) == ("my-service", "u@x", "p:w", 2)
    assert parts.sentinel_password == "s" and not parts.tls
    alone = SentinelUrl.parse("rediss+sentinel://secret@h:1/svc")
    assert (alone.username, alone.password, alone.tls) == (None, "secret", True)
    for bad in ("redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel:///svc", "redis+sentinel://h/s?x=1"):
        with pytest.raises(ValueError):
            SentinelUrl.parse(bad)


class LocalSentinel:
    """A master, its replica and one Sentinel watching them (quorum 1, down after 500 ms)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.master, self.replica, self.sentinel = cluster_ports(3)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis+sentinel://{HOST}:{self.sentinel}/{SERVICE}"

    def start(self) -> LocalSentinel:
        self._server(self.master)
        self._server(self.replica, "--replicaof", HOST, str(self.master))
        conf = self.tmp / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel}\nbind {HOST}\ndir {self.tmp}\nlogfile sentinel.log\n"
            f"sentinel monitor {SERVICE} {HOST} {self.master} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 500\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self.procs[self.sentinel] = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait(lambda: self.ask(self.replica, "INFO", "replication").count("master_link_status:up"), "replica")
        self.wait(lambda: self.ask(self.sentinel, "SENTINEL", "REPLICAS", SERVICE), "the Sentinel to see the replica")
        return self

    def _server(self, port: int, *extra: str) -> None:
        args = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", HOST]
        args += ["--dir", str(self.tmp), "--save", "", "--appendonly", "no", "--logfile", f"redis-{port}.log", *extra]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait(lambda: self.ask(port, "PING") == "PONG", f"redis-server on {port}")

    def ask(self, port: int, *command: str) -> object:
        try:
            client = Resp((HOST, port))
            try:
                return client(*command)
            finally:
                client.close()
        except (OSError, RespError):
            return None

    def master_port(self) -> int | None:
        reply = self.ask(self.sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(reply[1]) if isinstance(reply, list) and len(reply) == 2 else None

    @staticmethod
    def wait(cond: Callable[[], object], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def kill_master(self) -> None:
        proc = self.procs[self.master]
        proc.kill()
        proc.wait(5)

    def stop(self) -> None:
        stop_all(self.procs.values())


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[LocalSentinel]:
    redis = LocalSentinel(tmp_path).start()
    try:
        yield redis
    finally:
        redis.stop()


async def _count(sync: CounterSync, local: LocalCounters, obs: Observation) -> int:
    """Count one INVITE of ``obs`` and sync until a sync succeeds (the reconnect after a
    failover may take a few tries); the source's 60 s total Redis returned."""
    local.observe(obs, T0)
    deadline = time.monotonic() + 20.0
    while local.pending() and time.monotonic() < deadline:
        await sync.sync()
        if local.pending():
            await asyncio.sleep(0.05)
    assert not local.pending(), sync.last_error
    count = local.entities[("src", obs.source_ip)].counts[2]  # inv, 60 s
    return count.cur + count.prev


async def test_the_store_follows_the_master_through_a_sentinel_failover(sentinel: LocalSentinel) -> None:
    obs = Observation("192.0.2.9", "alice", "442079460001", "44207", "ua1")
    async with await Store.connect(sentinel.url) as store:
        assert (store.wire.target.host, store.wire.target.port) == (HOST, sentinel.master)  # type: ignore[union-attr]
        local = LocalCounters()
        sync = CounterSync(store.hot, local, clock=lambda: T0)
        assert await _count(sync, local, obs) == 1
        doc = {"version": 1, "lists": {"deny": {"user_agents": ["Acme Robo"]}}}
        assert await store.commit_policy(doc, 0, {"ts": f"{T0}", "who": "test", "action": "set"})
        sentinel.wait(lambda: sentinel.ask(sentinel.replica, "EXISTS", POLICY_KEY) == 1, "the policy on the replica")
        assert await _count(sync, local, obs) == 2  # replicated before the kill

        killed = time.monotonic()
        sentinel.kill_master()
        # the event loop runs meanwhile (the store sees its connection drop, as a proxy would)
        await until(lambda: sentinel.master_port() == sentinel.replica, 20.0, "the Sentinel to promote the replica")
        print(f"replica promoted {time.monotonic() - killed:.2f} s after the master was killed")
        assert await _count(sync, local, obs) == 3  # counting goes on, nothing lost
        assert store.wire.target.port == sentinel.replica  # type: ignore[union-attr]
        policy = await store.get_policy()
        assert policy is not None and policy["lists"]["deny"]["user_agents"] == ["Acme Robo"]
