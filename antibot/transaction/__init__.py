"""Sans-IO RFC 3261 §17 transaction state machines: time comes in, effects go out."""

from antibot.transaction.client import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
)
from antibot.transaction.effects import (
    Effect,
    PassUp,
    Send,
    Terminated,
    TimedOut,
    TimerConfig,
)
from antibot.transaction.server import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
)
from antibot.transaction.timers import Timer, Timers

__all__ = [
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "Effect",
    "PassUp",
    "Send",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "Terminated",
    "TimedOut",
    "Timer",
    "TimerConfig",
    "Timers",
]
