"""Per-app state: the store connection, tokens, model card path and metrics."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from antibot.store import StoreError
from antibot.store.redis import Store

from .auth import TokenStore
from .metrics import ApiMetrics, ProxyMetrics


class StoreHolder:
    """One :class:`Store` per event loop, connected on first use (so the API starts, and
    ``/readyz`` answers, while Redis is still down) and reconnected after a failed connect."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self._store: Store | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
        try:
            store = await self.get()
        except StoreError:
            return False
        return await store.ping()

    async def close(self) -> None:
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
