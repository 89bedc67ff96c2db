"""Shared machinery of the profiles: emitted records, daily shapes, arrival processes, outcomes.

Time is simulated: every clock value is computed from the ``start`` the caller gives, and
every random draw comes from a ``random.Random`` handed down from :func:`~.generator.generate`.
The site is modelled in US Pacific standard time (:data:`SITE_UTC_OFFSET`), so the default
``start`` of 1.7e9 (Tue 2023-11-14 22:13 UTC) is 14:13 on a Tuesday afternoon there.
"""

from __future__ import annotations

import heapq
import ipaddress
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .messages import cancel_for

T = TypeVar("T")

SITE_UTC_OFFSET = -8 * 3600
HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Emit:
    """One request a profile sends, and how the call it belongs to ends at the PBX."""

    ts: float
    src_ip: str
    src_port: int
    data: bytes
    method: str
    status: int
    duration: float | None
    call_ts: float | None = None  #: for a CANCEL, when its INVITE was sent


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a profile runs with: its own RNG, the window ``[start, end]`` and the volume scale."""

    rng: random.Random
    start: float
    end: float
    scale: float

    def child(self) -> random.Random:
        """An independent RNG for one entity (agent, bot, campaign), drawn from this one."""
        return random.Random(self.rng.getrandbits(64))

    def count(self, n: float) -> int:
        """A population of ``n`` at scale 1 (at least 1 unless the scale is 0)."""
        return 0 if self.scale <= 0 else max(1, round(n * self.scale))


def local_hour(ts: float) -> float:
    return ((ts + SITE_UTC_OFFSET) % DAY) / HOUR


def weekday(ts: float) -> int:
    """0 = Monday ... 6 = Sunday, in site time (1970-01-01 was a Thursday)."""
    return (int((ts + SITE_UTC_OFFSET) // DAY) + 3) % 7


@dataclass(frozen=True, slots=True)
class Shape:
    """A daily rate shape in site time: 24 hourly weights in [0, 1], linearly interpolated,
    times ``weekend`` on Saturdays and Sundays."""

    hourly: tuple[float, ...]
    weekend: float = 1.0

    def __call__(self, ts: float) -> float:
        h = local_hour(ts)
        i = int(h) % 24
        frac = h - int(h)
        w = self.hourly[i] * (1.0 - frac) + self.hourly[(i + 1) % 24] * frac
        return w * self.weekend if weekday(ts) >= 5 else w


FLAT = Shape((1.0,) * 24)


def arrivals(
    rng: random.Random, start: float, end: float, per_hour: float, weight: Callable[[float], float] = FLAT
) -> Iterator[float]:
    """A Poisson process of ``per_hour * weight(t)`` on ``[start, end)`` (thinning, weight ≤ 1)."""
    if per_hour <= 0:
        return
    lam = per_hour / HOUR
    t = start
    while True:
        t += rng.expovariate(lam)
        if t >= end:
            return
        if rng.random() < weight(t):
            yield t


def lognormal(rng: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
    return round(min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma)))), 1)


def pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    return rng.choices([item for item, _ in weighted], [w for _, w in weighted])[0]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the PBX sees the call end: final status, talk time if answered, and for a cancelled
    call (487) how long it rang before the caller's CANCEL."""

    status: int
    duration: float | None = None
    ring: float = 0.0


@dataclass(frozen=True, slots=True)
class CallModel:
    """Answer probability, talk-time log-normal (median s, sigma, clip) and the failure mix."""

    answer: float
    talk: tuple[float, float, float, float]
    failures: tuple[tuple[int, float], ...]
    ring: tuple[float, float] = (12.0, 40.0)  #: how long callers let it ring before cancelling

    def draw(self, rng: random.Random) -> Outcome:
        if rng.random() < self.answer:
            return Outcome(200, lognormal(rng, *self.talk))
        status = pick(rng, self.failures)
        ring = round(rng.uniform(*self.ring), 2) if status == 487 else 0.0
        return Outcome(status, None, ring)


def call(ts: float, ip: str, port: int, invite: bytes, out: Outcome) -> list[Emit]:
    """The INVITE of a call, and the caller's CANCEL if it gave up while ringing (487)."""
    first = Emit(ts, ip, port, invite, "INVITE", out.status, out.duration)
    if out.status != 487:
        return [first]
    return [first, Emit(ts + out.ring, ip, port, cancel_for(invite), "CANCEL", 487, None, ts)]


def sequenced(batches: Iterable[Sequence[Emit]]) -> Iterator[Emit]:
    """Flatten batches whose first event comes in time order (later ones never earlier than
    their first) into one time-ordered stream."""
    heap: list[tuple[float, int, Emit]] = []
    n = 0
    for batch in batches:
        if not batch:
            continue
        now = batch[0].ts
        while heap and heap[0][0] <= now:
            yield heapq.heappop(heap)[2]
        for ev in batch:
            heapq.heappush(heap, (ev.ts, n, ev))
            n += 1
    while heap:
        yield heapq.heappop(heap)[2]


def merge(streams: Iterable[Iterator[Emit]]) -> Iterator[Emit]:
    return heapq.merge(*streams, key=lambda e: e.ts)


def window(events: Iterable[Emit], ctx: Ctx) -> Iterator[Emit]:
    """Keep what falls in ``[start, end]`` (processes may start before to be mid-flight),
    without CANCELs whose INVITE fell before the start."""
    for ev in events:
        if ev.ts > ctx.end:
            return
        if ev.ts >= ctx.start and (ev.call_ts is None or ev.call_ts >= ctx.start):
            yield ev


def host_in(rng: random.Random, network: str) -> str:
    """A random host address inside ``network``."""
    net = ipaddress.ip_network(network)
    return str(net[rng.randrange(1, net.num_addresses - 1)])


def hosts(rng: random.Random, networks: Sequence[str], n: int) -> list[str]:
    """``n`` distinct host addresses spread over ``networks``."""
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(host_in(rng, rng.choice(networks)), None)
    return list(seen)


def nat_port(rng: random.Random) -> int:
    """A port a NAT (or an OS picking an ephemeral port) hands out."""
    return rng.randrange(1024, 65536)
