"""The proxy's decision contract: the hook it calls for every request from outside that
must be decided (:data:`Decide`), and the :class:`Verdict` it acts on (RFC 3261 §16.7: relay,
or answer with a final response, or stay silent). The proxy owns this contract; detection
(:mod:`antibot.detect`) implements it."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..sip.message import Request
from .effects import Addr

#: Reason phrases of the statuses a rule may reject with (RFC 3261 §21, RFC 8197 for 607).
PHRASES = {
    403: "Forbidden",
    404: "Not Found",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    488: "Not Acceptable Here",
    503: "Service Unavailable",
    603: "Decline",
    607: "Unwanted",
}


def phrase_for(status: int) -> str:
    """The reason phrase for a reject ``status`` ("Decline" for one not in :data:`PHRASES`)."""
    return PHRASES.get(status, "Decline")


class Action(enum.StrEnum):
    """What to do with a new INVITE. A ``StrEnum`` so that an Action is hashed by
    ``str.__hash__`` (a plain ``Enum`` hashes in Python): the hot path keys dicts by it."""

    RELAY = "relay"
    SUSPECT = "suspect"
    REJECT = "reject"
    DROP = "drop"


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Verdict:
    """What to do with a new INVITE. ``headers`` are added when relaying.

    For REJECT, ``status``/``phrase`` form the status line and ``reason_text`` goes into an
    RFC 3326 ``Reason: SIP;cause=<status>;text="..."`` header.
    """

    action: Action
    score: float
    reasons: tuple[str, ...]
    rule: str | None
    status: int
    phrase: str
    reason_text: str
    headers: tuple[tuple[str, str], ...]
    #: The id the admin API knows this call by (``X-Antibot-Call``); empty when not logged.
    call_ref: str
    #: Features that pushed the score most, with their log-odds contribution.
    explanation: tuple[tuple[str, float], ...]
    #: Reject or drop without keeping a transaction: the answer goes out once, never
    #: retransmitted (RFC 3261 §16.7 lets a proxy answer statelessly), so a spoofed source
    #: gets no amplification and a scanner storm leaves no state. Deny lists and deny rules set it.
    stateless: bool

    def __init__(
        self,
        action: Action,
        score: float = 0.0,
        reasons: tuple[str, ...] = (),
        rule: str | None = None,
        status: int = 603,
        phrase: str = "Decline",
        reason_text: str = "",
        headers: tuple[tuple[str, str], ...] = (),
        call_ref: str = "",
        explanation: tuple[tuple[str, float], ...] = (),
        stateless: bool = False,
    ) -> None:
        self.action = action
        self.score = score
        self.reasons = reasons
        self.rule = rule
        self.status = status
        self.phrase = phrase
        self.reason_text = reason_text
        self.headers = headers
        self.call_ref = call_ref
        self.explanation = explanation
        self.stateless = stateless

    @classmethod
    def relay(cls, *headers: tuple[str, str]) -> Verdict:
        return cls(Action.RELAY, headers=tuple(headers))

    def reason_header(self) -> str:
        """RFC 3326 §2 Reason header value (quotes and backslashes in text escaped)."""
        text = self.reason_text.replace("\\", "\\\\").replace('"', '\\"')
        return f'SIP;cause={self.status};text="{text}"'


#: Each action's value (``Action.value`` is a Python-level property; a dict lookup is not).
ACTION_VALUES: Final[dict[Action, str]] = {a: a.value for a in Action}
#: The ``X-Antibot-Verdict`` label of each action ("pass" for a plain relay).
ACTION_LABELS: Final[dict[Action, str]] = {**ACTION_VALUES, Action.RELAY: "pass"}


#: The decision hook: ``decide(request, source, now) -> Verdict``, synchronous (it never waits:
#: a hook that needs I/O keeps its own state up to date in the background). ``now`` is the
#: proxy's monotonic clock. A hook should never raise; the transport relays a call as
#: ``suspect`` when one does.
Decide = Callable[[Request, Addr, float], Verdict]
