"""What one INVITE adds to the shared counters, and what the counters say back.

These two small records are the contract between the pure feature code
(:mod:`antibot.detect.features`) and the one Redis module (:mod:`antibot.store.redis`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Counters:
    """Windowed counts read back in the same round trip as the update (this INVITE included).

    Rates are sliding-window approximations over bucketed keys; ``distinct_*`` are
    HyperLogLog estimates. Outcome counts (``src_*_1h``) are fed back from the proxy's own
    call outcomes via ``Store.record_outcome`` and do not include the current INVITE.
    """

    src_1s: float = 0.0
    src_10s: float = 0.0
    src_60s: float = 0.0
    src_1h: float = 0.0
    from_60s: float = 0.0
    from_1h: float = 0.0
    to_60s: float = 0.0
    to_1h: float = 0.0
    prefix_60s: float = 0.0
    prefix_1h: float = 0.0
    ua_60s: float = 0.0
    ua_1h: float = 0.0
    src_distinct_to_60s: float = 0.0
    src_distinct_to_1h: float = 0.0
    from_distinct_to_60s: float = 0.0
    from_distinct_to_1h: float = 0.0
    from_distinct_src_1h: float = 0.0
    ua_distinct_src_1h: float = 0.0
    src_calls_1h: float = 0.0
    src_failed_1h: float = 0.0
    src_short_1h: float = 0.0
    #: The last few To numbers this source dialled before this INVITE, newest first.
    src_recent_to: tuple[str, ...] = ()
