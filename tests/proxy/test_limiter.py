"""The per-source token buckets that limit REGISTER and OPTIONS floods."""

from __future__ import annotations

import pytest

from antibot.proxy.limiter import TokenBuckets


def test_token_buckets() -> None:
    tb = TokenBuckets(rate=2.0, burst=2, max_sources=2)
    assert [tb.allow("a", 0.0) for _ in range(3)] == [True, True, False]
    assert tb.allow("a", 0.5) is True and tb.allow("a", 0.5) is False
    tb.allow("b", 1.0)
    tb.allow("c", 1.0)
    assert len(tb) == 2  # "a" was evicted (least recently used)
    assert tb.retry_after() == 1
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)
