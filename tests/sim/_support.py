"""Shared helpers for the simulator tests: cached runs, parsing and small statistics."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Iterable, Sequence

from antibot.sim import SimEvent, generate
from antibot.sim.base import local_hour
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram

#: The default start: Tuesday 14:13 in site time (US Pacific standard time).
START = 1.7e9


def at_local(hour: float, days: int = 0) -> float:
    """Unix time of ``hour`` o'clock site time on START's day (plus ``days``)."""
    return START - local_hour(START) * 3600.0 + hour * 3600.0 + days * 86400.0


@functools.cache
def run(
    profiles: tuple[str, ...] | None, duration: float, seed: int, scale: float = 1.0, start: float = START
) -> tuple[SimEvent, ...]:
    return tuple(generate(profiles, duration=duration, seed=seed, start=start, scale=scale))


@functools.cache
def _parse(data: bytes) -> Request:
    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    return msg


def parse(ev: SimEvent) -> Request:
    return _parse(ev.data)


def user(uri: str) -> str:
    """The user part of a sip: URI (``sip:user@host;params``)."""
    return uri.partition(":")[2].partition("@")[0]


def to_user(ev: SimEvent) -> str:
    return user(parse(ev).to.uri)


def from_user(ev: SimEvent) -> str:
    return user(parse(ev).from_.uri)


def number(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()))


def order(msg: Request) -> tuple[str, ...]:
    """The header order fingerprint: canonical names in wire order."""
    return tuple(h.key for h in msg.headers)


def invites(events: Iterable[SimEvent], profile: str) -> list[SimEvent]:
    return [e for e in events if e.profile == profile and e.method == "INVITE"]


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation (stdev / mean)."""
    return statistics.pstdev(values) / statistics.fmean(values)


def gaps(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]
