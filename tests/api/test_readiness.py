"""``/readyz`` against a Redis that accepts connections but never answers (stopped, SIGSTOP)."""

from __future__ import annotations

import asyncio

from api.context import StoreHolder


async def test_readiness_answers_promptly_while_redis_is_silent() -> None:
    """The store's socket timeout (2 s) and its retry would hold a PING for 4 s or more: the
    check answers "not ready" after ``ready_timeout``, and checks made meanwhile share one PING."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read()  # reads, never answers (a stopped Redis: the kernel still accepts)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    holder = StoreHolder(f"redis://127.0.0.1:{port}", timeout=2.0, ready_timeout=0.2)
    try:
        # Bounded well below the store's own timeouts: fails when readiness waits for them.
        results = await asyncio.wait_for(asyncio.gather(*(holder.ready() for _ in range(5))), 1.5)
        assert results == [False] * 5
        assert len(accepted) == 1  # one connection: the five checks joined one pending PING
        assert await asyncio.wait_for(holder.ready(), 1.5) is False  # still pending: joined again
        assert len(accepted) == 1
    finally:
        await holder.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
