"""The proxy core's knobs (:class:`CoreConfig`), sans-IO."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..transaction import TimerConfig
from .effects import Addr
from .limiter import TokenBuckets


@dataclass(slots=True)
class CoreConfig:
    """Proxy knobs. ``failover_timeout``: how long a target may stay silent before the next
    one is tried (like Kamailio's fr_timer); ``timer_c``: §16.6 step 11 (> 3 min)."""

    timers: TimerConfig = field(default_factory=TimerConfig)
    failover_timeout: float = 2.0
    timer_c: float = 181.0
    #: Server (and client) transactions and answered calls kept at most: beyond, new requests get a
    #: stateless 503 and the oldest answered call is forgotten (bounded memory).
    max_transactions: int = 100_000
    #: Answered calls remembered until their BYE; beyond, the oldest is forgotten (bounded memory).
    max_calls: int = 30_000
    probe_timeout: float = 2.0
    retry_after: int = 30
    #: REGISTER/OPTIONS flood limit per source; ``flood_action`` is "503" or "drop".
    flood: TokenBuckets | None = None
    flood_action: str = "503"
    #: The own UDP addresses of this node's other workers: a CANCEL for an INVITE this worker
    #: does not hold is relayed to them (:mod:`.siblings`) instead of answered 481.
    siblings: tuple[Addr, ...] = ()
    #: The next worker's own UDP address (one per listening host): CANCELs and requests of a
    #: dialog go round the workers in this order (:mod:`.siblings`).
    ring_next: tuple[Addr, ...] = ()
    #: The workers share UDP callers by transaction (``udp_spread``): a request of a dialog that
    #: names only us (or its ACK) and that this worker does not know is relayed to the siblings
    #: too, instead of answered 404 (by address, it reaches the worker that knows it).
    relay_dialogs: bool = False
