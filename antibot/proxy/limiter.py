"""Per-source token buckets for REGISTER and OPTIONS floods (pure; time passed in).

Each source IP gets ``burst`` tokens refilled at ``rate`` per second. A request that finds
the bucket empty is refused: answered ``503`` with ``Retry-After`` or dropped silently,
as configured. The table is bounded (least recently used sources are forgotten first), so
a flood from many addresses cannot grow memory without limit.
"""

from __future__ import annotations

from collections import OrderedDict


class TokenBuckets:
    def __init__(self, rate: float, burst: float, *, max_sources: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return ok

    def retry_after(self) -> int:
        """Seconds until one token is back, for the Retry-After header."""
        return max(1, int(1.0 / self.rate + 0.999))

    def __len__(self) -> int:
        return len(self._buckets)
