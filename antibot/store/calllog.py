"""A bounded queue between the SIP path and the call log stream in Redis.

The SIP path calls :meth:`CallLog.submit`, which never waits: when the queue is full the
entry is dropped and counted. A background :meth:`CallLog.run` writes batches and keeps
going through Redis outages (counted, retried with backoff). A batch
that is not full waits ``linger`` seconds (0.25 by default) for more entries first, so a steady
call rate costs one write per ``linger`` rather than one per call: each write is two round trips
and an AOF write in Redis, which cost more than the entries themselves at a few hundred calls/s
(0.25 s instead of 0.05 s: about -45 µs per call at 200 calls/s, ``bench/paired.sh``), while the
dashboard still shows a call within a quarter of a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class CallSink(Protocol):
    """Where batches go (:class:`antibot.store.redis.Store` is one)."""

    async def log_calls(self, entries: list[dict[str, str]], maxlen: int) -> None: ...


class CallLog:
    """Bounded, counted, batched call log writer.

    Counters: ``submitted`` (accepted by :meth:`submit`), ``written`` (acknowledged by the
    sink), ``dropped`` (refused because the queue was full or the log stopped, plus entries
    still unwritten when :meth:`stop` ran out of time) and ``write_errors`` (failed batches;
    a failed batch is kept and retried, so it may be written twice if the failure came late).
    """

    def __init__(
        self,
        sink: CallSink,
        *,
        maxsize: int = 10_000,
        batch: int = 256,
        linger: float = 0.25,
        maxlen: int = 100_000,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
        warn_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        # A plain list, not an asyncio.Queue: submitting is an append, taking a slice (per call,
        # the Queue's bookkeeping cost more than the rest of the writer's Python).
        self._queue: list[dict[str, str]] = []
        self._maxsize = maxsize
        self._wake: asyncio.Future[None] | None = None  # the idle writer waits on it
        self._batch = batch
        self._linger = linger
        self._maxlen = maxlen
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._warn_every = warn_every
        self._clock = clock
        self._warned: dict[str, float] = {}
        self._pending: list[dict[str, str]] = []
        self._stopping = False
        self._running = False
        self._writers: set[asyncio.Task[Any]] = set()
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self.write_errors = 0

    @property
    def queued(self) -> int:
        """Entries waiting to be written (queued or in the batch being written)."""
        return len(self._queue) + len(self._pending)

    def submit(self, entry: dict[str, str]) -> bool:
        """Queue one entry without waiting; False (and counted in ``dropped``) when full or stopped."""
        if not self._stopping and len(self._queue) < self._maxsize:
            self._queue.append(entry)
            self.submitted += 1
            wake = self._wake
            if wake is not None and not wake.done():
                wake.set_result(None)
            return True
        self.dropped += 1
        self._warn(
            "drop", "call log %s: %d entries dropped so far", "stopped" if self._stopping else "full", self.dropped
        )
        return False

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` as a background task of the running loop."""
        return asyncio.create_task(self.run(), name="antibot-calllog")

    async def run(self) -> None:
        """Write queued entries in batches until :meth:`stop`; survives sink errors."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("CallLog.run() must run in a task")
        if self._running:
            if self._stopping:
                return
            raise RuntimeError("CallLog.run() is already running")
        self._running = True
        self._writers.add(task)
        delay = self._backoff
        try:
            while True:
                if not self._pending:
                    if self._stopping and not self._queue:
                        return
                    if not self._queue:
                        self._wake = asyncio.get_running_loop().create_future()
                        try:
                            await self._wake
                        finally:
                            self._wake = None
                    self._take()
                    if self._pending and len(self._pending) < self._batch and self._linger > 0 and not self._stopping:
                        await asyncio.sleep(self._linger)
                        self._take()
                    if not self._pending:
                        continue
                try:
                    await self._sink.log_calls(self._pending, self._maxlen)
                except Exception as exc:
                    self.write_errors += 1
                    self._warn("write", "call log write failed (%d so far), retrying: %s", self.write_errors, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._max_backoff)
                    continue
                self.written += len(self._pending)
                self._pending = []
                delay = self._backoff
        finally:
            self._running = False
            self._writers.discard(task)

    def _take(self) -> None:
        """Move queued entries into the batch being built, up to ``batch``."""
        room = self._batch - len(self._pending)
        if room > 0 and self._queue:
            self._pending += self._queue[:room]
            del self._queue[:room]

    async def stop(self, timeout: float = 2.0) -> None:
        """Refuse new entries and write what is queued, for at most ``timeout`` seconds.

        Works whether or not a writer is running. Entries still unwritten at the deadline
        are counted as dropped (with a warning).
        """
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # an idle writer: finish
        tasks = set(self._writers)
        if not self._running:  # no writer yet (or one created but not started): flush from here
            tasks.add(asyncio.ensure_future(self.run()))
        while tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks)
                break
            await asyncio.wait(tasks, timeout=remaining)
            tasks = {task for task in tasks | self._writers if not task.done()}
        lost = len(self._pending) + len(self._queue)
        self._pending = []
        self._queue = []
        if lost:
            self.dropped += lost
            log.warning("call log stopped with %d entries unwritten", lost)

    def _warn(self, key: str, msg: str, *args: object) -> None:
        now = self._clock()
        last = self._warned.get(key)
        if last is None or now - last >= self._warn_every:
            self._warned[key] = now
            log.warning(msg, *args)
