"""A bounded memo: answers a proxy computes again and again for the few peers it sees (an IP
literal's kind, a CSeq), kept until there are ``limit`` of them, then all forgotten at once,
so junk from a flood cannot grow it. A class, not ``functools.lru_cache``: compiled callers
call its methods directly."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """At most ``limit`` remembered answers; full, it is cleared before the next one."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._known: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._known.get(key)

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` for ``key`` and return it."""
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[key] = value
        return value

    def __len__(self) -> int:
        return len(self._known)
