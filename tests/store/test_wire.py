"""The SIP path's RESP connection: replies split anywhere, deadlines, reconnects, against real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from antibot.store import StoreError
from antibot.store.commands import pack
from antibot.store.embedded import EmbeddedRedis
from antibot.store.wire import ReplyError, Target, Wire

from .resp import Resp


def wire_for(server: EmbeddedRedis, **options: float) -> Wire:
    return Wire(Target(path=str(server.socket_path)), **options)  # type: ignore[arg-type]


async def test_pipelined_replies_of_every_type(redis_server: EmbeddedRedis, rc: Resp) -> None:
    wire = wire_for(redis_server)
    await wire.connect()
    try:
        replies = await wire.call(
            [
                ("SET", "k", "välue \udcff"),  # a lone surrogate goes through and comes back
                ("GET", "k"),
                ("INCRBY", "n", 5),
                ("GET", "missing"),
                ("RPUSH", "l", "a", "b"),
                ("LRANGE", "l", 0, -1),
                ("HGET", "k", "f"),  # WRONGTYPE: an error value in its place, the rest unaffected
                ("PING",),
            ]
        )
        assert replies[:6] == ["OK", "välue \udcff", 5, None, 2, ["a", "b"]]
        assert isinstance(replies[6], ReplyError) and "WRONGTYPE" in str(replies[6])
        assert replies[7] == "PONG"
        assert rc("GET", "n") == "5"
    finally:
        await wire.close()


async def test_replies_split_at_every_byte_reach_the_right_requests(
    redis_server: EmbeddedRedis, rc: Resp, tmp_path: Path
) -> None:
    """A relay hands Redis's replies over one byte at a time: the parser must reassemble them."""
    rc("SET", "a", "x" * 40)
    rc("RPUSH", "b", "1", "22", "333")

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_unix_connection(str(redis_server.socket_path))

        async def upstream() -> None:
            while data := await reader.read(65536):
                up_w.write(data)

        task = asyncio.ensure_future(upstream())
        while data := await up_r.read(65536):
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0.001)
        task.cancel()
        writer.close()

    path = str(tmp_path / "relay.sock")
    server = await asyncio.start_unix_server(relay, path)
    wire = Wire(Target(path=path))
    feeds: list[int] = []
    original = wire._feed

    def counted(proto: object, data: bytes) -> None:
        feeds.append(len(data))
        original(proto, data)  # type: ignore[arg-type]

    wire._feed = counted  # type: ignore[method-assign]
    try:
        await wire.connect()
        first = asyncio.ensure_future(wire.call([("GET", "a"), ("LRANGE", "b", 0, -1)], timeout=10))
        second = asyncio.ensure_future(wire.call([("ECHO", "tail"), ("GET", "missing")], timeout=10))
        assert await first == ["x" * 40, ["1", "22", "333"]]
        assert await second == ["tail", None]
        assert len(feeds) > 20 and min(feeds) == 1  # the replies really came in pieces
    finally:
        await wire.close()
        server.close()


async def test_a_late_reply_fails_by_its_deadline_and_the_fifo_stays_aligned(
    redis_server: EmbeddedRedis, rc: Resp
) -> None:
    wire = wire_for(redis_server)
    await wire.connect()
    try:
        slow = asyncio.ensure_future(
            wire.call(
                [
                    (
                        "EVAL",
                        "local t = redis.call('TIME') while true do "
                        "local n = redis.call('TIME') if (n[1]-t[1])*1e6+(n[2]-t[2]) "
                        "> 300000 then return 'late' end end",
                        0,
                    )
                ],
                timeout=0.05,
            )
        )
        with pytest.raises(StoreError, match="no reply within"):
            await slow
        assert wire.timeouts == 1
        # the late reply is read and dropped: the next request gets its own reply
        assert await wire.call([("ECHO", "next")], timeout=2.0) == ["next"]
        assert wire.connects == 1  # no reconnect was needed
    finally:
        await wire.close()


async def test_reconnects_after_a_redis_restart_and_fails_fast_while_down(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    wire = wire_for(server, timeout=0.5, connect_timeout=0.5, retry_after=0.05)
    try:
        await wire.connect()
        assert await wire.call([("SET", "k", "1")]) == ["OK"]
        server.stop()
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        for _ in range(3):
            started = loop.time()
            with pytest.raises(StoreError):
                await wire.call([("GET", "k")], timeout=0.2)
            assert loop.time() - started < 0.5  # bounded by the request's own deadline
        server.start()  # same socket, data kept by the AOF
        await asyncio.sleep(0.06)  # past retry_after
        assert await wire.call([("GET", "k")], timeout=1.0) == ["1"]
        assert wire.connects == 2
    finally:
        await wire.close()
        server.stop()


async def test_requests_after_close_and_when_the_backlog_is_full_fail(redis_server: EmbeddedRedis) -> None:
    wire = wire_for(redis_server, max_pending=2)
    await wire.connect()
    wire._submit(pack([("PING",)]), 1, 5.0)
    wire._submit(pack([("PING",)]), 1, 5.0)
    with pytest.raises(StoreError, match="too many"):
        await wire.call([("PING",)])
    await wire.close()
    with pytest.raises(StoreError, match="closed"):
        await wire.call([("PING",)])


async def test_connect_to_nothing_raises_store_error(tmp_path: Path) -> None:
    wire = Wire(Target(path=str(tmp_path / "none.sock")), connect_timeout=0.5)
    with pytest.raises(StoreError, match="cannot connect"):
        await wire.connect()
