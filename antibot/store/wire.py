"""One persistent RESP2 connection for the SIP path: pipelined requests, FIFO replies, deadlines.

Why not redis-py here: its asyncio pipeline costs hundreds of microseconds of pure-Python CPU
per INVITE and checks connections out of a pool, which runs dry under overload. This client
is the opposite trade: one connection per process, every request written at once (requests
made in the same event-loop iteration share one write), replies parsed by hiredis in the
protocol callback (which never awaits) and handed to the waiting futures in FIFO order.

- **Deadlines**: one timer per connection, armed at the oldest pending deadline (not one per
  request). A request past its deadline fails with :class:`StoreError`; its replies are still
  read and discarded, so the FIFO stays aligned. A connection silent for ``dead_after``
  seconds while requests wait is dropped.
- **Reconnects**: a lost connection fails what is pending; the next request reconnects (one
  attempt at a time, no more often than every ``retry_after`` seconds; in between, requests
  fail at once), so callers degrade instead of waiting.
- **Sentinel**: with ``resolve``, the target is asked for before each connection (the
  current master), so a reconnect after a failover reaches the promoted replica.
- **Backlog**: at most ``max_pending`` requests wait; beyond that requests fail at once.

Only this module and :mod:`antibot.store.redis` talk to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import hiredis

from . import StoreError
from .commands import Command, pack


class NotSent(StoreError):
    """The request was never written: Redis did not see it (not connected, backlog full, closed).
    Other failures (deadline, lost connection) leave it unknown whether Redis ran it."""


class ReplyError(StoreError):
    """An error reply from Redis (``-ERR ...``), returned in place of a reply, never raised by :class:`Wire`."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to connect (see :func:`antibot.store.redis.wire_target`)."""

    path: str | None = None
    host: str = "localhost"
    port: int = 6379
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: ssl.SSLContext | None = None


class _Pending:
    __slots__ = ("future", "n", "replies", "deadline", "sent")

    def __init__(self, future: asyncio.Future[list[Any]], n: int, deadline: float, sent: float) -> None:
        self.future = future
        self.n = n
        self.replies: list[Any] = []
        self.deadline = deadline
        self.sent = sent


class _Protocol(asyncio.Protocol):
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.wire._feed(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.wire._lost(self, exc)


_NOT_CONNECTED: Final = "redis: not connected"


class Wire:
    """``await wire.call([("GET", "k"), ...], timeout)`` -> the list of replies (error replies
    as :class:`ReplyError` values). Raises :class:`StoreError` when not connected, on timeout,
    on a lost connection or when the backlog is full."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 1.0,
        connect_timeout: float = 1.0,
        retry_after: float = 0.5,
        dead_after: float = 5.0,
        max_pending: int = 10_000,
        resolve: Callable[[], Awaitable[Target]] | None = None,
    ) -> None:
        self.target = target
        #: Asked for the target before each connection (a Sentinel's current master), if set.
        self.resolve = resolve
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retry_after = retry_after
        self.dead_after = dead_after
        self.max_pending = max_pending
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proto: _Protocol | None = None
        self._ready = False
        self._reader = self._new_reader()
        self._pending: deque[_Pending] = deque()
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._last_rx = 0.0
        self._connecting: asyncio.Future[None] | None = None
        self._failed_at = -1e18
        self._closed = False
        #: Connections made (the first one included) and requests failed by their deadline.
        self.connects = 0
        self.timeouts = 0

    @property
    def connected(self) -> bool:
        return self._ready and self._proto is not None

    async def connect(self) -> None:
        """Connect now (raises :class:`StoreError` when Redis cannot be reached)."""
        await self._connect(self.connect_timeout)

    async def call(self, commands: Sequence[Command], timeout: float | None = None) -> list[Any]:
        """Send ``commands`` in one write and return their replies, within ``timeout`` seconds."""
        return await self.send(pack(commands), len(commands), timeout)

    async def send(self, payload: bytes, n: int, timeout: float | None = None) -> list[Any]:
        """Like :meth:`call` for an already packed ``payload`` of ``n`` commands."""
        if not self._ready:
            await self._reconnect(self.timeout if timeout is None else timeout)
        return await self._submit(payload, n, self.timeout if timeout is None else timeout)

    async def close(self) -> None:
        """Fail what is pending and close the connection; later calls raise :class:`StoreError`."""
        self._closed = True
        proto = self._proto
        self._drop(StoreError("redis: connection closed"))
        if proto is not None and proto.transport is not None:
            proto.transport.close()
            await asyncio.sleep(0)

    # --- requests -------------------------------------------------------------------------

    def _submit(self, payload: bytes, n: int, timeout: float) -> asyncio.Future[list[Any]]:
        if not self._ready or self._loop is None:
            raise NotSent(_NOT_CONNECTED)
        if len(self._pending) >= self.max_pending:
            raise NotSent("redis: too many requests waiting")
        loop = self._loop
        now = loop.time()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not self._pending:
            self._last_rx = now  # the silence clock starts with the first waiting request
        self._pending.append(_Pending(future, n, now + timeout, now))
        self._out.append(payload)
        if self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._flush)
        if self._watch is None:
            self._watch = loop.call_at(now + timeout, self._check)
        return future

    def _flush(self) -> None:
        self._flush_handle = None
        if self._proto is not None and self._proto.transport is not None and self._out:
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._proto.transport.write(data)

    def _feed(self, proto: _Protocol, data: bytes) -> None:
        if proto is not self._proto:
            return
        reader = self._reader
        pending = self._pending
        reader.feed(data)
        try:
            while True:
                reply = reader.gets()
                if reply is False:
                    break
                if not pending:
                    raise StoreError("redis: a reply nobody asked for")
                head = pending[0]
                head.replies.append(reply)
                if len(head.replies) == head.n:
                    pending.popleft()
                    if not head.future.done():
                        head.future.set_result(head.replies)
        except (hiredis.ProtocolError, StoreError) as exc:
            self._abort(StoreError(f"redis: {exc}"))
            return
        assert self._loop is not None
        self._last_rx = self._loop.time()

    def _check(self) -> None:
        """The deadline timer: fail late requests, drop a silent connection, re-arm."""
        self._watch = None
        if not self._pending or self._loop is None:
            return
        now = self._loop.time()
        nxt = now + self.dead_after
        for entry in self._pending:
            if entry.future.done():
                continue
            if entry.deadline <= now:
                self.timeouts += 1
                entry.future.set_exception(StoreError(f"redis: no reply within {entry.deadline - entry.sent:g} s"))
            else:
                nxt = min(nxt, entry.deadline)
        if now - self._last_rx >= self.dead_after:
            self._abort(StoreError(f"redis: connection silent for {self.dead_after:g} s"))
            return
        self._watch = self._loop.call_at(min(nxt, self._last_rx + self.dead_after), self._check)

    # --- connection -----------------------------------------------------------------------

    async def _reconnect(self, timeout: float) -> None:
        """Reconnect (sharing one attempt between callers) within ``timeout``, or raise."""
        if self._closed:
            raise NotSent("redis: connection closed")
        loop = asyncio.get_running_loop()
        if self._connecting is None:
            if loop.time() - self._failed_at < self.retry_after:
                raise NotSent(_NOT_CONNECTED)
            self._connecting = loop.create_future()
            task = loop.create_task(self._connect_once())
            task.add_done_callback(self._connected)
        waiter = asyncio.shield(self._connecting)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise NotSent(f"redis: not connected within {timeout:g} s") from None

    def _connected(self, task: asyncio.Task[None]) -> None:
        future, self._connecting = self._connecting, None
        exc = task.exception() if not task.cancelled() else StoreError("redis: connect cancelled")
        if exc is not None:
            self._failed_at = task.get_loop().time()
        if future is not None and not future.done():
            if exc is None:
                future.set_result(None)
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters (if any) still get it

    async def _connect_once(self) -> None:
        await self._connect(self.connect_timeout)

    async def _connect(self, timeout: float) -> None:
        self._loop = loop = asyncio.get_running_loop()
        t = self.target
        try:
            async with asyncio.timeout(timeout):
                if self.resolve is not None:
                    self.target = t = await self.resolve()
                if t.path is not None:
                    _, proto = await loop.create_unix_connection(lambda: _Protocol(self), t.path)
                else:
                    _, proto = await loop.create_connection(
                        lambda: _Protocol(self), t.host, t.port, ssl=t.tls, server_hostname=t.host if t.tls else None
                    )
                self._drop(StoreError("redis: reconnected"))
                self._proto = proto
                self._reader = self._new_reader()
                self._ready = True
                handshake: list[Command] = []
                if t.password is not None:
                    handshake.append(("AUTH", t.username, t.password) if t.username else ("AUTH", t.password))
                if t.db:
                    handshake.append(("SELECT", t.db))
                if handshake:
                    for reply in await self._submit(pack(handshake), len(handshake), timeout):
                        if isinstance(reply, ReplyError):
                            raise reply
        except (OSError, TimeoutError, StoreError) as exc:
            self._abort(StoreError(f"redis: cannot connect: {exc}"))
            raise NotSent(f"redis: cannot connect to {t.path or f'{t.host}:{t.port}'}: {exc}") from None
        self.connects += 1

    def _lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if proto is self._proto:
            self._drop(StoreError(f"redis: connection lost{f': {exc}' if exc else ''}"))

    def _abort(self, exc: StoreError) -> None:
        proto = self._proto
        self._drop(exc)
        if proto is not None and proto.transport is not None:
            proto.transport.abort()

    def _drop(self, exc: StoreError) -> None:
        """Forget the connection: fail every waiting request with ``exc``."""
        self._proto = None
        self._ready = False
        self._out.clear()
        for handle in (self._flush_handle, self._watch):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._watch = None
        pending, self._pending = self._pending, deque()
        for entry in pending:
            if not entry.future.done():
                entry.future.set_exception(exc)
                with contextlib.suppress(BaseException):
                    entry.future.exception()  # no "never retrieved" noise for abandoned requests

    @staticmethod
    def _new_reader() -> Any:
        return hiredis.Reader(replyError=ReplyError, encoding="utf-8", errors="surrogatepass")
