"""The PBX targets behind the proxy: priority, weight and health (RFC 3263 §4.4 style ordering).

Targets are tried in priority order (lower first); within one priority the order is a
weighted shuffle seeded by the Call-ID, so one call always sees the same order and load
spreads by weight. A target that times out or answers 503 is marked down until an OPTIONS
probe sees it answer again, or ``down_hold`` has passed.

Health is advice, a call is real. When no target is usable the pool panics, as Envoy does
below its panic threshold: it offers every target in the same order, so a call is still tried
(a PBX that ignores OPTIONS, a probe that lost its packets). And a timeout never takes the last
usable target down: one INVITE the PBX cannot parse must not cost every call after it.

Panic has a limit (``fail_fast``): when every target is down by its last OPTIONS probe *and*
by :data:`FAIL_FAST_STREAK` calls in a row that failed on it (timeout or 503, none answered in
between), the last within ``down_hold``, two independent signals agree that nothing answers, and
new requests get 503 + Retry-After at once instead of waiting ``failover_timeout`` per target.
One lost probe, or one INVITE a PBX that ignores OPTIONS cannot parse, never meets both; and
``down_hold`` after the last failed call one more call tries again (half-open).

Several workers of one node (each its own pool) share their health through a :class:`NodeHealth`
(memory shared by the processes; the pool does no I/O). A target one worker marks down is skipped
by the others too until its ``down_hold`` ends, so a dead PBX costs the node one failed attempt
rather than one per worker; and a worker whose own probes and calls concluded "every target dead"
publishes until when that holds, and the others fail fast too within it. A response or a
successful probe, in any worker, voids every mark and verdict reached before it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .effects import Addr

#: Calls failed in a row on a target (no response in between) that, with a failed probe, make it dead.
FAIL_FAST_STREAK = 3


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
    #: Its last OPTIONS probe failed (unanswered or 503).
    probe_failed: bool = False
    #: Calls' attempts failed on it in a row (timeout or 503; reset by any response), the last when.
    call_failures: int = 0
    call_failed_at: float = 0.0
    #: When it was last marked down; its place in the pool (its slot in the node's shared health).
    down_at: float = 0.0
    index: int = 0

    def __str__(self) -> str:
        return self.uri


class NodeHealth(Protocol):
    """The verdicts of every worker of the node (this one's included), as :meth:`UpstreamPool.all_dead` reads them."""

    #: How many targets it keeps marks for (the pool shares its marks only if it has room for all).
    targets: int

    def publish_dead(self, since: float, until: float) -> None:
        """This worker concluded every target dead at ``since``, true until ``until`` (seconds, ``now``'s clock)."""

    def publish_alive(self, at: float) -> None:
        """This worker heard a target alive at ``at``: every verdict reached before is void."""

    def verdicts(self) -> Sequence[tuple[float, float, float]]:
        """Each worker's ``(dead since, dead until, last heard alive)``; 0 where there is none."""

    def publish_down(self, target: int, at: float, until: float) -> None:
        """This worker marked target ``target`` (its index in the pool) down at ``at`` until ``until``."""

    def publish_target_alive(self, target: int, at: float) -> None:
        """This worker heard target ``target`` alive at ``at``: every mark made before is void."""

    def target_marks(self, target: int) -> Sequence[tuple[float, float, float]]:
        """Each worker's ``(marked down at, down until, last heard alive)`` of target ``target``."""


def node_dead(verdicts: Iterable[tuple[float, float, float]], now: float) -> bool:
    """Some worker's ``(since, until, last heard alive)`` still holds at ``now``, and no worker
    heard alive since it was reached (a tie counts as alive): the verdict "every target dead"
    (:meth:`NodeHealth.verdicts`), or one target's marks down (:meth:`NodeHealth.target_marks`)."""
    alive, held = 0.0, 0.0
    for since, until, at in verdicts:  # read on every new call: a plain loop
        alive = max(alive, at)
        if now < until:
            held = max(held, since)
    return held > alive


class UpstreamPool:
    """Health state and ordering for the targets; pure (time passed in)."""

    def __init__(
        self,
        targets: list[Upstream],
        probe_interval: float = 5.0,
        down_hold: float = 10.0,
        fail_fast: bool = True,
        node: NodeHealth | None = None,
    ) -> None:
        if not targets:
            raise ValueError("at least one upstream is required")
        self.targets = targets
        self.probe_interval = probe_interval
        #: How long a failed target is skipped before calls try it again (probes may bring it back sooner).
        self.down_hold = down_hold
        #: Answer 503 at once while every target is known dead (see :meth:`all_dead`).
        self.fail_fast = fail_fast
        #: The node's workers' shared verdicts (None: this process alone decides).
        self.node = node
        #: When this pool last concluded every target dead (0: never), against siblings' "alive".
        self.dead_since = 0.0
        #: Targets marked down by one worker are skipped by all (one PBX: it is tried anyway).
        self.shared = node is not None and 1 < len(targets) <= node.targets
        for i, target in enumerate(targets):
            target.index = i

    def find(self, addr: Addr) -> Upstream | None:
        """The target at this address (any transport), or None."""
        for target in self.targets:
            if target.addr.host == addr.host and target.addr.port == addr.port:
                return target
        return None

    def is_upstream_host(self, host: str) -> bool:
        return any(t.addr.host == host for t in self.targets)

    def usable(self, target: Upstream, now: float | None) -> bool:
        """Up, or down for longer than ``down_hold`` (worth one more try: a half-open circuit);
        with sibling workers, not marked down by one of them since it was last heard alive, and
        down here only until one of them hears it alive."""
        if not self.shared or now is None or self.node is None:
            return target.up or (now is not None and target.retry_at <= now)
        marks = self.node.target_marks(target.index)
        if target.up or target.retry_at <= now:
            return not node_dead(marks, now)
        return any(heard >= target.down_at and heard > 0.0 for _, _, heard in marks)  # a tie: alive

    def panicking(self, now: float | None) -> bool:
        """No target is usable: calls go to all of them anyway (see :meth:`candidates`)."""
        return not any(self.usable(t, now) for t in self.targets)

    def all_dead(self, now: float) -> bool:
        """A new request gets 503 untried: every target is down by its last probe and by calls
        failed on it in a row, the last within ``down_hold`` (none due a half-open retry), by this
        pool's own signals or by a sibling worker's (:class:`NodeHealth`) that still holds."""
        if not self.fail_fast or self.probe_interval <= 0:
            return False
        if self.node is None:
            return self._dead_here(now)
        verdicts = self.node.verdicts()
        if node_dead(verdicts, now):
            return True
        return self._dead_here(now) and self.dead_since > max((a for _, _, a in verdicts), default=0.0)

    def _dead_here(self, now: float) -> bool:
        return all(
            not self.usable(t, now)
            and t.probe_failed
            and t.call_failures >= FAIL_FAST_STREAK
            and now - t.call_failed_at < self.down_hold
            for t in self.targets
        )

    def _publish_dead(self, now: float) -> None:
        """After a failure: if this pool now finds every target dead, tell the node until when."""
        if self.fail_fast and self.probe_interval > 0 and self._dead_here(now):
            self.dead_since = now
            if self.node is not None:
                until = min(min(t.retry_at, t.call_failed_at + self.down_hold) for t in self.targets)
                self.node.publish_dead(now, until)

    def heard(self, target: Upstream, now: float) -> None:
        """A call's request got a response from ``target`` (provisional or final): it is alive."""
        target.call_failures = 0
        if self.node is not None:
            self.node.publish_alive(now)
            if self.shared:
                self.node.publish_target_alive(target.index, now)

    def candidates(self, key: str, now: float | None = None) -> list[Upstream]:
        """The targets to try, in order, for a call with this Call-ID: the usable ones, or every
        target when none is usable (panic), in priority order and weighted order within one."""
        if len(self.targets) == 1:  # the usual single PBX: tried whatever its health
            return [self.targets[0]]
        panic = self.panicking(now)
        ordered: list[Upstream] = []
        for priority in sorted({t.priority for t in self.targets}):
            group = [t for t in self.targets if t.priority == priority and (panic or self.usable(t, now))]
            ordered.extend(_weighted_order(group, key))
        return ordered

    def worth_trying(self, target: Upstream, rest: list[Upstream], now: float) -> bool:
        """Try ``target`` now, or skip it for the next of ``rest`` (the call's remaining targets)?

        Skipped only when it is no longer usable and a usable target remains to be tried: a call
        never ends in 503 without having tried its targets.
        """
        return self.usable(target, now) or not any(self.usable(t, now) for t in rest)

    def mark(self, target: Upstream, up: bool, now: float = 0.0) -> bool:
        """Set health; returns True when it changed."""
        changed = target.up != up
        target.up = up
        if not up:
            target.retry_at = now + self.down_hold
            target.down_at = now
            if self.shared and self.node is not None:
                self.node.publish_down(target.index, now, target.retry_at)
        return changed

    def mark_failed(self, target: Upstream, now: float, why: str) -> str | None:
        """A call's attempt on ``target`` failed (``why``: "timeout" or "503").

        Returns "down" when it marked the target down, "kept" when it refused to: a timeout on the
        last usable target (a silent PBX may just be unable to parse that one request; probes and
        503s still take it down), and None when nothing changed (it was down already).
        """
        target.call_failures += 1
        target.call_failed_at = now
        if (
            why == "timeout"
            and self.usable(target, now)
            and not any(self.usable(t, now) for t in self.targets if t is not target)
        ):
            return "kept"
        change = "down" if self.mark(target, False, now) else None
        self._publish_dead(now)
        return change

    def due_probes(self, now: float) -> list[Upstream]:
        if self.probe_interval <= 0:
            return []
        due = [t for t in self.targets if not t.probing and t.next_probe <= now]
        for target in due:
            target.probing = True
        return due

    def probe_done(self, target: Upstream, up: bool, now: float) -> bool:
        target.probing = False
        target.probe_failed = not up
        target.next_probe = now + self.probe_interval
        changed = self.mark(target, up, now)
        if up and self.node is not None:
            self.node.publish_alive(now)
            if self.shared:
                self.node.publish_target_alive(target.index, now)
        elif not up:
            self._publish_dead(now)
        return changed

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
