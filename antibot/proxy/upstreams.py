"""The PBX targets behind the proxy: priority, weight and health (RFC 3263 §4.4 style ordering).

Targets are tried in priority order (lower first); within one priority the order is a
weighted shuffle seeded by the Call-ID, so one call always sees the same order and load
spreads by weight. A target that times out or answers 503 is marked down until an OPTIONS
probe sees it answer again.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .effects import Addr


@dataclass(slots=True)
class Upstream:
    """One PBX target."""

    uri: str
    addr: Addr
    priority: int = 1
    weight: int = 1
    up: bool = True
    #: When the next OPTIONS probe is due (monotonic seconds).
    next_probe: float = 0.0
    probing: bool = False
    #: A target marked down is tried again (half-open) from this time on, even without probes.
    retry_at: float = 0.0

    def __str__(self) -> str:
        return self.uri


class UpstreamPool:
    """Health state and ordering for the targets; pure (time passed in)."""

    def __init__(self, targets: list[Upstream], probe_interval: float = 5.0, down_hold: float = 10.0) -> None:
        if not targets:
            raise ValueError("at least one upstream is required")
        self.targets = targets
        self.probe_interval = probe_interval
        #: How long a failed target is skipped before calls try it again (probes may bring it back sooner).
        self.down_hold = down_hold

    def find(self, addr: Addr) -> Upstream | None:
        """The target at this address (any transport), or None."""
        for target in self.targets:
            if target.addr.host == addr.host and target.addr.port == addr.port:
                return target
        return None

    def is_upstream_host(self, host: str) -> bool:
        return any(t.addr.host == host for t in self.targets)

    def usable(self, target: Upstream, now: float | None) -> bool:
        """Up, or down for longer than ``down_hold`` (worth one more try: a half-open circuit)."""
        return target.up or (now is not None and target.retry_at <= now)

    def candidates(self, key: str, now: float | None = None) -> list[Upstream]:
        """Usable targets in the order to try them for a call with this Call-ID."""
        if len(self.targets) == 1:  # the usual single PBX: nothing to order
            only = self.targets[0]
            return [only] if self.usable(only, now) else []
        ordered: list[Upstream] = []
        for priority in sorted({t.priority for t in self.targets}):
            group = [t for t in self.targets if t.priority == priority and self.usable(t, now)]
            ordered.extend(_weighted_order(group, key))
        return ordered

    def mark(self, target: Upstream, up: bool, now: float = 0.0) -> bool:
        """Set health; returns True when it changed."""
        changed = target.up != up
        target.up = up
        if not up:
            target.retry_at = now + self.down_hold
        return changed

    def due_probes(self, now: float) -> list[Upstream]:
        if self.probe_interval <= 0:
            return []
        due = [t for t in self.targets if not t.probing and t.next_probe <= now]
        for target in due:
            target.probing = True
        return due

    def probe_done(self, target: Upstream, up: bool, now: float) -> bool:
        target.probing = False
        target.next_probe = now + self.probe_interval
        return self.mark(target, up, now)

    def next_probe_time(self) -> float | None:
        if self.probe_interval <= 0:
            return None
        pending = [t.next_probe for t in self.targets if not t.probing]
        return min(pending) if pending else None


def _weighted_order(group: list[Upstream], key: str) -> list[Upstream]:
    """Weighted order without replacement, deterministic per key (RFC 2782-like selection)."""
    remaining = list(group)
    out: list[Upstream] = []
    seed = zlib.crc32(key.encode("latin-1", "replace"))
    while remaining:
        total = sum(max(t.weight, 0) for t in remaining)
        if total <= 0:
            out.extend(remaining)
            break
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        pick = seed % total
        for i, target in enumerate(remaining):
            pick -= max(target.weight, 0)
            if pick < 0:
                out.append(remaining.pop(i))
                break
    return out
