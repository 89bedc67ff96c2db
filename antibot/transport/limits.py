"""Limits shared by the stream transports (TCP, TLS, WebSocket): the per-source key, the
file-descriptor budget of accepted connections, and rate-limited log lines."""

from __future__ import annotations

import ipaddress
import logging
import resource
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger("antibot.tcp")

#: At most one "refused" and one "closing stream" log line per this many seconds.
LOG_INTERVAL: Final = 10.0
#: File descriptors kept out of the TCP budget: at least this many, or 1/8 of RLIMIT_NOFILE.
FD_RESERVE_MIN: Final = 128


class LogLimiter:
    """At most one log line per ``interval`` seconds; the next line says how many were held back."""

    def __init__(self, msg: str, level: int, interval: float = LOG_INTERVAL) -> None:
        self.msg = msg
        self.level = level
        self.interval = interval
        self.suppressed = 0
        self.next_at = float("-inf")

    def __call__(self, now: float, **extra: Any) -> None:
        if now < self.next_at:
            self.suppressed += 1
            return
        log.log(self.level, self.msg, extra={**extra, "suppressed": self.suppressed})
        self.suppressed = 0
        self.next_at = now + self.interval

    def flush(self, now: float, *, force: bool = False) -> None:
        """Report the lines held back once the interval is over (or now, with ``force``), even if
        no new event comes."""
        if self.suppressed and (force or now >= self.next_at):
            log.log(self.level, self.msg + " (held back)", extra={"suppressed": self.suppressed})
            self.suppressed = 0
            self.next_at = now + self.interval


def source_key(host: str) -> str:
    """What the per-source cap counts by: the IPv4 address, or the IPv6 /64 (one subscriber's)."""
    if ":" not in host:
        return host
    try:
        return str(ipaddress.IPv6Network((host.partition("%")[0], 64), strict=False))
    except ValueError:
        return host


def connection_budget(
    requested: int,
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
) -> int:
    """How many accepted connections this process can afford, at most ``requested``.

    Raises the soft RLIMIT_NOFILE to the hard limit, then keeps 1/8 of it (at least
    :data:`FD_RESERVE_MIN`, at most half) for everything else: the admin API, Redis, the
    connections to upstreams and back to clients, log files. A ``requested`` above the rest is
    lowered, with a warning."""
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    want = hard if hard != infinity else max(soft, 1 << 16)
    if soft != infinity and soft < want:
        try:
            setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (OSError, ValueError) as exc:
            log.warning("cannot raise RLIMIT_NOFILE", extra={"soft": soft, "hard": hard, "error": str(exc)})
    if soft == infinity:
        return requested
    budget = soft - min(max(FD_RESERVE_MIN, soft // 8), soft // 2)
    if requested > budget:
        log.warning(
            "tcp_max_connections lowered to fit RLIMIT_NOFILE",
            extra={"requested": requested, "limit": budget, "nofile": soft},
        )
        return budget
    return requested
