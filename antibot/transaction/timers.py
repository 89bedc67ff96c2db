"""Named transaction timers with absolute deadlines (RFC 3261 §17, Appendix A Table 4).

Pure bookkeeping: a deadline is an absolute time in the owner's clock (the same clock
that supplies ``now``). Nothing here sleeps or reads a clock.
"""

from __future__ import annotations

import enum


class Timer(enum.StrEnum):
    """RFC 3261 timers (Appendix A, Table 4).

    A ``StrEnum`` so that hashing one (timers are dict keys) is ``str.__hash__``, not the
    interpreted ``Enum.__hash__``: it is done several times per message.

    A/B/D: INVITE client (§17.1.1); E/F/K: non-INVITE client (§17.1.2);
    G/H/I: INVITE server (§17.2.1); J: non-INVITE server (§17.2.2).
    C is the proxy's INVITE timer (§16.8); it is listed for completeness and is not
    used by the transaction classes.
    """

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"
    J = "J"
    K = "K"


class Timers:
    """A set of armed timers, each with one absolute deadline."""

    __slots__ = ("_deadlines",)

    def __init__(self) -> None:
        self._deadlines: dict[Timer, float] = {}

    def set(self, timer: Timer, at: float) -> None:
        """Arm ``timer`` to expire at absolute time ``at`` (re-arming replaces the deadline)."""
        self._deadlines[timer] = at

    def cancel(self, timer: Timer) -> None:
        """Disarm ``timer``; cancelling an unarmed timer is a no-op."""
        self._deadlines.pop(timer, None)

    def clear(self) -> None:
        """Disarm every timer."""
        self._deadlines.clear()

    def get(self, timer: Timer) -> float | None:
        """The deadline of ``timer``, or None if it is not armed."""
        return self._deadlines.get(timer)

    def __contains__(self, timer: object) -> bool:
        return timer in self._deadlines

    def __len__(self) -> int:
        return len(self._deadlines)

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or None if no timer is armed."""
        # A loop, not min(..., default=None): compiled, it runs on every arm of every transaction.
        earliest: float | None = None
        for at in self._deadlines.values():
            if earliest is None or at < earliest:
                earliest = at
        return earliest

    def pop_expired(self, now: float) -> list[Timer]:
        """Disarm and return every timer with deadline <= ``now``.

        Ordered by deadline; ties are broken by timer letter so the order is deterministic.
        """
        deadlines = self._deadlines
        expired = [timer for timer, at in deadlines.items() if at <= now]
        if len(expired) > 1:  # usually one: nothing to sort
            expired.sort(key=lambda timer: (deadlines[timer], str(timer)))
        for timer in expired:
            del deadlines[timer]
        return expired
