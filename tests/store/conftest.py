"""Store tests: a polling helper and one node's counting (the session Redis and ``url``: tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from antibot.detect.counting import LocalCounters, outcome_metrics
from antibot.detect.observation import Counters, Observation
from antibot.store.hotpath import ReplaySync
from antibot.store.redis import Store


async def until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.005)


class Node:
    """One proxy node's counting on the test's clock: its LocalCounters, synced with Redis by
    a ReplaySync every 50 ms of that clock (what training replays through)."""

    def __init__(self, store: Store, interval: float = 0.05) -> None:
        self.local = LocalCounters()
        self.sync = ReplaySync(store.hot, self.local, interval)

    async def observe(self, obs: Observation, now: float) -> Counters:
        await self.sync.advance(now)
        return self.local.observe(obs, now)

    async def outcome(
        self, source: str, status: int, duration: float | None, now: float, short_call_seconds: float = 6.0
    ) -> None:
        await self.sync.advance(now)
        self.local.outcome(source, outcome_metrics(status, duration, short_call_seconds), now)
