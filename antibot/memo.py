"""A bounded memo table for the per-packet path (compiled with it, see setup.py).

Parsed CSeqs, hostports, next hops, URI splits, IP kinds, hashes: the same few values come
back on every packet, so their answers are remembered. A table that reaches its bound is
emptied (junk keys cannot grow it; the hot keys come back at once), which is cheaper than
``functools.lru_cache``'s bookkeeping, and unlike its wrapper a call that mypyc compiles
natively.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """``get(key)``: the remembered value, None when unknown; ``put(key, value)`` remembers
    and returns ``value``, emptying the table first when it holds ``bound`` entries."""

    def __init__(self, bound: int) -> None:
        if bound < 1:
            raise ValueError("a memo table holds at least one entry")
        self.bound = bound
        self._items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> V:
        items = self._items
        if len(items) >= self.bound:
            items.clear()
        items[key] = value
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
