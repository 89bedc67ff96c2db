"""Side effects returned by the pure transaction state machines (RFC 3261 §17).

A transaction never performs I/O: every call returns a list of effects that its owner
(the proxy core) carries out. Time is always passed in as ``now`` (seconds, float).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(unsafe_hash=True)
class TimerConfig:
    """RFC 3261 §17.1.1.1 timer values, in seconds (T1 RTT estimate, T2 cap, T4 max lifetime)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


# Explicit __init__s (init=False): mypyc compiles them; a dataclass's generated one stays interpreted
# and ran several times per message.
@dataclass(init=False, unsafe_hash=True)
class Send:
    """Transmit these bytes on the transaction's flow (the owner knows the destination)."""

    data: bytes

    def __init__(self, data: bytes) -> None:
        self.data = data


@dataclass(init=False, unsafe_hash=True)
class PassUp:
    """Hand a message to the transaction user (a response for client txns, a request for server txns)."""

    message: Any  # a Request or Response (``object`` trips mypyc's dataclass support)

    def __init__(self, message: Any) -> None:
        self.message = message


@dataclass(init=False, unsafe_hash=True)
class TimedOut:
    """Timer B or F fired: the client transaction got no final response (RFC 3261 §17.1.1.2, §17.1.2.2)."""

    def __init__(self) -> None:
        pass


@dataclass(init=False, unsafe_hash=True)
class Terminated:
    """The transaction reached the Terminated state; the owner forgets it."""

    def __init__(self) -> None:
        pass


Effect = Send | PassUp | TimedOut | Terminated
