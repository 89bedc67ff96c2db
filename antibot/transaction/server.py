"""RFC 3261 §17.2 server transactions, sans-IO.

The owner creates a server transaction for a new request and hands that request to the
TU itself; ``receive_request`` only sees retransmissions (and, for INVITE, the ACK).

INVITE server transaction (§17.2.1, Figure 7)::

    proceeding --INVITE--------> proceeding  Send(last 1xx) if one was sent
    proceeding --TU 1xx--------> proceeding  Send(1xx), remembered
    proceeding --TU 2xx--------> terminated  Send(2xx); the TU/proxy handles 2xx after this
                                             (``accepted`` set: RFC 6026 §7.1, see below)
    proceeding --TU 300-699----> completed   Send(final); G = T1 (unreliable), H = 64*T1
    completed  --INVITE--------> completed   Send(final)
    completed  --Timer G-------> completed   Send(final), G = min(2*G, T2)
    completed  --Timer H-------> terminated  (the ACK never came)
    completed  --ACK-----------> confirmed   G, H stopped; I = T4 (0 if reliable)
    confirmed  --INVITE / ACK--> confirmed   absorbed
    confirmed  --Timer I-------> terminated

Non-INVITE server transaction (§17.2.2, Figure 8)::

    trying     --request-------> trying      absorbed
    trying     --TU 1xx--------> proceeding  Send(1xx)
    proceeding --TU 1xx--------> proceeding  Send(1xx)
    trying     --TU 200-699----> completed   Send(final); J = 64*T1 (0 if reliable)
    proceeding --TU 200-699----> completed   Send(final); J = 64*T1 (0 if reliable)
    proceeding --request-------> proceeding  Send(last 1xx)
    completed  --request-------> completed   Send(final)
    completed  --Timer J-------> terminated

RFC 6026 §7.1 replaces the 2xx transition with an "Accepted" state held for Timer L (64*T1),
in which "any retransmissions of the INVITE received [...] MUST be absorbed". Here the
transaction terminates as in RFC 3261 and says so with ``accepted``; the owner keeps only the
transaction's key for 64*T1 and absorbs the INVITEs that match it (a proxy's table of thousands
of answered calls stays a set of keys). Without it, an INVITE retransmitted while its 2xx was
on the way would be taken for a new request and relayed a second time.

Every other (state, event) pair, including responses from the TU outside Proceeding /
Trying, returns ``[]``. A zero I or J is not armed: the transaction terminates at once
and ``Terminated()`` ends the same effect list.
"""

from __future__ import annotations

from typing import Literal

from antibot.transaction._base import TransactionBase, status_class
from antibot.transaction.effects import Effect, Send, TimerConfig
from antibot.transaction.timers import Timer

ServerInviteState = Literal["proceeding", "completed", "confirmed", "terminated"]
ServerNonInviteState = Literal["trying", "proceeding", "completed", "terminated"]


class ServerInviteTransaction(TransactionBase[ServerInviteState]):
    """INVITE server transaction (RFC 3261 §17.2.1); starts in Proceeding.

    The owner sends the 100 Trying itself through ``send_response`` (§17.2.1: "The
    server transaction MUST generate a 100 (Trying) response unless it knows that the TU
    will generate a provisional or final response within 200 ms").
    """

    def __init__(self, *, reliable: bool, config: TimerConfig) -> None:
        super().__init__("proceeding", "terminated", reliable=reliable, config=config)
        self._last: bytes | None = None
        self._g_interval = config.t1
        #: A 2xx was sent: RFC 6026's Accepted state is the owner's to keep (module docstring).
        self.accepted = False

    def receive_request(self, is_ack: bool, message: object, now: float) -> list[Effect]:
        """Feed a retransmitted INVITE or an ACK matched to this transaction (§17.2.3)."""
        match self._state, is_ack:
            case (("proceeding" | "completed"), False):
                # "If a request retransmission is received while in the "Proceeding"
                # state, the most recent provisional response that was received from the
                # TU MUST be passed to the transport layer for retransmission." and, in
                # Completed, "the server SHOULD pass the response to the transport layer"
                return [] if self._last is None else [Send(self._last)]
            case ("completed", True):
                # "If an ACK is received while the server transaction is in the
                # "Completed" state, the server transaction MUST transition to the
                # "Confirmed" state. As Timer G is ignored in this state, any
                # retransmissions of the response will cease." Timer I is "set to fire in
                # T4 seconds for unreliable transports, and zero seconds for reliable".
                # The ACK for a non-2xx is hop-by-hop: it is absorbed, not passed up.
                self._state = "confirmed"
                self._timers.cancel(Timer.G)
                self._timers.cancel(Timer.H)
                return self._arm_or_terminate(Timer.I, self.config.t4, now)
            case _:
                # Confirmed: "absorb any additional ACK messages". An ACK in Proceeding
                # cannot belong here (the ACK for a 2xx is its own transaction).
                return []

    def send_response(self, status: int, data: bytes, now: float) -> list[Effect]:
        """Send a response from the TU (``data`` is the encoded response)."""
        match self._state, status_class(status):
            case ("proceeding", "1xx"):
                self._last = data
                return [Send(data)]
            case ("proceeding", "2xx"):
                # "If, while in the "Proceeding" state, the TU passes a 2xx response to
                # the server transaction, the server transaction MUST pass this response
                # to the transport layer for transmission. [...] The server transaction
                # MUST then transition to the "Terminated" state." (RFC 6026 §7.1: to
                # "Accepted"; the owner absorbs retransmitted INVITEs, see above.)
                self.accepted = True
                return [Send(data), *self._terminate()]
            case ("proceeding", "3xx-6xx"):
                # "the response MUST be passed to the transport layer for transmission, and
                # the state machine MUST enter the "Completed" state. For unreliable
                # transports, timer G is set to fire in T1 seconds [...] When the
                # "Completed" state is entered, timer H MUST be set to fire in 64*T1"
                self._last = data
                self._state = "completed"
                if not self.reliable:
                    self._timers.set(Timer.G, now + self._g_interval)
                self._timers.set(Timer.H, now + 64 * self.config.t1)
                return [Send(data)]
            case _:
                return []

    def _on_timer(self, timer: Timer, now: float) -> list[Effect]:
        match self._state, timer:
            case ("completed", Timer.G) if self._last is not None:
                # "If timer G fires, the response is passed to the transport layer once
                # more for retransmission, and timer G is set to fire in MIN(2*T1, T2)
                # seconds. From then on, when timer G fires, the timer is doubled, until
                # it reaches a maximum of T2 seconds"
                self._g_interval = min(2 * self._g_interval, self.config.t2)
                self._timers.set(Timer.G, now + self._g_interval)
                return [Send(self._last)]
            case ("completed", Timer.H):
                # "If timer H fires while in the "Completed" state, it implies that the
                # ACK was never received. In this case, the server transaction MUST
                # transition to the "Terminated" state"
                return self._terminate()
            case ("confirmed", Timer.I):
                return self._terminate()
            case _:
                return []


class ServerNonInviteTransaction(TransactionBase[ServerNonInviteState]):
    """Non-INVITE server transaction (RFC 3261 §17.2.2); starts in Trying."""

    def __init__(self, *, reliable: bool, config: TimerConfig) -> None:
        super().__init__("trying", "terminated", reliable=reliable, config=config)
        self._last: bytes | None = None

    def receive_request(self, message: object, now: float) -> list[Effect]:
        """Feed a retransmitted request matched to this transaction (§17.2.3)."""
        match self._state:
            case "proceeding" | "completed":
                # "If a retransmission of the request is received while in the
                # "Proceeding" state, the most recently sent provisional response MUST be
                # passed to the transport layer for retransmission." and, in Completed,
                # "the server transaction MUST pass the final response to the transport"
                return [] if self._last is None else [Send(self._last)]
            case _:
                # Trying: "any retransmissions of the request received while in the
                # "Trying" state MUST be discarded"
                return []

    def send_response(self, status: int, data: bytes, now: float) -> list[Effect]:
        """Send a response from the TU (``data`` is the encoded response)."""
        match self._state, status_class(status):
            case (("trying" | "proceeding"), "1xx"):
                self._state = "proceeding"
                self._last = data
                return [Send(data)]
            case (("trying" | "proceeding"), _):
                # "the server transaction MUST enter the "Completed" state, and the
                # response MUST be passed to the transport layer for transmission. [...]
                # it MUST set Timer J to fire in 64*T1 seconds for unreliable transports,
                # and zero seconds for reliable transports."
                self._state = "completed"
                self._last = data
                timer_j = 64 * self.config.t1
                return [Send(data), *self._arm_or_terminate(Timer.J, timer_j, now)]
            case _:
                # "Any other final responses passed by the TU to the server transaction
                # MUST be discarded while in the "Completed" state."
                return []

    def _on_timer(self, timer: Timer, now: float) -> list[Effect]:
        match self._state, timer:
            case ("completed", Timer.J):
                return self._terminate()
            case _:
                return []
