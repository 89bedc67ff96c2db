"""How long the decision hook takes: a cheap in-process histogram the runner fills for every
decision, whatever the hook (``observe`` costs one bisect). The admin API exports it as
``antibot_decision_latency_seconds``."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

#: Upper bounds (seconds) of the buckets, as Prometheus's ``le``.
BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class LatencyHistogram:
    def __init__(self, bounds: Sequence[float] = BOUNDS) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def sample(self) -> tuple[tuple[tuple[float, int], ...], int, float]:
        """Cumulative counts per finite upper bound (ascending), the count, the sum."""
        cumulative = list(itertools.accumulate(self.counts))
        return tuple(zip(self.bounds, cumulative, strict=False)), cumulative[-1], self.total
