"""Plumbing shared by the four RFC 3261 §17 transaction state machines (not public API)."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from antibot.transaction.effects import Effect, Terminated, TimerConfig
from antibot.transaction.timers import Timer, Timers

StateT = TypeVar("StateT", bound=str)

StatusClass = Literal["1xx", "2xx", "3xx-6xx"]


def status_class(status: int) -> StatusClass:
    """Classify a response code; RFC 3261 §7.2 allows only 100-699."""
    if not 100 <= status <= 699:
        raise ValueError(f"SIP status code out of range 100-699: {status}")
    if status < 200:
        return "1xx"
    if status < 300:
        return "2xx"
    return "3xx-6xx"


class TransactionBase(Generic[StateT]):
    """State, timers and the ``handle_timer`` loop; subclasses supply the transitions.

    A timer fires only through ``handle_timer(now)``: the owner calls it at (or after)
    ``get_timer()``. Timers fire one by one in deadline order; a retransmit timer is
    re-armed relative to ``now``, so a late call never causes a burst.
    """

    def __init__(
        self,
        initial: StateT,
        terminated: StateT,
        *,
        reliable: bool,
        config: TimerConfig,
    ) -> None:
        if config.t1 <= 0 or config.t2 <= 0 or config.t4 < 0:
            raise ValueError(f"need t1 > 0, t2 > 0, t4 >= 0: {config}")
        self._state = initial
        self._terminated_state = terminated
        self.reliable = reliable
        self.config = config
        self._timers = Timers()

    @property
    def state(self) -> str:
        """The current RFC 3261 state name, lower case (e.g. ``"completed"``).

        Typed ``str`` on purpose: a ``Literal`` would let mypy narrow ``txn.state`` across
        calls that change it. Internally ``_state`` keeps the per-class ``Literal``.
        """
        return self._state

    @property
    def terminated(self) -> bool:
        """True once the transaction reached Terminated (it then ignores every input)."""
        return self._state == self._terminated_state

    def get_timer(self) -> float | None:
        """Earliest armed deadline (absolute, same clock as ``now``), or None."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> list[Effect]:
        """Fire every timer whose deadline is <= ``now``, in deadline order."""
        effects: list[Effect] = []
        for timer in self._timers.pop_expired(now):
            # A timer popped in the same batch as a terminating one reaches a
            # terminated state and matches no transition: it yields [].
            effects.extend(self._on_timer(timer, now))
        return effects

    def _on_timer(self, timer: Timer, now: float) -> list[Effect]:
        raise NotImplementedError

    def _terminate(self) -> list[Effect]:
        self._state = self._terminated_state
        self._timers.clear()
        return [Terminated()]

    def _arm_or_terminate(self, timer: Timer, delay: float, now: float) -> list[Effect]:
        """Arm a linger timer (D, I, J or K), which RFC 3261 sets to zero on reliable transports.

        Design choice: a zero timer is never armed; the transaction terminates at once and
        ``Terminated()`` is appended to the same effect list.
        """
        if self.reliable or delay <= 0:
            return self._terminate()
        self._timers.set(timer, now + delay)
        return []
