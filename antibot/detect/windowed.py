"""One entity's windowed counts on this node, and what a sync exchanges for it with Redis.

:class:`Count` (a windowed counter) and :class:`Distinct` (a windowed distinct count,
HyperLogLog in Redis) hold Redis's totals at the last sync plus what this node counted since,
by bucket; :class:`Entity` is one source, caller, callee, prefix or User-Agent with one of each
per its :class:`Plan`. A sync hands Redis a :class:`Delta` per entity and gets :class:`Totals`
back. :mod:`.counting` keeps them (``LocalCounters``); ``antibot.store`` sends them. The
windows and buckets are those of :func:`antibot.store.keys.window`. No I/O: ``now`` is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

#: To numbers kept per source for the sequential-dialling feature, and how long (s). Every
#: recent list is in call-time order, whichever node synced first (a sorted set in Redis).
RECENT_TO: Final = 10
RECENT_TTL: Final = 3600
#: To numbers kept per User-Agent fingerprint across its addresses: enough to find one
#: dialler's rising callees between the other calls a carrier's SBCs carry (a few minutes of them).
UA_RECENT: Final = 64
#: Members of each distinct count remembered as already counted by Redis.
SEEN_MAX: Final = 64
#: Members of one bucket of a distinct count kept until a sync takes them. Only reached while
#: Redis is unreachable (a sync takes them every few tens of ms otherwise): beyond it, a new
#: member is counted (``Distinct.overflow``) but not remembered, so it never reaches Redis.
PENDING_MAX: Final = 4096
#: Up to this many members pending, a distinct count's local part is exact (a set union);
#: above it, the sum of the sets' sizes (members counted in two buckets count twice), so that
#: reading it costs O(1), not O(members): a source dialling unique numbers while
#: Redis was down made every INVITE copy every number it had dialled.
UNION_MAX: Final = 256


@dataclass(frozen=True, slots=True)
class Plan:
    """What is counted per entity of one kind, and which :class:`Counters` fields it fills."""

    kind: str  # the key's kind: src | from | to | pfx | ua
    entity: str  # the Observation attribute naming the entity
    counters: tuple[tuple[str, int], ...]  # (metric, window); "inv" counts INVITEs, others outcomes
    hlls: tuple[tuple[str, int, str], ...]  # (metric, window, Observation attribute added)
    keep: int  # recent To numbers kept (0: none)
    fields: tuple[str, ...]  # Counters fields: one per counter, then one per HLL
    #: An entity's first sync reads Redis's totals back too (False: it only writes, and its
    #: syncs read once it is seen again; for kinds mostly seen once: a caller, a dialled number).
    read_first: bool = True


NO_COUNTS: Final[dict[int, int]] = {}  # shared, never mutated: "nothing in flight"
NO_MEMBERS: Final[dict[int, set[str]]] = {}
NOT_SEEN: Final[frozenset[str]] = frozenset()


class Count:
    """One windowed counter of one entity: Redis's totals at the last sync for ``bucket`` and
    ``bucket - 1``, plus what this node counted since (``pending``) or is syncing (``flight``),
    each by bucket."""

    __slots__ = ("window", "bucket", "cur", "prev", "pending", "flight")

    def __init__(self, window: int) -> None:
        self.window = window
        self.bucket = -1
        self.cur = 0
        self.prev = 0
        self.pending: dict[int, int] = {}
        self.flight: dict[int, int] = NO_COUNTS

    def add(self, now: float) -> None:
        """Count one event at ``now`` (pending until the next sync)."""
        b = int(now // self.window)
        self.pending[b] = self.pending.get(b, 0) + 1

    def total(self, bucket: int) -> int:
        """What this node knows was counted in ``bucket``."""
        n = self.pending.get(bucket, 0) + self.flight.get(bucket, 0)
        if bucket == self.bucket:
            n += self.cur
        elif bucket == self.bucket - 1:
            n += self.prev
        return n

    def value(self, now: float) -> float:
        """The sliding-window estimate: this bucket plus the previous one, weighted by how much
        of it the window still covers (``antibot.store.keys.window``)."""
        w = self.window
        b = int(now // w)
        return self.total(b) + self.total(b - 1) * (1.0 - (now % w) / w)


class Distinct:
    """One windowed distinct count (HyperLogLog in Redis): the union count of ``bucket`` and
    ``bucket - 1`` at the last sync, the count of ``bucket`` alone, and the members added
    since, by bucket."""

    __slots__ = ("window", "bucket", "union", "cur", "pending", "flight", "seen", "seen_bucket", "overflow")

    def __init__(self, window: int) -> None:
        self.window = window
        self.bucket = -1
        self.union = 0
        self.cur = 0
        self.pending: dict[int, set[str]] = {}
        self.flight: dict[int, set[str]] = NO_MEMBERS
        self.seen: AbstractSet[str] = NOT_SEEN  # members Redis had counted in the window at the last sync
        self.seen_bucket = -1
        self.overflow: dict[int, int] = {}  # by bucket: members counted beyond PENDING_MAX

    def add(self, member: str, now: float) -> None:
        b = int(now // self.window)
        members = self.pending.get(b)
        if members is None:
            self.pending[b] = {member}
        elif len(members) < PENDING_MAX:
            members.add(member)
        elif member not in members:
            overflow = self.overflow
            if b not in overflow:
                for old in [k for k in overflow if k < b - 1]:
                    del overflow[old]
            overflow[b] = overflow.get(b, 0) + 1

    def value(self, now: float) -> float:
        b = int(now // self.window)
        if b == self.bucket:
            base = self.union
        elif b == self.bucket + 1:
            base = self.cur
        else:
            base = 0
        if self.overflow:
            base += self.overflow.get(b, 0) + self.overflow.get(b - 1, 0)
        pools: list[set[str]] = []
        size = 0
        for pool in (self.pending, self.flight):
            if pool:
                for bucket in (b, b - 1):
                    members = pool.get(bucket)
                    if members:
                        pools.append(members)
                        size += len(members)
        if size > UNION_MAX or (len(pools) == 1 and not self.seen):
            return float(base + size)
        fresh: set[str] = set()
        for members in pools:
            fresh |= members
        if fresh and self.seen and self.seen_bucket >= b - 1:
            fresh -= self.seen
        return float(base + len(fresh))


class Entity:
    """One counted entity (a source, caller, callee, prefix or User-Agent) of one :class:`Plan`."""

    __slots__ = (
        *("plan", "value", "counts", "distinct", "recent", "recent_at", "recent_pending", "recent_flight"),
        *("used", "dirty", "read"),
    )

    def __init__(self, plan: Plan, value: str) -> None:
        self.plan = plan
        self.value = value
        self.counts = [Count(w) for _, w in plan.counters]
        self.distinct = [Distinct(w) for _, w, _ in plan.hlls]
        self.recent: tuple[str, ...] = ()  # Redis's list at the last sync, newest first
        self.recent_at: tuple[int, ...] = ()  # their call stamps (:func:`stamp`), when Redis gave them
        self.recent_pending: list[tuple[int, str]] = []  # (stamp, To number) pushed since, oldest first
        self.recent_flight: list[tuple[int, str]] = []
        self.used = -math.inf
        self.dirty = False
        self.read = plan.read_first  # its syncs read Redis's totals (else from its second INVITE)

    def recent_to(self, now: float) -> tuple[str, ...]:
        """The recent To numbers, newest first: Redis's list at the last sync (every node's)
        merged by call time with this node's calls not synced yet, most often all newer."""
        base = self.recent if now - self.used < RECENT_TTL else ()
        pending, flight = self.recent_pending, self.recent_flight
        if not pending and not flight:
            return base
        keep = self.plan.keep
        at = self.recent_at
        if base and len(at) == len(base) and (flight[0][0] if flight else pending[0][0]) < at[0]:
            # another node's call is newer than this node's oldest unsynced one
            merged = sorted([*zip(at, base, strict=True), *flight, *pending], reverse=True)
            return tuple([n for _, n in merged[:keep]])
        # newest first, only the ``keep`` wanted: per INVITE, a User-Agent's list is 64 long
        out: list[str] = []
        i = len(pending) - 1
        while i >= 0 and len(out) < keep:
            out.append(pending[i][1])
            i -= 1
        i = len(flight) - 1
        while i >= 0 and len(out) < keep:
            out.append(flight[i][1])
            i -= 1
        for n in base:
            if len(out) >= keep:
                break
            out.append(n)
        return tuple(out)


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Delta:
    """What one entity adds to Redis in one sync, bucketed at the sync's ``now``.

    ``counts[i]`` = (amount to this bucket, amount to the previous one) of counter ``i``;
    ``members[i]`` likewise for distinct count ``i``; ``pushed``: To numbers, oldest first,
    and ``pushed_at`` their call stamps (:func:`stamp`). ``read``: bring Redis's totals back;
    when False (a dialled number seen once) the store only writes, and :func:`own_totals`
    stands for the reply.
    """

    entity: Entity
    now: float
    counts: tuple[tuple[int, int], ...]
    members: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    pushed: tuple[str, ...]
    read: bool
    pushed_at: tuple[int, ...]

    def __init__(
        self,
        entity: Entity,
        now: float,
        counts: tuple[tuple[int, int], ...],
        members: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...],
        pushed: tuple[str, ...],
        read: bool = True,
        pushed_at: tuple[int, ...] = (),
    ) -> None:
        self.entity = entity
        self.now = now
        self.counts = counts
        self.members = members
        self.pushed = pushed
        self.read = read
        # one stamp per pushed number; made up from ``now`` (in order, the last at now) when not given
        if len(pushed_at) != len(pushed):
            last = stamp(now)
            pushed_at = tuple(range(last - len(pushed) + 1, last + 1))
        self.pushed_at = pushed_at


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Totals:
    """Redis's reply for one :class:`Delta`: per counter (this bucket, previous), per distinct
    count (union of both buckets, this bucket alone), the recent list, newest first, and its
    call stamps (``recent_at``, empty when unknown: then older than any call not synced)."""

    counts: Sequence[tuple[int, int]]
    distinct: Sequence[tuple[int, int]]
    recent: Sequence[str]
    recent_at: Sequence[int]

    def __init__(
        self,
        counts: Sequence[tuple[int, int]],
        distinct: Sequence[tuple[int, int]],
        recent: Sequence[str],
        recent_at: Sequence[int] = (),
    ) -> None:
        self.counts = counts
        self.distinct = distinct
        self.recent = recent
        self.recent_at = recent_at


def own_totals(delta: Delta) -> Totals:
    """The totals of a write-only sync: this node's counts alone (all Redis has of an entity
    no other node counted; on one node, exactly Redis's reply)."""
    distinct = [(len({*cur, *prev}), len(set(cur))) for cur, prev in delta.members]
    return Totals(delta.counts, distinct, delta.pushed[::-1], delta.pushed_at[::-1])


def stamp(now: float) -> int:
    """A call's time as the recent lists order it: microseconds (exact in a Redis sorted set's
    double score until the year 2255)."""
    return int(now * 1_000_000)
