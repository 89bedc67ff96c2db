"""Transaction bookkeeping of the proxy core: the server and client transaction tables,
one timer heap, and the effects queued for the transport (sans-IO, RFC 3261 §17).

:class:`TransactionTable` runs transactions and turns their side effects into the core's
(:class:`Transmit`); what a client transaction passes up or times out on is the proxy's
business, so it calls :meth:`~TransactionTable._on_client_response` and
:meth:`~TransactionTable._client_timed_out`, which :class:`antibot.proxy.core.ProxyCore`
implements.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from ..sip import build
from ..sip.message import Request, Response
from ..sip.parser import parse_datagram
from ..sip.via import MAGIC_COOKIE
from ..transaction import (
    PassUp,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    Terminated,
    TimedOut,
    TimerConfig,
)
from . import routing
from .contexts import ClientSlot, Context, ServerSlot
from .effects import Addr, ProxyEffect, Transmit

log = logging.getLogger("antibot.proxy")
#: Seconds between two log lines about the same kind of bad input.
LOG_EVERY: Final = 1.0
#: Timer heap entries kept before the first sweep of cancelled ones (then twice the live ones).
HEAP_SWEEP_MIN: Final = 4096


class TransactionTable:
    """Server and client transactions by key, their timers, and the effects to hand out."""

    def __init__(self, timers: TimerConfig) -> None:
        self.timers = timers
        self.servers: dict[tuple[str, ...], ServerSlot] = {}
        self.clients: dict[tuple[str, str], ClientSlot] = {}
        self.stats: dict[str, int] = {}
        self._out: list[ProxyEffect] = []
        self._heap: list[tuple[float, int, ServerSlot | ClientSlot | Context]] = []
        #: Heap size that triggers the next sweep of cancelled entries (:meth:`_sweep_heap`).
        self._heap_limit = HEAP_SWEEP_MIN
        self._seq = itertools.count()
        self._logged: dict[str, tuple[float, int]] = {}
        #: Keys of INVITE server transactions answered 2xx, until Timer L (RFC 6026 §7.1):
        #: key -> deadline, and the same in answer order for expiry. At most ``accepted_max``.
        self.accepted: dict[tuple[str, ...], float] = {}
        self._accepted_order: deque[tuple[float, tuple[str, ...]]] = deque()
        self.accepted_max = 100_000

    # hooks: what the proxy does with a client transaction's outcome
    def _on_client_response(self, slot: ClientSlot, resp: Response, now: float) -> None:
        raise NotImplementedError

    def _client_timed_out(self, slot: ClientSlot, now: float) -> None:
        raise NotImplementedError

    def _arm(self, obj: ServerSlot | ClientSlot | Context) -> None:
        deadline = obj.deadline if isinstance(obj, Context) else obj.txn.get_timer()
        if deadline is not None and deadline != obj.armed:
            obj.armed = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), obj))
            if len(self._heap) > self._heap_limit:
                self._sweep_heap()

    def _sweep_heap(self) -> None:
        """Drop the entries of timers rescheduled or cancelled. They are skipped when due, but
        until then each holds its finished transaction or call context (and its request): a
        relayed INVITE's Timer C entry outlives the answered call by up to three minutes, so
        under a flood of new calls the heap would keep every call of the last Timer C. In
        place (``handle_timer`` may be iterating); amortised O(1) per entry pushed."""
        heap = self._heap
        heap[:] = [e for e in heap if _pending(e[0], e[2])]
        heapq.heapify(heap)
        self._heap_limit = max(HEAP_SWEEP_MIN, 2 * len(heap))

    def _new_server(self, key: tuple[str, ...], req: Request, dest: Addr, source: Addr) -> ServerSlot:
        reliable = dest.transport != "udp"
        txn: ServerInviteTransaction | ServerNonInviteTransaction
        if req.method == "INVITE":
            txn = ServerInviteTransaction(reliable=reliable, config=self.timers)
        else:
            txn = ServerNonInviteTransaction(reliable=reliable, config=self.timers)
        slot = ServerSlot(key, txn, dest, top_via=routing.fixed_top_via(req.top_via, req.top_via_text, source))
        self.servers[key] = slot
        return slot

    def _respond(
        self,
        slot: ServerSlot,
        status: int,
        now: float,
        *,
        req: Request | None,
        phrase: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        assert req is not None
        data = build.response(
            req.headers, status, phrase or _PHRASES.get(status, "Unknown"), extra=extra or (), top_via=slot.top_via
        )
        self._respond_raw(slot, status, data, now)

    def _respond_raw(self, slot: ServerSlot, status: int, data: bytes, now: float) -> bool:
        effects = slot.txn.send_response(status, data, now)
        self._run_server(slot, effects, now)
        return bool(effects)

    def _run_server(self, slot: ServerSlot, effects: Sequence[object], now: float) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self._emit(effect.data, slot.dest)
            elif isinstance(effect, Terminated):
                if isinstance(slot.txn, ServerInviteTransaction) and slot.txn.accepted:
                    self._accept(slot.key, now)
                self._forget_server(slot)
        if slot.txn.state != "terminated":
            self._arm(slot)

    def _accept(self, key: tuple[str, ...], now: float) -> None:
        """Remember an INVITE answered 2xx for Timer L = 64*T1 (RFC 6026 §7.1, "Accepted")."""
        deadline = now + 64 * self.timers.t1
        self.accepted[key] = deadline
        order = self._accepted_order
        order.append((deadline, key))
        while order and (order[0][0] <= now or len(order) > self.accepted_max):
            old, old_key = order.popleft()
            if self.accepted.get(old_key) == old:
                del self.accepted[old_key]

    def _absorbed_after_2xx(self, key: tuple[str, ...], now: float) -> bool:
        """An INVITE retransmitted after its 2xx went out: "MUST be absorbed" (RFC 6026 §7.1)."""
        deadline = self.accepted.get(key)
        return deadline is not None and deadline > now

    def _forget_server(self, slot: ServerSlot) -> None:
        if self.servers.get(slot.key) is slot:
            del self.servers[slot.key]
        slot.armed = None
        if slot.ctx is not None:
            slot.ctx.deadline = None
            slot.ctx.armed = None
            # Break the slot <-> context cycle: freed by reference counting at once, not by a
            # full collection that comes rarely (the proxy's gc thresholds are high).
            slot.ctx = None

    def _run_client(self, slot: ClientSlot, effects: Sequence[object], now: float) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self._emit(effect.data, slot.dest)
            elif isinstance(effect, PassUp):
                assert isinstance(effect.message, Response)
                self._on_client_response(slot, effect.message, now)
            elif isinstance(effect, TimedOut):
                self._client_timed_out(slot, now)
            elif isinstance(effect, Terminated):
                if self.clients.get(slot.key) is slot:
                    del self.clients[slot.key]
                slot.armed = None
        if slot.txn.state != "terminated" and self.clients.get(slot.key) is slot:
            self._arm(slot)

    def _server_key(self, req: Request, method: str | None = None) -> tuple[str, ...]:
        """RFC 3261 §17.2.3 matching key; RFC 2543 fallback when the branch lacks the cookie."""
        top = req.top_via
        m = method or ("INVITE" if req.method == "ACK" else req.method)
        branch = top.branch or ""
        if branch.startswith(MAGIC_COOKIE):
            return (branch, top.sent_by.render(5060), m)
        return (
            "2543",
            req.uri if req.method != "ACK" else "",
            req.call_id,
            req.from_tag or "",
            str(req.cseq),
            top.sent_by.render(5060),
            m,
        )

    def _stateless_reply(
        self, req: Request, source: Addr, status: int, reason: str, extra: list[tuple[str, str]] | None = None
    ) -> None:
        fixed = routing.fixed_top_via(req.top_via, req.top_via_text, source)
        data = build.response(req.headers, status, reason, extra=extra or (), top_via=fixed)
        self._emit(data, routing.response_dest(req.top_via, source))

    def _emit(self, data: bytes, dest: Addr) -> None:
        self._out.append(Transmit(data, dest))

    def _count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1

    def _log_limited(self, msg: str, now: float, **extra: object) -> None:
        """An INFO line per ``msg`` at most every :data:`LOG_EVERY` seconds, with how many were
        suppressed since: a flood of bad packets cannot turn into a flood of log lines."""
        last, suppressed = self._logged.get(msg, (-LOG_EVERY, 0))
        if now - last < LOG_EVERY:
            self._logged[msg] = (last, suppressed + 1)
            return
        self._logged[msg] = (now, 0)
        log.info(msg, extra={**extra, "suppressed": suppressed})

    def _flush(self) -> list[ProxyEffect]:
        out, self._out = self._out, []
        return out


_PHRASES: Final = {
    100: "Trying",
    200: "OK",
    404: "Not Found",
    408: "Request Timeout",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    487: "Request Terminated",
    503: "Service Unavailable",
}


def _pending(deadline: float, obj: ServerSlot | ClientSlot | Context) -> bool:
    """A heap entry still to run: its object is armed for it. A context with no deadline left
    is finished (its entry would do nothing when due): it is disarmed here."""
    if obj.armed != deadline:
        return False
    if isinstance(obj, Context) and obj.deadline is None:
        obj.armed = None
        return False
    return True


def ack_factory(data: bytes) -> Callable[[object], bytes]:
    """The hop-by-hop ACK builder for one forwarded INVITE (parsed only if a non-2xx comes back)."""

    def make(resp: object) -> bytes:
        sent = parse_datagram(data)
        assert isinstance(sent, Request) and isinstance(resp, Response)
        return build.ack_for(sent, resp)

    return make
