"""Shared by every test package: ``async def`` tests without plugins, and one real Redis.

The Redis is an :class:`EmbeddedRedis` (a real ``redis-server``) started once per session;
``rc`` empties it for each test. A missing binary fails the tests that need it, never skips.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest

from antibot.store.embedded import EmbeddedRedis, EmbeddedRedisError

from .store.resp import Resp


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (bounded, so a hang fails instead)."""
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in inspect.signature(func).parameters}
    asyncio.run(asyncio.wait_for(func(**kwargs), timeout=60))
    return True


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real redis-server for the session."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except EmbeddedRedisError as exc:
        pytest.fail(f"these tests need a real Redis: {exc}")
    yield server
    server.stop()


@pytest.fixture
def rc(redis_server: EmbeddedRedis) -> Iterator[Resp]:
    """A raw client on an emptied database."""
    client = Resp(str(redis_server.socket_path))
    client("FLUSHALL")
    yield client
    client.close()


@pytest.fixture
def url(redis_server: EmbeddedRedis, rc: Resp) -> str:
    """The session server's URL, its database emptied for this test."""
    return redis_server.url
