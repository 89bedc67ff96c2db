"""Node-local counters with write-behind to the shared store: the SIP path never waits on Redis.

Every new INVITE is counted here and its :class:`Counters` are read back at once, from what
this node counted plus what every node had counted at the last sync. What this node counts
is handed out in batches (:meth:`LocalCounters.take`, every ``interval`` of the store's sync
task, 50 ms by default); the store adds each batch to the shared Redis counters and returns
their new totals (:meth:`LocalCounters.settle`), so every node sees every node's calls
within one sync interval, at a cost of one script call per active entity per interval
instead of a round trip per INVITE.

What that trades, knowingly:

- The first INVITE of an entity this node has not seen (or forgot: at most ``max_entities``
  are kept, least recently used first out) is counted with this node's knowledge only. Its
  first sync writes and reads Redis's totals back in the same batch, so what the other
  nodes counted arrives within one sync interval, before most second INVITEs (a campaign
  split across nodes is seen as one that fast). Callers and dialled numbers are the exception
  (``Plan.read_first`` False): most are seen once, and reading each back costs the proxy and
  Redis as much again (a new caller's read-back was a Lua call of about 36 us in Redis on
  every call of a trunk), so their first sync only writes (:attr:`Delta.read` False) and
  Redis's view arrives with the sync after their second INVITE on this node.
- Distinct counts are the HyperLogLog estimate at the last sync plus the members this node
  added since that the sync did not already report (members known to be counted are
  remembered per entity, up to :data:`.windowed.SEEN_MAX`).
- Redis unreachable: the table stays bounded. A full table forgets its least recently used
  entity even with counts not yet synced (``evicted_unsynced`` counts them: with unique
  callers flooding in, those are mostly callers never seen again), and a failed sync queues
  again only the batch it took (:meth:`LocalCounters.take` takes at most ``limit``), so the
  retry work per sync is bounded too (a flood of unique callers with Redis down
  grew the table without bound, and every sync rebuilt all of it, blocking the event loop).

The windows and buckets are those of :func:`antibot.store.keys.window` (same keys, same
sliding-window estimate). This is the one counting path: the proxy counts here, and so does
training's replay (:class:`antibot.store.hotpath.ReplaySync` syncs it on the replayed clock).
No I/O here: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Final

from .observation import SHARED_UA, Counters, Observation
from .windowed import (
    NO_COUNTS,
    NO_MEMBERS,
    RECENT_TO,
    SEEN_MAX,
    UA_RECENT,
    Delta,
    Entity,
    Plan,
    Totals,
    stamp,
)

PLANS: Final = (
    Plan(
        "src",
        "source_ip",
        (
            *(("inv", 1), ("inv", 10), ("inv", 60), ("inv", 3600)),
            *(("calls", 3600), ("failed", 3600), ("short", 3600), ("high", 3600)),
        ),
        (("dto", 60, "to_number"), ("dto", 3600, "to_number")),
        RECENT_TO,
        (
            *("src_1s", "src_10s", "src_60s", "src_1h", "src_calls_1h", "src_failed_1h", "src_short_1h", "src_high_1h"),
            *("src_distinct_to_60s", "src_distinct_to_1h"),
        ),
    ),
    Plan(
        "from",
        "from_user",
        (("inv", 60), ("inv", 3600)),
        (("dto", 60, "to_number"), ("dto", 3600, "to_number"), ("dsrc", 3600, "source_ip")),
        0,
        ("from_60s", "from_1h", "from_distinct_to_60s", "from_distinct_to_1h", "from_distinct_src_1h"),
        read_first=False,
    ),
    Plan("to", "to_number", (("inv", 60), ("inv", 3600)), (), 0, ("to_60s", "to_1h"), read_first=False),
    Plan("pfx", "to_prefix", (("inv", 60), ("inv", 3600)), (), 0, ("prefix_60s", "prefix_1h")),
    Plan(
        "ua",
        "ua_fingerprint",
        (("inv", 60), ("inv", 3600), ("high", 3600)),
        (("dsrc", 3600, "source_ip"),),
        UA_RECENT,
        ("ua_60s", "ua_1h", "ua_high_1h", "ua_distinct_src_1h"),
    ),
    Plan(
        "flow",
        "flow",
        (
            *(("inv", 60), ("inv", 3600), ("high", 3600), ("calls", 3600), ("failed", 3600), ("short", 3600)),
            *(("calls", 86400), ("failed", 86400), ("short", 86400)),
        ),
        (("dext", 60, "ext_to"), ("dnbr", 3600, "neighbour_from")),
        RECENT_TO,
        (
            *("flow_60s", "flow_1h", "flow_high_1h", "flow_calls_1h", "flow_failed_1h", "flow_short_1h"),
            *("flow_calls_24h", "flow_failed_24h", "flow_short_24h"),
            *("flow_distinct_ext_60s", "flow_distinct_nbr_1h"),
        ),
    ),
)
SOURCE_PLAN: Final = PLANS[0]
UA_PLAN: Final = PLANS[4]
FLOW_PLAN: Final = PLANS[5]
#: Per plan: the indexes of its INVITE counters, and the Observation attributes its distinct counts add.
_INV: Final = tuple(tuple(i for i, (m, _) in enumerate(p.counters) if m == "inv") for p in PLANS)
_MEMBERS: Final = tuple(tuple(a for _, _, a in p.hlls) for p in PLANS)
#: Counters' numeric fields, in order (the recent lists, src_recent_to, flow_recent_to and
#: ua_recent_to, follow them), and each plan field's index among them: Counters is built positionally.
_VALUES: Final = tuple(f.name for f in fields(Counters))[:-3]
_N_VALUES: Final = len(_VALUES)
assert [f.name for f in fields(Counters)][-3:] == ["src_recent_to", "flow_recent_to", "ua_recent_to"]
assert _N_VALUES == 34
_SLOTS: Final = tuple(tuple(_VALUES.index(name) for name in p.fields) for p in PLANS)
#: Outcome metrics' counter indexes in the source plan, and in the flow plan (each metric in
#: every window it is counted in).
_OUTCOME_INDEX: Final = {m: i for i, (m, _) in enumerate(SOURCE_PLAN.counters) if m not in ("inv", "high")}
_FLOW_OUTCOME_INDEX: Final = {
    m: tuple(i for i, (n, _) in enumerate(FLOW_PLAN.counters) if n == m) for m in ("calls", "failed", "short")
}
#: The Counters slot of a User-Agent fingerprint's addresses in the hour.
_UA_SPREAD: Final = _VALUES.index("ua_distinct_src_1h")
#: Per plan: the index of its "high" counter (-1: none).
_HIGH: Final = tuple(next((i for i, (m, _) in enumerate(p.counters) if m == "high"), -1) for p in PLANS)


def outcome_metrics(status: int, duration: float | None, short_call_seconds: float = 6.0) -> list[str]:
    """The source's outcome counters one call adds to: every call counts in ``calls``; a final
    status >= 400, or none at all (< 200), is ``failed``; an answered (2xx) call with a known
    ``duration`` under ``short_call_seconds`` is ``short``."""
    if status >= 400 or status < 200:
        return ["calls", "failed"]
    if status < 300 and duration is not None and duration < short_call_seconds:
        return ["calls", "short"]
    return ["calls"]


class LocalCounters:
    """The node's counters (see the module text). Not thread-safe: one event loop owns it."""

    def __init__(self, max_entities: int = 20_000) -> None:
        if max_entities < 1:
            raise ValueError("max_entities must be at least 1")
        self.max_entities = max_entities
        #: Least recently used first; never more than ``max_entities``.
        self.entities: dict[tuple[str, str], Entity] = {}
        #: Entities touched since their last sync, oldest first: a subset of ``entities``.
        self._dirty: dict[tuple[str, str], Entity] = {}
        self._syncing = False
        self.synced = 0  # entities synced
        #: False from a failed sync to the next good one (verdicts say "store-unavailable").
        self.in_sync = True
        self.lost = 0  # counts a failed sync dropped (older than any window still counts)
        self.unsure = 0  # entities of batches Redis may or may not have counted (see forget)
        #: Entities forgotten (table full, Redis unreachable) with counts never synced.
        self.evicted_unsynced = 0
        self._stamp = 0  # the last call stamp given: this node's stamps only rise

    def observe(self, obs: Observation, now: float) -> Counters:
        """Count one INVITE under each non-empty entity of ``obs``; its counters, this INVITE
        included (the recent To numbers and outcome counts exclude it)."""
        out: list[float] = [0.0] * _N_VALUES
        recent: tuple[str, ...] = ()
        flow_recent: tuple[str, ...] = ()
        ua_recent: tuple[str, ...] = ()
        at = 0
        if obs.to_number:  # the call's place in the recent lists: its time, after this node's earlier calls
            at = stamp(now)
            if at <= self._stamp:
                at = self._stamp + 1
            self._stamp = at
        for k in range(len(PLANS)):
            plan = PLANS[k]
            value: str = getattr(obs, plan.entity)
            if not value:
                continue
            e = self._entity(plan, value, now)
            counts, distinct, slots = e.counts, e.distinct, _SLOTS[k]
            for i in _INV[k]:
                counts[i].add(now)
            attrs = _MEMBERS[k]
            for j in range(len(attrs)):
                member: str = getattr(obs, attrs[j])
                if member:
                    distinct[j].add(member, now)
            n = len(counts)
            for i in range(n):
                out[slots[i]] = counts[i].value(now)
            for j in range(len(distinct)):
                out[slots[n + j]] = distinct[j].value(now)
            if plan.keep:
                if k == 0:
                    recent = e.recent_to(now)
                elif k == 4:
                    # read only from SHARED_UA addresses up: 64 numbers a call, mostly cold in cache
                    if out[_UA_SPREAD] >= SHARED_UA:
                        ua_recent = e.recent_to(now)
                else:
                    flow_recent = e.recent_to(now)
                if obs.to_number:
                    pushed = e.recent_pending
                    pushed.append((at, obs.to_number))
                    if len(pushed) > plan.keep:  # only the last few stay in Redis's list
                        del pushed[0]
            e.used = now
        o = out
        return Counters(
            o[0],
            o[1],
            o[2],
            o[3],
            o[4],
            o[5],
            o[6],
            o[7],
            o[8],
            o[9],
            o[10],
            o[11],
            o[12],
            o[13],
            o[14],
            o[15],
            o[16],
            o[17],
            o[18],
            o[19],
            o[20],
            o[21],
            o[22],
            o[23],
            o[24],
            o[25],
            o[26],
            o[27],
            o[28],
            o[29],
            o[30],
            o[31],
            o[32],
            o[33],
            recent,
            flow_recent,
            ua_recent,
        )

    def outcome(self, source_ip: str, metrics: Sequence[str], now: float, flow: str = "") -> None:
        """Count a call's outcome metrics (``calls``, ``failed``, ``short``) for its source and,
        when known, its flow (over the hour and over the day)."""
        if source_ip:
            e = self._entity(SOURCE_PLAN, source_ip, now)
            for metric in metrics:
                e.counts[_OUTCOME_INDEX[metric]].add(now)
        if flow:
            e = self._entity(FLOW_PLAN, flow, now)
            for metric in metrics:
                for i in _FLOW_OUTCOME_INDEX.get(metric, ()):
                    e.counts[i].add(now)

    def high(self, obs: Observation, now: float) -> None:
        """Count an INVITE that scored at or above the suspect threshold, for its source, its
        User-Agent fingerprint and its flow (what :mod:`antibot.detect.corroboration` weighs)."""
        for k in range(len(PLANS)):
            i = _HIGH[k]
            if i < 0:
                continue
            plan = PLANS[k]
            value: str = getattr(obs, plan.entity)
            if value:
                self._entity(plan, value, now).counts[i].add(now)

    def _entity(self, plan: Plan, value: str, now: float) -> Entity:
        key = (plan.kind, value)
        entities = self.entities
        e = entities.pop(key, None)
        if e is None:
            e = Entity(plan, value)
            while len(entities) >= self.max_entities:
                self._evict()
        else:
            e.read = True
        entities[key] = e  # most recently used last
        if not e.dirty:
            e.dirty = True
            self._dirty[key] = e
        return e

    def _evict(self) -> None:
        """Forget the least recently used entity, synced or not: the table is bounded whether
        Redis answers or not (a flood of unique callers while Redis is down must not grow it).
        Its unsynced counts are lost (counted in ``evicted_unsynced``); it leaves the dirty
        list too, so nothing keeps it alive but an in-flight batch (see :meth:`fail`)."""
        key = next(iter(self.entities))
        old = self.entities.pop(key)
        if old.dirty:
            del self._dirty[key]
            old.dirty = False
            if _unsynced(old):
                self.evicted_unsynced += 1

    def _owns(self, e: Entity) -> bool:
        """``e`` is still the table's entity for its key (not evicted, not replaced)."""
        return self.entities.get((e.plan.kind, e.value)) is e

    def _requeue(self, e: Entity) -> None:
        if not e.dirty:
            e.dirty = True
            self._dirty[(e.plan.kind, e.value)] = e

    def pending(self) -> int:
        """Entities with counts not yet handed to a sync."""
        return len(self._dirty)

    def take(self, now: float, limit: int = 0) -> list[Delta]:
        """What the entities counted since their last sync, bucketed at ``now``, now in flight
        until :meth:`settle` or :meth:`fail`: every entity, or the ``limit`` (> 0) touched
        longest ago (the others wait for the next sync). Counts older than the previous bucket
        are dropped: they no longer count in any window. Raises RuntimeError while a batch is
        in flight."""
        if self._syncing:
            raise RuntimeError("a sync is already in flight")
        dirty = self._dirty
        batch: list[Entity]
        if limit <= 0 or len(dirty) <= limit:
            batch = list(dirty.values())
            self._dirty = {}
        else:
            batch = []
            for e in dirty.values():
                batch.append(e)
                if len(batch) >= limit:
                    break
            for e in batch:
                del dirty[(e.plan.kind, e.value)]
        self._syncing = bool(batch)
        out = []
        for e in batch:
            e.dirty = False
            counts: list[tuple[int, int]] = []
            for c in e.counts:
                flight = c.pending
                c.flight, c.pending = flight, {}
                b = int(now // c.window)
                add = add_prev = 0
                for k, n in flight.items():
                    if k >= b:  # > b: counted on a clock ahead of this one
                        add += n
                    elif k == b - 1:
                        add_prev += n
                counts.append((add, add_prev))
            members: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
            for d in e.distinct:
                pool = d.pending
                d.flight, d.pending = pool, {}
                b = int(now // d.window)
                cur: tuple[str, ...] = ()
                prev: tuple[str, ...] = ()
                for k, m in pool.items():
                    if k >= b:
                        cur = (*cur, *m) if cur else tuple(m)
                    elif k == b - 1:
                        prev = tuple(m)
                if len(set(cur)) != len(cur):
                    cur = tuple(set(cur))
                members.append((cur, prev))
            flight_to = e.recent_flight = e.recent_pending
            e.recent_pending = []
            pushed = tuple([n for _, n in flight_to])
            pushed_at = tuple([s for s, _ in flight_to])
            out.append(Delta(e, now, tuple(counts), tuple(members), pushed, e.read, pushed_at))
        return out

    def settle(self, batch: Sequence[Delta], totals: Sequence[Totals]) -> None:
        """Redis's totals for a batch :meth:`take` gave out (same order): the new baseline."""
        self._syncing = False
        self.in_sync = True
        if len(totals) != len(batch):
            raise ValueError("a sync's totals do not match its batch")
        # Index loops: zip(strict=True) is a generic call under mypyc (and this runs per entity).
        for k in range(len(batch)):
            delta, t = batch[k], totals[k]
            e, now = delta.entity, delta.now
            counts, distinct, totals_counts, totals_distinct = e.counts, e.distinct, t.counts, t.distinct
            if len(totals_counts) != len(counts) or len(totals_distinct) != len(distinct):
                raise ValueError("a sync's totals do not match its entity")
            for i in range(len(counts)):
                c = counts[i]
                cur, prev = totals_counts[i]
                c.bucket, c.cur, c.prev = int(now // c.window), cur, prev
                c.flight = NO_COUNTS
            for i in range(len(distinct)):
                d = distinct[i]
                union, cur = totals_distinct[i]
                added, added_prev = delta.members[i]
                b = int(now // d.window)
                if added or added_prev:
                    kept = set() if d.seen_bucket < b - 1 or len(d.seen) >= SEEN_MAX else set(d.seen)
                    kept.update(added[: SEEN_MAX - len(kept)])
                    kept.update(added_prev[: SEEN_MAX - len(kept)])
                    d.seen, d.seen_bucket = kept, b
                d.bucket, d.union, d.cur = b, union, cur
                d.flight = NO_MEMBERS
            if e.plan.keep:
                e.recent = tuple(t.recent[: e.plan.keep])
                e.recent_at = tuple(t.recent_at[: e.plan.keep])
                e.recent_flight = []
            self.synced += 1

    def forget(self, batch: Sequence[Delta]) -> None:
        """Redis may or may not have counted a batch (a reply came late or the connection
        broke after the write): its counts are not sent again (never counted twice) and leave
        the local view; the next good sync brings Redis's totals, with them if they landed."""
        self._syncing = False
        self.in_sync = False
        for delta in batch:
            e = delta.entity
            for c in e.counts:
                c.flight = NO_COUNTS
            for d in e.distinct:
                d.flight = NO_MEMBERS
            e.recent_flight = []
            e.read = True  # its next sync reads, whatever this one did
            self.unsure += 1
            if self._owns(e):
                self._requeue(e)  # synced next time, to bring back Redis's totals

    def fail(self, batch: Sequence[Delta]) -> None:
        """A batch did not reach Redis: its counts go back to pending (tried again next sync),
        except those older than the previous bucket, which no window counts any more, and
        those of entities evicted meanwhile (counted in ``evicted_unsynced``). Only this batch
        is queued again: the retry work is bounded by what one :meth:`take` handed out."""
        self._syncing = False
        self.in_sync = False
        for delta in batch:
            e, now = delta.entity, delta.now
            if not self._owns(e):  # evicted while in flight: its counts go with it
                if delta.pushed or any(a or b for a, b in delta.counts) or any(m or p for m, p in delta.members):
                    self.evicted_unsynced += 1
                continue
            for c in e.counts:
                oldest = int(now // c.window) - 1
                for b, n in c.flight.items():
                    if b >= oldest:
                        c.pending[b] = c.pending.get(b, 0) + n
                    else:
                        self.lost += n
                c.flight = NO_COUNTS
            for d in e.distinct:
                oldest = int(now // d.window) - 1
                for b, members in d.flight.items():
                    if b >= oldest:
                        d.pending.setdefault(b, set()).update(members)
                d.flight = NO_MEMBERS
            e.recent_pending = [*e.recent_flight, *e.recent_pending][-e.plan.keep :] if e.plan.keep else []
            e.recent_flight = []
            self._requeue(e)


def _unsynced(e: Entity) -> bool:
    """``e`` has counts no sync has handed to Redis yet."""
    return bool(e.recent_pending) or any(c.pending for c in e.counts) or any(d.pending for d in e.distinct)
