"""What the SIP path asks of Redis, over the :class:`~.wire.Wire`: counters and call-log batches.

- :meth:`HotPath.log_calls`: a batch of call-log entries and the admin API's indexes.
- :class:`CounterSync`: what the node's :class:`~antibot.detect.counting.LocalCounters`
  counted, added to Redis every ``interval`` seconds and the totals brought back
  (``lua/sync.lua``, one call per active entity, all in one write; each call touches only its
  entity's hash tag, so Redis Cluster can run it), an entity's first sync included. A
  dialled number seen once (``Delta.read`` False) is only written, with plain commands. The
  one way counts reach Redis.
- :class:`ReplaySync`: the same on a replayed clock, for training and evaluation.

Redis failures raise :class:`StoreError`; after NOSCRIPT (a restarted or flushed Redis) the
scripts are loaded again and only the calls that did not run are retried, once. On a Redis
Cluster the wire is a :class:`~.cluster.ClusterWire`: the same commands, each routed to the
master of its hash slot (the scripts are loaded on every master).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from ..detect.counting import LocalCounters
from ..detect.windowed import Delta, own_totals
from . import StoreError
from .cluster import ClusterWire
from .commands import (
    Call,
    Command,
    call_index_commands,
    pack,
    read_totals,
    sync_call,
    write_batch,
    write_commands,
    xadd,
)
from .keys import (
    CALL_INDEX,
    CALL_INDEX_TTL,
    CALL_REF_MAX,
    SCRIPTS,
    SYNC,
    Script,
)
from .wire import NotSent, ReplyError, Wire

log = logging.getLogger(__name__)


class HotPath:
    """The SIP path's Redis operations; ``timeout`` None means the wire's default."""

    def __init__(self, wire: Wire | ClusterWire) -> None:
        self.wire = wire
        #: Seconds a call's index (``ab:call:<ref>``) and its outcome hash are kept (``[store]``).
        self.call_ttl = CALL_INDEX_TTL
        self.outcome_ttl = CALL_INDEX_TTL

    async def load_scripts(self, timeout: float | None = None) -> None:
        load: list[Command] = [("SCRIPT", "LOAD", s.text) for s in SCRIPTS]
        wire = self.wire
        if isinstance(wire, ClusterWire):
            every = await wire.broadcast(load, timeout)  # every master runs the scripts
        else:
            every = [await wire.call(load, timeout)]
        for replies in every:
            for script, sha in zip(SCRIPTS, replies, strict=True):
                if isinstance(sha, ReplyError) or sha != script.sha:
                    raise StoreError(f"redis returned {sha!r} for {script.name}, expected sha {script.sha}")

    async def log_calls(self, entries: list[dict[str, str]], maxlen: int, timeout: float | None = None) -> None:
        """Append decisions to the call log stream, with the indexes of every entry (outcomes
        go to their call's outcome hash only: the stream keeps decisions); two round trips."""
        added = [entry for entry in entries if entry]
        if not added:
            return
        decisions = [entry for entry in added if "outcome" not in entry]
        commands: list[Command] = [xadd(entry, maxlen) for entry in decisions]
        commands += call_index_commands(added, self.outcome_ttl)
        replies = await self.wire.call(commands, timeout)
        _raise_errors(replies)
        sets: list[Command] = [
            ("SET", CALL_INDEX + entry["call"], entry_id, "EX", self.call_ttl)
            for entry, entry_id in zip(decisions, replies, strict=False)
            if entry.get("verdict") and 0 < len(entry.get("call", "")) <= CALL_REF_MAX and isinstance(entry_id, str)
        ]
        if sets:
            _raise_errors(await self.wire.call(sets, timeout))

    async def sync_counts(self, calls: list[Call], batch: Sequence[Delta], timeout: float | None) -> list[Any]:
        """``lua/sync.lua`` for each of ``calls`` and the plain writes of ``batch``'s write-only
        deltas (``Delta.read`` False), in one write per master; the calls' replies."""
        wire = self.wire
        if isinstance(wire, ClusterWire):
            writes = [command for delta in batch if not delta.read for command in write_commands(delta)]
            return await self._run_routed(wire, SYNC, calls, timeout, writes)
        text, n, other = write_batch(batch)
        data = text.encode("ascii") + pack(other) if other else text.encode("ascii")
        return await self._run(SYNC, calls, timeout, (data, n + len(other)))

    async def _run_routed(
        self, wire: ClusterWire, script: Script, calls: list[Call], timeout: float | None, writes: list[Command]
    ) -> list[Any]:
        """:meth:`_run` on a Redis Cluster: the same commands, each sent to its slot's master."""
        replies = await wire.call([*_evalsha_commands(script, calls), *writes], timeout)
        _raise_errors(replies[len(calls) :])
        del replies[len(calls) :]
        return await self._checked(script, calls, replies, timeout)

    async def _run(
        self, script: Script, calls: list[Call], timeout: float | None, also: tuple[bytes, int] = (b"", 0)
    ) -> list[Any]:
        """EVALSHA each call, then ``also`` (RESP of that many plain commands), in one write; the
        calls' replies. After NOSCRIPT, load the scripts and retry only the calls that did not
        run (once), so nothing is counted twice."""
        wire = self.wire
        if isinstance(wire, ClusterWire):
            raise StoreError("redis cluster: packed requests cannot be routed")
        data = _evalsha(script, calls)
        more, n = also
        if n:
            data += more
        replies = await wire.send(data, len(calls) + n, timeout)
        if n:
            _raise_errors(replies[len(calls) :])
            del replies[len(calls) :]
        return await self._checked(script, calls, replies, timeout)

    async def _checked(self, script: Script, calls: list[Call], replies: list[Any], timeout: float | None) -> list[Any]:
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, ReplyError) and _noscript(reply)]
        if missing:
            await self.load_scripts(timeout)
            retried = await self.wire.call(_evalsha_commands(script, [calls[i] for i in missing]), timeout)
            for i, reply in zip(missing, retried, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise StoreError(f"redis: {script.name}: {reply}")
        return replies


class CountSink(Protocol):
    """What :class:`CounterSync` needs of Redis: :meth:`HotPath.sync_counts`."""

    async def sync_counts(self, calls: list[Call], batch: Sequence[Delta], timeout: float | None) -> list[Any]: ...


class CounterSync:
    """Keeps a node's :class:`LocalCounters` and Redis in step (see :mod:`antibot.detect.counting`).

    :meth:`sync` hands Redis what was counted since the last sync (at most ``max_batch``
    entities, those touched longest ago first) and settles the totals; :meth:`run` does it
    every ``interval`` seconds, at once again while a full batch leaves more pending. A failed
    sync puts that batch's counts back to be tried again (``failures`` counts them; a warning
    at most every ``warn_every`` s) and the next one waits twice as long as the last wait, up
    to ``max_backoff`` seconds: with Redis down the work is bounded and an idle proxy stays
    idle. The SIP path goes on with what this node knows (verdicts say ``store-unavailable``).
    """

    def __init__(
        self,
        hot: CountSink,
        counters: LocalCounters,
        *,
        interval: float = 0.05,
        timeout: float | None = None,
        clock: Callable[[], float] = time.time,
        warn_every: float = 10.0,
        max_batch: int = 1000,
        max_backoff: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_batch < 1 or interval <= 0 or max_backoff < interval:
            raise ValueError("CounterSync: need max_batch >= 1 and 0 < interval <= max_backoff")
        self.hot = hot
        self.counters = counters
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.warn_every = warn_every
        self.max_batch = max_batch
        self.max_backoff = max_backoff
        self._sleep = sleep
        #: Seconds until the next sync: ``interval``, 0 with a backlog, longer after failures.
        self.delay = interval
        self.syncs = 0
        self.failures = 0
        #: What the last failed sync raised ("" before any failure).
        self.last_error = ""
        self._warned = -math.inf

    async def run(self) -> None:
        """Sync every ``delay`` seconds until cancelled; a failing sync never ends the loop."""
        while True:
            await self._sleep(self.delay)
            try:
                await self.sync()
            except Exception as exc:  # noqa: BLE001 - a bug here must not stop sharing counts
                self._failed(exc)

    async def flush(self) -> None:
        """Sync until nothing is pending or a sync fails (at shutdown: the node's last counts)."""
        rounds = self.counters.max_entities // self.max_batch + 2  # pending never exceeds max_entities
        for _ in range(rounds):
            if not self.counters.pending() or not await self.sync():
                return

    async def sync(self) -> int:
        """One sync now; returns the number of entities written (0 when it failed)."""
        batch = self.counters.take(self.clock(), self.max_batch)
        if not batch:
            return 0
        try:
            calls = [sync_call(delta) for delta in batch if delta.read]
            replies = iter(await self.hot.sync_counts(calls, batch, self.timeout))
            totals = [read_totals(next(replies)) if delta.read else own_totals(delta) for delta in batch]
        except asyncio.CancelledError:
            self.counters.forget(batch)  # shutting down mid-sync: the next sync may still run
            raise
        except NotSent as exc:
            self.counters.fail(batch)  # Redis never saw it: sent again next time
            self._failed(exc)
            return 0
        except Exception as exc:  # noqa: BLE001 - StoreError, or a reply of an unexpected shape
            self.counters.forget(batch)  # maybe counted: never sent twice
            self._failed(exc)
            return 0
        self.counters.settle(batch, totals)
        self.syncs += 1
        self.delay = 0.0 if self.counters.pending() >= self.max_batch else self.interval
        return len(batch)

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__
        self.delay = min(self.max_backoff, max(self.interval, self.delay) * 2)
        now = time.monotonic()
        if now - self._warned >= self.warn_every:
            self._warned = now
            log.warning(
                "counters not synced with redis",
                extra={"error": str(exc), "failures": self.failures, "retry_in": self.delay},
            )


class ReplaySync:
    """The proxy's counting path on a replayed clock, for training and evaluation.

    A :class:`LocalCounters` counts (the caller calls its ``observe``, ``outcome`` and ``high``)
    and a :class:`CounterSync` hands Redis what was counted, at every tick of ``interval`` s of
    replayed time that finds counts pending, as the proxy's sync task does on its timer (and at
    once again while a full batch leaves more). Call :meth:`advance` with an event's time
    before counting it, times never going back: the ticks up to it run first. A failed sync
    raises :class:`StoreError` (a replay does not go on with a partial view, as the proxy does).
    """

    def __init__(self, hot: CountSink, counters: LocalCounters, interval: float = 0.05, max_batch: int = 1000) -> None:
        self.counters = counters
        self.interval = interval
        backoff = max(interval, 5.0)  # unused: a failed sync raises
        self.sync = CounterSync(
            hot, counters, interval=interval, clock=self._clock, max_batch=max_batch, max_backoff=backoff
        )
        self._now = -math.inf  # the replayed clock: the tick being synced, or the last event
        self._last = -math.inf  # the time of the last advance

    def _clock(self) -> float:
        return self._now

    async def advance(self, now: float) -> None:
        """Run the syncs of the ticks in (last :meth:`advance`, ``now``]: what was counted since."""
        if now < self._last:
            raise ValueError("ReplaySync: time went back")
        if self.counters.pending() and self._last > -math.inf:  # counted at _last: synced at the next tick
            tick = (math.floor(self._last / self.interval) + 1) * self.interval
            while tick <= now and self.counters.pending():
                await self._sync_at(tick)
                tick += self.interval
        self._last = self._now = now

    async def flush(self) -> None:
        """Sync what is still pending, at the next tick (the end of a replay)."""
        await self.advance((math.floor(self._last / self.interval) + 1) * self.interval)

    async def _sync_at(self, tick: float) -> None:
        self._now = tick
        while True:
            failures = self.sync.failures
            await self.sync.sync()
            if self.sync.failures != failures:
                raise StoreError(f"redis: a replayed counter sync failed: {self.sync.last_error}")
            if self.sync.delay > 0.0 or not self.counters.pending():
                return


def _noscript(reply: ReplyError) -> bool:
    return str(reply).startswith("NOSCRIPT")


def _evalsha_commands(script: Script, calls: list[Call]) -> list[Command]:
    return [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]


def _evalsha(script: Script, calls: list[Call]) -> bytes:
    return pack(_evalsha_commands(script, calls))


def _raise_errors(replies: Sequence[Any]) -> None:
    for reply in replies:
        if isinstance(reply, ReplyError):
            raise StoreError(f"redis: {reply}")
