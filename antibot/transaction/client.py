"""RFC 3261 §17.1 client transactions, sans-IO.

INVITE client transaction (§17.1.1.2, Figure 5)::

    calling    --Timer A------> calling     Send(request), A interval doubles (no cap)
    calling    --Timer B------> terminated  TimedOut()
    calling    --1xx----------> proceeding  PassUp; A and B stopped
    proceeding --1xx----------> proceeding  PassUp
    calling    --2xx----------> terminated  PassUp
    proceeding --2xx----------> terminated  PassUp
    calling    --300-699------> completed   Send(ACK), PassUp; D = 32s (0 if reliable)
    proceeding --300-699------> completed   Send(ACK), PassUp; D = 32s (0 if reliable)
    completed  --300-699------> completed   Send(same ACK)
    completed  --Timer D------> terminated

Non-INVITE client transaction (§17.1.2.2, Figure 6)::

    trying     --Timer E------> trying      Send(request), E = min(2*E, T2)
    proceeding --Timer E------> proceeding  Send(request), E = T2
    trying     --Timer F------> terminated  TimedOut()
    proceeding --Timer F------> terminated  TimedOut()
    trying     --1xx----------> proceeding  PassUp
    proceeding --1xx----------> proceeding  PassUp
    trying     --200-699------> completed   PassUp; K = T4 (0 if reliable)
    proceeding --200-699------> completed   PassUp; K = T4 (0 if reliable)
    completed  --any response-> completed   absorbed
    completed  --Timer K------> terminated

Every other (state, event) pair returns ``[]``. A zero D or K is not armed: the
transaction terminates at once and ``Terminated()`` ends the same effect list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from antibot.transaction._base import TransactionBase, status_class
from antibot.transaction.effects import Effect, PassUp, Send, TimedOut, TimerConfig
from antibot.transaction.timers import Timer

ClientInviteState = Literal["calling", "proceeding", "completed", "terminated"]
ClientNonInviteState = Literal["trying", "proceeding", "completed", "terminated"]

TIMER_D = 32.0
"""§17.1.1.2: "Timer D ... MUST be set ... at least 32 seconds for unreliable transports"."""


def _spent(message: object) -> bytes:
    """The ACK builder once the ACK is built: it is built once per transaction."""
    raise RuntimeError("ACK already built")


class ClientInviteTransaction(TransactionBase[ClientInviteState]):
    """INVITE client transaction (RFC 3261 §17.1.1).

    ``ack_factory(response)`` builds the hop-by-hop ACK for a 300-699 response
    (§17.1.1.3); it is called once and the bytes are reused for retransmissions.
    In Proceeding no timer runs (Timer B only applies in Calling): the proxy's
    Timer C (§16.8) bounds that wait.
    """

    def __init__(
        self,
        request: bytes,
        *,
        reliable: bool,
        config: TimerConfig,
        ack_factory: Callable[[object], bytes],
    ) -> None:
        super().__init__("calling", "terminated", reliable=reliable, config=config)
        self._request = request
        self._ack_factory = ack_factory
        self._ack = b""
        self._a_interval = config.t1
        self._started = False

    def start(self, now: float) -> list[Effect]:
        """Send the request and arm A/B.

        §17.1.1.2: "If an unreliable transport is being used, the client transaction
        MUST start timer A with a value of T1. [...] For any transport, the client
        transaction MUST start timer B with a value of 64*T1 seconds."
        """
        if self._started:
            raise RuntimeError("transaction already started")
        self._started = True
        if not self.reliable:
            self._timers.set(Timer.A, now + self._a_interval)
        self._timers.set(Timer.B, now + 64 * self.config.t1)
        return [Send(self._request)]

    def receive_response(self, status: int, message: object, now: float) -> list[Effect]:
        """Feed a response matched to this transaction (§17.1.3)."""
        match self._state, status_class(status):
            case (("calling" | "proceeding"), "1xx"):
                # "If the client transaction receives a provisional response while in the
                # "Calling" state, it transitions to the "Proceeding" state. [...] Any further
                # provisional responses MUST be passed up to the TU"
                self._state = "proceeding"
                self._timers.cancel(Timer.A)
                self._timers.cancel(Timer.B)
                return [PassUp(message)]
            case (("calling" | "proceeding"), "2xx"):
                # "When in either the "Calling" or "Proceeding" states, reception of a 2xx
                # response MUST cause the client transaction to enter the "Terminated"
                # state, and the response MUST be passed up to the TU."
                return [PassUp(message), *self._terminate()]
            case (("calling" | "proceeding"), "3xx-6xx"):
                # "When in either the "Calling" or "Proceeding" states, reception of a
                # response with status code from 300-699 MUST cause the client transaction
                # to transition to "Completed". The client transaction MUST pass the
                # received response up to the TU, and the client transaction MUST generate
                # an ACK request"
                self._ack = self._ack_factory(message)
                # Completed only resends this ACK: the request and the builder are not needed
                # for the 32 s of Timer D, and a flood of rejected calls would keep them all.
                self._request = b""
                self._ack_factory = _spent
                self._state = "completed"
                self._timers.cancel(Timer.A)
                self._timers.cancel(Timer.B)
                return [
                    Send(self._ack),
                    PassUp(message),
                    *self._arm_or_terminate(Timer.D, TIMER_D, now),
                ]
            case ("completed", "3xx-6xx"):
                # "Any retransmissions of the final response that are received while in the
                # "Completed" state MUST cause the ACK to be re-passed to the transport layer
                # for retransmission, but the newly received response MUST NOT be passed up"
                return [Send(self._ack)]
            case _:
                return []

    def _on_timer(self, timer: Timer, now: float) -> list[Effect]:
        match self._state, timer:
            case ("calling", Timer.A):
                # "the request MUST be retransmitted with intervals that double after each
                # transmission" (no T2 cap for INVITE)
                self._a_interval *= 2
                self._timers.set(Timer.A, now + self._a_interval)
                return [Send(self._request)]
            case ("calling", Timer.B):
                # "If the client transaction is still in the "Calling" state when timer B
                # fires, the client transaction SHOULD inform the TU that a timeout has
                # occurred."
                return [TimedOut(), *self._terminate()]
            case ("completed", Timer.D):
                return self._terminate()
            case _:
                return []


class ClientNonInviteTransaction(TransactionBase[ClientNonInviteState]):
    """Non-INVITE client transaction (RFC 3261 §17.1.2)."""

    def __init__(self, request: bytes, *, reliable: bool, config: TimerConfig) -> None:
        super().__init__("trying", "terminated", reliable=reliable, config=config)
        self._request = request
        self._e_interval = config.t1
        self._started = False

    def start(self, now: float) -> list[Effect]:
        """Send the request and arm E/F.

        §17.1.2.2: "The "Trying" state is entered when the TU initiates a new client
        transaction with a request. When entering this state, the client transaction
        SHOULD set timer F to fire in 64*T1 seconds. [...] If an unreliable transport is
        in use, the client transaction MUST set timer E to fire in T1 seconds."
        """
        if self._started:
            raise RuntimeError("transaction already started")
        self._started = True
        if not self.reliable:
            self._timers.set(Timer.E, now + self._e_interval)
        self._timers.set(Timer.F, now + 64 * self.config.t1)
        return [Send(self._request)]

    def receive_response(self, status: int, message: object, now: float) -> list[Effect]:
        """Feed a response matched to this transaction (§17.1.3)."""
        match self._state, status_class(status):
            case (("trying" | "proceeding"), "1xx"):
                # "If a provisional response is received while in the "Trying" state, the
                # response MUST be passed to the TU, and then the client transaction SHOULD
                # move to the "Proceeding" state."
                self._state = "proceeding"
                return [PassUp(message)]
            case (("trying" | "proceeding"), _):
                # "If a final response (status codes 200-699) is received while in the
                # "Trying" state, the response MUST be passed to the TU, and the client
                # transaction MUST transition to the "Completed" state. [...] it MUST set
                # Timer K to fire in T4 seconds for unreliable transports, and zero seconds
                # for reliable transports."
                self._state = "completed"
                self._timers.cancel(Timer.E)
                self._timers.cancel(Timer.F)
                return [
                    PassUp(message),
                    *self._arm_or_terminate(Timer.K, self.config.t4, now),
                ]
            case _:
                # Completed exists "to buffer any additional response retransmissions".
                return []

    def _on_timer(self, timer: Timer, now: float) -> list[Effect]:
        match self._state, timer:
            case ("trying", Timer.E):
                # "the timer is reset with a value of MIN(2*T1, T2). When the timer fires
                # again, it is reset to a MIN(4*T1, T2)."
                self._e_interval = min(2 * self._e_interval, self.config.t2)
                self._timers.set(Timer.E, now + self._e_interval)
                return [Send(self._request)]
            case ("proceeding", Timer.E):
                # "If Timer E fires while in the "Proceeding" state, the request MUST be
                # passed to the transport layer for retransmission, and Timer E MUST be
                # reset with a value of T2 seconds."
                self._timers.set(Timer.E, now + self.config.t2)
                return [Send(self._request)]
            case (("trying" | "proceeding"), Timer.F):
                # "If Timer F fires while in the "Proceeding" state, the TU MUST be informed
                # of a timeout, and the client transaction MUST transition to the terminated
                # state." (SHOULD, in "Trying")
                return [TimedOut(), *self._terminate()]
            case ("completed", Timer.K):
                return self._terminate()
            case _:
                return []
