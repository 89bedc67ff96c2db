"""CallLog: never blocks the SIP path, counts every drop, batches, and rides out Redis outages."""

from __future__ import annotations

import asyncio
import inspect
import logging
from pathlib import Path

import pytest

from antibot.store import StoreError
from antibot.store.calllog import CallLog
from antibot.store.embedded import EmbeddedRedis
from antibot.store.redis import Store

from .conftest import until


class FakeSink:
    """Records batches; fails while ``down`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, str]]] = []
        self.down = False

    async def log_calls(self, entries: list[dict[str, str]], maxlen: int) -> None:
        await asyncio.sleep(0)
        if self.down:
            raise StoreError("redis: connection refused")
        self.batches.append(list(entries))


def entry(i: int) -> dict[str, str]:
    return {"call_id": f"c{i}", "verdict": "relay"}


async def test_submit_never_waits_and_counts_drops(caplog: pytest.LogCaptureFixture) -> None:
    clock = [100.0]
    log = CallLog(FakeSink(), maxsize=5, clock=lambda: clock[0])
    assert not inspect.iscoroutinefunction(log.submit)
    with caplog.at_level(logging.WARNING, logger="antibot.store.calllog"):
        results = [log.submit(entry(i)) for i in range(9)]  # no writer running: the queue fills
        assert results == [True] * 5 + [False] * 4
        assert (log.submitted, log.dropped, log.queued) == (5, 4, 5)
        assert len(caplog.records) == 1  # one warning per 10 s, not one per drop
        clock[0] += 9.9
        log.submit(entry(9))
        assert len(caplog.records) == 1
        clock[0] += 0.1
        log.submit(entry(10))
        assert len(caplog.records) == 2
        assert "6 entries dropped" in caplog.records[-1].getMessage()


async def test_writes_in_batches() -> None:
    sink = FakeSink()
    log = CallLog(sink, batch=10)
    for i in range(25):
        log.submit(entry(i))
    task = log.start()
    await until(lambda: log.written == 25, what="25 written")
    assert [len(b) for b in sink.batches] == [10, 10, 5]
    assert [e["call_id"] for b in sink.batches for e in b] == [f"c{i}" for i in range(25)]
    await log.stop()
    assert task.done() and not task.cancelled() and task.exception() is None
    assert (log.submitted, log.written, log.dropped, log.write_errors) == (25, 25, 0, 0)


async def test_real_store_one_round_trip_per_batch(url: str) -> None:
    async with await Store.connect(url) as store:
        log = CallLog(store, batch=64)
        log.start()
        for i in range(200):
            assert log.submit(entry(i))
        await until(lambda: log.written == 200, what="200 written")
        await log.stop()
        rows = await store.read_calls(500)
    assert [fields["call_id"] for _, fields in rows] == [f"c{i}" for i in reversed(range(200))]


async def test_stop_flushes_with_or_without_a_writer() -> None:
    sink = FakeSink()
    log = CallLog(sink, batch=8)
    for i in range(30):
        log.submit(entry(i))
    await log.stop()  # no writer was ever started: stop() writes
    assert (log.written, log.queued, log.dropped) == (30, 0, 0)
    assert not log.submit(entry(99))  # refused after stop, and counted
    assert log.dropped == 1

    sink2 = FakeSink()
    log2 = CallLog(sink2, batch=8)
    task = log2.start()
    for i in range(30):
        log2.submit(entry(i))
    await log2.stop()
    assert (log2.written, log2.queued, log2.dropped) == (30, 0, 0)
    assert task.done() and not task.cancelled()


async def test_stop_of_an_idle_writer_ends_it_cleanly() -> None:
    log = CallLog(FakeSink())
    task = log.start()
    log.submit(entry(1))
    await until(lambda: log.written == 1, what="one written")
    await log.stop(timeout=5)
    assert task.done() and not task.cancelled() and task.exception() is None


async def test_stop_is_bounded_when_the_sink_is_down() -> None:
    sink = FakeSink()
    sink.down = True
    log = CallLog(sink, backoff=0.01, max_backoff=0.02)
    log.start()
    for i in range(5):
        log.submit(entry(i))
    await until(lambda: log.write_errors >= 3, what="failed writes")
    await asyncio.wait_for(log.stop(timeout=0.2), timeout=5)
    assert (log.written, log.dropped, log.queued) == (0, 5, 0)


async def test_survives_a_redis_outage(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    url = server.start()
    try:
        async with await Store.connect(url, timeout=0.5) as store:
            log = CallLog(store, batch=4, backoff=0.01, max_backoff=0.05)
            log.start()
            for i in range(10):
                log.submit(entry(i))
            await until(lambda: log.written == 10, what="first 10 written")

            server.stop()
            assert not await store.ping()
            for i in range(10, 20):
                assert log.submit(entry(i))  # the SIP path is not slowed down by the outage
            await until(lambda: log.write_errors >= 3, what="write errors during the outage")
            assert log.written == 10

            server.start()  # same data dir: same socket, AOF replayed
            await until(lambda: log.written == 20, what="backlog written after restart")
            assert await store.ping()
            await log.stop()
            rows = await store.read_calls(100)
        assert sorted(int(fields["call_id"][1:]) for _, fields in rows) == list(range(20))
        assert log.dropped == 0
    finally:
        server.stop()
