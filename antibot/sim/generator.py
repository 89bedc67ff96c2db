"""Labelled SIP traffic: every profile's stream, merged in time order.

Each profile runs with its own ``random.Random`` seeded from ``(seed, profile name)``, so a
profile produces the same events whichever other profiles run beside it, and the whole
output is a pure function of the arguments.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..proxy.effects import TlsFacts
from .base import Ctx
from .links import Link, link_for
from .profiles import PROFILES, Profile


@dataclass(frozen=True)
class SimEvent:
    """One SIP request on the wire, with its ground truth.

    ``status`` and ``duration`` are the outcome of the call the request belongs to, as the
    PBX sees it in the end (final status; seconds talked if answered, else None). A CANCEL
    carries 487 like the INVITE it cancels. For scanners' OPTIONS/REGISTER it is the answer
    to that request. ``transport`` and ``tls``: how the source reaches the proxy (:mod:`.links`).
    """

    ts: float
    src_ip: str
    src_port: int
    data: bytes
    label: int
    family: str
    profile: str
    method: str
    status: int
    duration: float | None
    transport: str = "udp"
    tls: TlsFacts | None = None


def generate(
    profiles: Sequence[str] | None,
    *,
    duration: float,
    seed: int,
    start: float = 1.7e9,
    scale: float = 1.0,
) -> Iterator[SimEvent]:
    """Events of ``profiles`` (None: all) in ``[start, start + duration]``, in time order.

    ``scale`` multiplies each profile's volume (populations, campaign and session rates), not
    the per-source behaviour that defines it. Raises ValueError on an unknown profile name,
    a negative duration or scale.
    """
    names = list(PROFILES) if profiles is None else list(dict.fromkeys(profiles))
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise ValueError(f"unknown profile(s) {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    if duration < 0 or scale < 0:
        raise ValueError("duration and scale must not be negative")
    end = start + duration
    streams = [_events(PROFILES[n], Ctx(random.Random(f"{seed}:{n}"), start, end, scale), seed) for n in names]
    return heapq.merge(*streams, key=lambda e: e.ts)


def _events(profile: Profile, ctx: Ctx, seed: int) -> Iterator[SimEvent]:
    links: dict[str, Link] = {}
    for e in profile.run(ctx):
        ts = round(e.ts, 6)
        if ctx.start <= ts <= ctx.end and (e.call_ts is None or round(e.call_ts, 6) >= ctx.start):
            link = links.get(e.src_ip)
            if link is None:
                link = links[e.src_ip] = link_for(seed, profile.name, e.src_ip)
            yield SimEvent(
                ts,
                e.src_ip,
                e.src_port,
                e.data,
                profile.label,
                profile.family,
                profile.name,
                e.method,
                e.status,
                e.duration,
                link.transport,
                link.tls,
            )
