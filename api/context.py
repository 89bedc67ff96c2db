"""Per-app state: the store connection, tokens, model card path and metrics."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from antibot.cancel import cancel_and_wait
from antibot.store import StoreError
from antibot.store.redis import Store

from .auth import TokenStore
from .metrics import ApiMetrics, ProxyMetrics


class StoreHolder:
    """One :class:`Store` per event loop, connected on first use (so the API starts, and
    ``/readyz`` answers, while Redis is still down) and reconnected after a failed connect.

    ``ready_timeout`` bounds :meth:`ready`: a Redis that accepts connections but never answers
    (stopped, swapping) makes a PING wait for the socket timeouts and their retry; readiness
    answers "not ready" after ``ready_timeout`` instead, and concurrent checks share one PING.
    """

    def __init__(self, url: str, timeout: float = 2.0, ready_timeout: float = 1.0) -> None:
        self.url = url
        self.timeout = timeout
        self.ready_timeout = ready_timeout
        self._store: Store | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probe: asyncio.Task[bool] | None = None

    async def get(self) -> Store:
        """The connected store; raises :class:`StoreError` when Redis cannot be reached."""
        loop = asyncio.get_running_loop()
        if self._store is not None and self._loop is loop:
            return self._store
        store = await Store.connect(self.url, timeout=self.timeout)
        if self._store is not None and self._loop is loop:  # another request connected meanwhile
            await store.close()
            return self._store
        self._store, self._loop = store, loop
        return store

    async def ready(self) -> bool:
        """Redis answers PING within ``ready_timeout``; never raises. A PING still waiting is
        joined, not repeated: a stuck Redis costs one pending check, however often it is asked."""
        probe = self._probe
        if probe is None or probe.done() or probe.get_loop() is not asyncio.get_running_loop():
            probe = self._probe = asyncio.get_running_loop().create_task(self._ping())
        try:
            return await asyncio.wait_for(asyncio.shield(probe), self.ready_timeout)
        except TimeoutError:
            return False

    async def _ping(self) -> bool:
        try:
            store = await self.get()
        except (StoreError, OSError):
            return False
        return await store.ping()

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None and not probe.done() and probe.get_loop() is asyncio.get_running_loop():
            await cancel_and_wait([probe])
        store, self._store = self._store, None
        if store is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(StoreError, OSError):
                await store.close()


@dataclass
class ApiContext:
    stores: StoreHolder
    tokens: TokenStore
    model_card: Path | None
    proxy_metrics: ProxyMetrics | None
    metrics: ApiMetrics
