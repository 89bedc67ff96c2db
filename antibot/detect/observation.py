"""What one INVITE adds to the shared counters, and what the counters say back.

These two small records are the contract between the pure feature code
(:mod:`antibot.detect.features`) and the one Redis module (:mod:`antibot.store.redis`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Addresses (in the hour) a User-Agent fingerprint must be seen from before its recent
#: callees count (:func:`.corroboration.flow_run`, :func:`.corroboration.judge_flow`).
SHARED_UA: Final = 2.0


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Observation:
    """The entities one new INVITE is counted under (each one a Redis hash tag).

    Empty strings mean "not applicable" (e.g. an anonymous caller has no ``from_user``);
    the store skips counters for empty entities and reports zeros for them.
    """

    source_ip: str
    from_user: str
    to_number: str
    to_prefix: str
    ua_fingerprint: str
    #: The *flow*: the source address and its stack's fingerprint (:func:`flow_of`), one client
    #: stack on one address; campaigns are judged by it, not by the bare address.
    flow: str
    #: The callee when it is extension-like (at most :data:`EXTENSION_MAX` characters), else "".
    ext_to: str
    #: The caller when its number copies the callee's exchange (neighbour spoofing), else "".
    neighbour_from: str

    def __init__(
        self,
        source_ip: str,
        from_user: str,
        to_number: str,
        to_prefix: str,
        ua_fingerprint: str,
        flow: str = "",
        ext_to: str = "",
        neighbour_from: str = "",
    ) -> None:
        self.source_ip = source_ip
        self.from_user = from_user
        self.to_number = to_number
        self.to_prefix = to_prefix
        self.ua_fingerprint = ua_fingerprint
        self.flow = flow
        self.ext_to = ext_to
        self.neighbour_from = neighbour_from


#: Longest callee counted as an extension (extension enumeration dials short numbers or names).
EXTENSION_MAX: Final = 6


def flow_of(source_ip: str, stack_fingerprint: str) -> str:
    """The flow entity of an INVITE: its source address and its stack's fingerprint (the
    User-Agent and the header order less the per-call identity and privacy headers,
    :func:`.fingerprint.stack_fingerprint`), ``"<ip>|<12 hex>"``."""
    return source_ip + "|" + stack_fingerprint if source_ip else ""


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Counters:
    """Windowed counts of one INVITE's entities, this INVITE included (``LocalCounters.observe``).

    Rates are sliding-window approximations over bucketed keys; ``distinct_*`` are
    HyperLogLog estimates at the last sync plus the members counted since. Outcome counts
    (``src_*_1h``) are fed back from the proxy's own call outcomes (``LocalCounters.outcome``)
    and do not include the current INVITE.
    """

    src_1s: float
    src_10s: float
    src_60s: float
    src_1h: float
    from_60s: float
    from_1h: float
    to_60s: float
    to_1h: float
    prefix_60s: float
    prefix_1h: float
    ua_60s: float
    ua_1h: float
    src_distinct_to_60s: float
    src_distinct_to_1h: float
    from_distinct_to_60s: float
    from_distinct_to_1h: float
    from_distinct_src_1h: float
    ua_distinct_src_1h: float
    src_calls_1h: float
    src_failed_1h: float
    src_short_1h: float
    #: INVITEs that scored at or above the suspect threshold (``LocalCounters.high``), per
    #: source and per User-Agent fingerprint; like the outcomes, the current INVITE is not in them.
    src_high_1h: float
    ua_high_1h: float
    #: Per flow (:attr:`Observation.flow`): INVITEs, high scores (before this one), outcomes
    #: (calls, failed, short: answered and hung up at once), distinct extension-like callees and
    #: neighbour-spoofed caller IDs.
    flow_60s: float
    flow_1h: float
    flow_high_1h: float
    flow_calls_1h: float
    flow_failed_1h: float
    flow_short_1h: float
    flow_distinct_ext_60s: float
    flow_distinct_nbr_1h: float
    #: The flow's outcomes (calls, failed, short) over a day: whether people answer it in
    #: general, when its last hour had too few calls to say (:func:`.corroboration.answered`).
    flow_calls_24h: float
    flow_failed_24h: float
    flow_short_24h: float
    #: The last few To numbers this source dialled before this INVITE, newest first.
    src_recent_to: tuple[str, ...]
    #: The same for this flow.
    flow_recent_to: tuple[str, ...]
    #: The same for this User-Agent fingerprint, whatever the address (a dialler on a botnet);
    #: empty while the fingerprint was seen from fewer than :data:`SHARED_UA` addresses in the
    #: hour, when nothing reads it (:mod:`.corroboration`).
    ua_recent_to: tuple[str, ...]

    def __init__(
        self,
        src_1s: float = 0.0,
        src_10s: float = 0.0,
        src_60s: float = 0.0,
        src_1h: float = 0.0,
        from_60s: float = 0.0,
        from_1h: float = 0.0,
        to_60s: float = 0.0,
        to_1h: float = 0.0,
        prefix_60s: float = 0.0,
        prefix_1h: float = 0.0,
        ua_60s: float = 0.0,
        ua_1h: float = 0.0,
        src_distinct_to_60s: float = 0.0,
        src_distinct_to_1h: float = 0.0,
        from_distinct_to_60s: float = 0.0,
        from_distinct_to_1h: float = 0.0,
        from_distinct_src_1h: float = 0.0,
        ua_distinct_src_1h: float = 0.0,
        src_calls_1h: float = 0.0,
        src_failed_1h: float = 0.0,
        src_short_1h: float = 0.0,
        src_high_1h: float = 0.0,
        ua_high_1h: float = 0.0,
        flow_60s: float = 0.0,
        flow_1h: float = 0.0,
        flow_high_1h: float = 0.0,
        flow_calls_1h: float = 0.0,
        flow_failed_1h: float = 0.0,
        flow_short_1h: float = 0.0,
        flow_distinct_ext_60s: float = 0.0,
        flow_distinct_nbr_1h: float = 0.0,
        flow_calls_24h: float = 0.0,
        flow_failed_24h: float = 0.0,
        flow_short_24h: float = 0.0,
        src_recent_to: tuple[str, ...] = (),
        flow_recent_to: tuple[str, ...] = (),
        ua_recent_to: tuple[str, ...] = (),
    ) -> None:
        self.src_1s = src_1s
        self.src_10s = src_10s
        self.src_60s = src_60s
        self.src_1h = src_1h
        self.from_60s = from_60s
        self.from_1h = from_1h
        self.to_60s = to_60s
        self.to_1h = to_1h
        self.prefix_60s = prefix_60s
        self.prefix_1h = prefix_1h
        self.ua_60s = ua_60s
        self.ua_1h = ua_1h
        self.src_distinct_to_60s = src_distinct_to_60s
        self.src_distinct_to_1h = src_distinct_to_1h
        self.from_distinct_to_60s = from_distinct_to_60s
        self.from_distinct_to_1h = from_distinct_to_1h
        self.from_distinct_src_1h = from_distinct_src_1h
        self.ua_distinct_src_1h = ua_distinct_src_1h
        self.src_calls_1h = src_calls_1h
        self.src_failed_1h = src_failed_1h
        self.src_short_1h = src_short_1h
        self.src_high_1h = src_high_1h
        self.ua_high_1h = ua_high_1h
        self.flow_60s = flow_60s
        self.flow_1h = flow_1h
        self.flow_high_1h = flow_high_1h
        self.flow_calls_1h = flow_calls_1h
        self.flow_failed_1h = flow_failed_1h
        self.flow_short_1h = flow_short_1h
        self.flow_distinct_ext_60s = flow_distinct_ext_60s
        self.flow_distinct_nbr_1h = flow_distinct_nbr_1h
        self.flow_calls_24h = flow_calls_24h
        self.flow_failed_24h = flow_failed_24h
        self.flow_short_24h = flow_short_24h
        self.src_recent_to = src_recent_to
        self.flow_recent_to = flow_recent_to
        self.ua_recent_to = ua_recent_to
