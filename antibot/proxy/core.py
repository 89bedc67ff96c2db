"""The transaction-stateful proxy core (RFC 3261 §16), sans-IO.

The transport adapter feeds it datagrams or framed stream messages with the source address
and ``now``; every call returns the effects to carry out (:class:`Transmit`,
:class:`NeedVerdict`). Timers are driven by ``handle_timer(now)``/``get_timer()`` as in
aioquic. No sockets, no clock, no asyncio here.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
from typing import Final

from ..sip import build
from ..sip.errors import SipError
from ..sip.message import Request, Response
from ..sip.parser import parse_datagram
from ..sip.validate import check_forwardable
from ..transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
)
from . import routing, table
from .config import CoreConfig
from .contexts import ClientSlot, Context, ServerSlot
from .decision import ACTION_VALUES, Action, Verdict
from .effects import Addr, NeedVerdict, ProxyEffect
from .relay import Relay
from .siblings import ended_call, unwrap, wrap
from .targets import RelayRefused, RouteInfo, request_targets
from .upstreams import Upstream, UpstreamPool

log = logging.getLogger("antibot.proxy")

ALLOW: Final = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, REFER, NOTIFY, PRACK, MESSAGE, SUBSCRIBE"
_DIALOG_CREATING: Final = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})
_VERDICT_COUNTERS: Final = {action: f"verdict_{value}" for action, value in ACTION_VALUES.items()}


class ProxyCore(Relay):
    """Routes requests and responses between callers and the upstream PBX targets."""

    def __init__(self, me: routing.LocalIdentity, pool: UpstreamPool, config: CoreConfig | None = None) -> None:
        super().__init__(me, pool, config or CoreConfig())
        self.accepted_max = self.config.max_transactions
        self.draining = False
        #: Client transaction ids for branches (random start: a restart does not repeat them).
        self._tids = itertools.count(secrets.randbits(40))
        self._tickets = itertools.count(1)

    # ------------------------------------------------------------------ public API
    def receive_datagram(self, data: bytes, source: Addr, now: float) -> list[ProxyEffect]:
        """Parse one datagram (RFC 3261 §18.3) and handle it; malformed input never raises."""
        if not data.strip(b"\r\n"):
            return []  # RFC 5626 §3.5.1 keepalive
        if self.config.siblings and source in self.config.siblings:
            return self._relayed(data, now)
        try:
            msg = parse_datagram(data)
        except SipError as exc:
            self.reject_malformed(exc, source, now)
            return self._flush()
        return self.receive_message(msg, source, now)

    def receive_message(self, msg: Request | Response, source: Addr, now: float) -> list[ProxyEffect]:
        try:
            if isinstance(msg, Response):
                self._on_response(msg, source, now)
            else:
                self._on_request(msg, source, now)
        except SipError as exc:
            self._count("relay_refused" if isinstance(exc, RelayRefused) else "refused")
            self._log_limited("refused", now, reason=exc.reason, src=str(source))
            if isinstance(msg, Request) and exc.status is not None and msg.method != "ACK":
                self._stateless_reply(msg, source, exc.status, exc.reason)
        return self._flush()

    def _relayed(self, frame: bytes, now: float) -> list[ProxyEffect]:
        """What another worker of this node handed over (:mod:`.siblings`): a CANCEL, handled if
        we hold its INVITE; a request of a dialog whose remote target only we know; the end of
        a call we answered. Anything else is ignored."""
        call_id = ended_call(frame)
        if call_id is not None:
            if call_id in self.dialogs.calls:
                self._count("ends_from_siblings")
                ended = self.dialogs.ended(call_id, now)
                if ended is not None:
                    self._out.append(ended)
            return self._flush()
        inner = unwrap(frame)
        if inner is None:
            return []
        data, source, left = inner
        left = min(left, len(self.config.siblings))  # never more rounds than there are workers
        try:
            msg = parse_datagram(data)
        except SipError:
            return []
        if not isinstance(msg, Request):
            return []
        if msg.method in ("CANCEL", "ACK") and self._server_key(msg, "INVITE") in self.servers:
            self._count("cancels_from_siblings" if msg.method == "CANCEL" else "acks_from_siblings")
            return self.receive_message(msg, source, now)
        if msg.method != "CANCEL" and msg.to_tag is not None and self.dialogs.remote_target(msg, source) is not None:
            self._count("dialogs_from_siblings")
            return self.receive_message(msg, source, now)
        if left > 1:  # on round the ring: the next worker may hold it
            nxt = self._ring_next(source)
            if nxt is not None:
                self._emit(wrap(data, source, left - 1), nxt)
                return self._flush()
        if left == 1 and msg.method != "ACK":  # the last asked, and none holds it: answer as one process would
            self._count("unknown_from_siblings")
            self.last_asked = True
            try:
                return self.receive_message(msg, source, now)
            finally:
                self.last_asked = False
        return []

    def reject_malformed(self, exc: SipError, source: Addr, now: float) -> None:
        """A request that failed to parse gets a stateless error if a Via routes it, else nothing."""
        self._count("malformed")
        self._log_limited("malformed", now, reason=exc.reason, src=str(source), code=exc.code)
        if exc.status is None or not any(h.key == "via" for h in exc.headers):
            return
        self._emit(build.response(exc.headers, exc.status, exc.reason), source)

    def apply_verdict(self, ticket: int, verdict: Verdict, now: float) -> list[ProxyEffect]:
        """Act on the decision hook's verdict for a new INVITE (relay, suspect, reject or drop)."""
        ctx = self.pending.pop(ticket, None)
        if ctx is not None and ctx.state == "deciding":
            self._decided(ctx, verdict, now)
        return self._flush()

    def handle_timer(self, now: float) -> list[ProxyEffect]:
        while self._heap and self._heap[0][0] <= now:
            deadline, _, obj = heapq.heappop(self._heap)
            if obj.armed != deadline:
                continue  # stale entry: rescheduled or finished
            obj.armed = None
            if isinstance(obj, ServerSlot):
                self._run_server(obj, obj.txn.handle_timer(now), now)
            elif isinstance(obj, ClientSlot):
                self._run_client(obj, obj.txn.handle_timer(now), now)
            elif isinstance(obj, Context):
                self._context_timer(obj, now)
        for target in self.pool.due_probes(now):
            self._probe(target, now)
        return self._flush()

    def get_timer(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].armed != heap[0][0]:
            heapq.heappop(heap)
        at = heap[0][0] if heap else None
        probe = self.pool.next_probe_time()
        if probe is not None and (at is None or probe < at):
            return probe
        return at

    @property
    def idle(self) -> bool:
        """No request waiting for a final response (graceful shutdown waits for this)."""
        if self.pending:
            return False
        return all(slot.txn.state not in ("proceeding", "trying") for slot in self.servers.values())

    # ------------------------------------------------------------------ requests
    def _on_request(self, req: Request, source: Addr, now: float) -> None:
        self._count("requests")
        top = req.top_via
        key = self._server_key(req)
        slot = self.servers.get(key)
        if slot is not None:
            # RFC 3261 §17.2.3 match: a retransmission, or the ACK for our non-2xx final.
            self._count("retransmissions" if req.method != "ACK" else "acks_absorbed")
            if isinstance(slot.txn, ServerInviteTransaction):
                self._run_server(slot, slot.txn.receive_request(req.method == "ACK", req, now), now)
            else:
                self._run_server(slot, slot.txn.receive_request(req, now), now)
            return
        if req.method == "INVITE" and self.accepted and self._absorbed_after_2xx(key, now):
            self._count("retransmissions_after_2xx")  # its 2xx is on the way: not a new call
            return
        if req.method != "ACK":
            # Every Via, From/To/Contact, routes: what the next hop and the detector read (a 400).
            check_forwardable(req)
        if req.method == "CANCEL":
            self._on_cancel(req, source, now)
            return
        if req.method == "ACK":
            self._forward_ack(req, source)
            return
        from_upstream = self.pool.find(source) is not None
        flood = self.config.flood
        if (
            flood is not None
            and req.method in ("REGISTER", "OPTIONS")
            and not from_upstream
            and not flood.allow(source.host, now)
        ):
            self._count("flood_limited")
            if self.config.flood_action == "503":
                extra = [("Retry-After", str(flood.retry_after()))]
                self._stateless_reply(req, source, 503, "Service Unavailable", extra)
            return
        dest = routing.response_dest(top, source)
        if self.draining and req.method == "INVITE" and req.to_tag is None:
            self._stateless_reply(
                req, source, 503, "Service Unavailable", [("Retry-After", str(self.config.retry_after))]
            )
            return
        # §16.3 request validation; §16.4 route information pre-processing.
        info = RouteInfo(self.me, req)
        self.dialogs.retarget(info, req, source)  # a caller's UA that ignored our Record-Route
        if (
            info.to_me
            and req.to_tag is not None
            and self.config.relay_dialogs
            and self.config.siblings
            and source.transport == "udp"
            and not from_upstream
            and not self.last_asked
        ):
            self._to_siblings(req, source, "dialogs_to_siblings", ring=True)  # its dialog may be another worker's
            return
        if req.method == "OPTIONS" and info.to_me and req.to_tag is None and routing.no_user(info.uri):
            self._stateless_reply(
                req, source, 200, "OK", [("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "path")]
            )
            return
        if req.max_forwards == 0:
            raise SipError("Too Many Hops", 483)
        if routing.is_loop(req, self.me):
            raise SipError("Loop Detected", 482)
        proxy_require = req.values("proxy-require")
        if proxy_require:
            self._stateless_reply(req, source, 420, "Bad Extension", [("Unsupported", ", ".join(proxy_require))])
            return
        targets, decide = request_targets(self.me, self.pool, req, info, source, now, from_upstream)
        uri = None if info.uri == req.uri else info.uri
        ctx = Context(req, source, None, pop_routes=info.pop, strip=not from_upstream, uri=uri)
        ctx.targets = targets
        ctx.path = req.method == "REGISTER" and decide and req.to_tag is None
        if len(self.servers) >= self.config.max_transactions or len(self.clients) >= self.config.max_transactions:
            self._count("overload")
            raise SipError("Service Unavailable (overloaded)", 503)
        if req.method == "BYE":  # only a BYE that is relayed ends an answered call
            if req.call_id in self.dialogs.calls:
                ended = self.dialogs.ended(req.call_id, now)
                if ended is not None:
                    self._out.append(ended)
            elif self.config.siblings:
                self._tell_siblings_ended(req.call_id)
        ctx.record_route = req.method in _DIALOG_CREATING and req.to_tag is None
        slot = self._new_server(key, req, dest, source)
        slot.ctx = ctx
        ctx.server = slot
        if decide:
            ctx.state = "deciding"
            ctx.ticket = next(self._tickets)
            self.pending[ctx.ticket] = ctx
            self._out.append(NeedVerdict(ctx.ticket, req, source))
            return
        if req.method == "INVITE":
            self._respond(slot, 100, now, req=req)
        self._next_attempt(ctx, now)

    def _decided(self, ctx: Context, verdict: Verdict, now: float) -> None:
        assert ctx.server is not None and ctx.request is not None
        ctx.verdict = verdict
        ctx.decided_at = now
        self._count(_VERDICT_COUNTERS[verdict.action])
        if verdict.stateless and verdict.action in (Action.REJECT, Action.DROP):
            # A deny list or deny rule: answered once (or not at all) and forgotten, never
            # retransmitted (§16.7 lets a proxy answer statelessly): no amplification towards
            # a spoofed source, and no state kept for a scanner storm. A retransmission is
            # decided again and gets the same single answer.
            ctx.state = "done"
            ctx.deadline = None
            if verdict.action is Action.REJECT:
                self._count("rejected_stateless")
                reason = [("Reason", verdict.reason_header())]
                self._stateless_reply(ctx.request, ctx.source, verdict.status, verdict.phrase, reason)
            self._forget_server(ctx.server)
            ctx.request = None
        elif verdict.action is Action.REJECT:
            ctx.state = "done"
            ctx.deadline = None
            self._respond(
                ctx.server,
                verdict.status,
                now,
                req=ctx.request,
                phrase=verdict.phrase,
                extra=[("Reason", verdict.reason_header())],
            )
            ctx.request = None  # the transaction keeps the response to retransmit; the request is done
        elif verdict.action is Action.DROP:
            # Silent: absorb retransmissions for Timer H, answer nothing (scanners learn nothing).
            ctx.state = "dropped"
            ctx.deadline = now + 64 * self.config.timers.t1
            self._arm(ctx)
        else:
            ctx.state = "proceeding"
            if ctx.request.method == "INVITE":
                self._respond(ctx.server, 100, now, req=ctx.request)
            self._next_attempt(ctx, now)

    def _next_attempt(self, ctx: Context, now: float) -> None:
        """Forward to the next target (serial failover inside one response context, §16.6-16.7)."""
        req = ctx.request
        assert req is not None and ctx.server is not None
        if ctx.attempt == 0 and ctx.targets and ctx.targets[0][1] is not None and self.pool.all_dead(now):
            self._count("upstream_fail_fast")  # every target down by probe and by calls: 503 now
            ctx.targets = []
        while ctx.targets:
            dest, upstream = ctx.targets.pop(0)
            if upstream is not None and not self.pool.usable(upstream, now):
                if not self.pool.worth_trying(upstream, [u for _, u in ctx.targets if u is not None], now):
                    continue
                self._count("upstream_panic")  # marked down, but nothing better is left: try it
            ctx.attempt += 1
            branch = routing.stateful_branch(req, hex(next(self._tids))[2:])
            data = routing.forwarded(self.me, ctx, req, dest, branch)
            reliable = dest.transport != "udp"
            txn: ClientInviteTransaction | ClientNonInviteTransaction
            if req.method == "INVITE":
                txn = ClientInviteTransaction(
                    data, reliable=reliable, config=self.config.timers, ack_factory=table.ack_factory(data)
                )
            else:
                txn = ClientNonInviteTransaction(data, reliable=reliable, config=self.config.timers)
            slot = ClientSlot((branch, req.method), txn, dest, ctx, data, upstream)
            self.clients[slot.key] = slot
            ctx.client = slot
            ctx.provisional = False
            if req.method == "INVITE":
                ctx.deadline = now + self.config.failover_timeout
                self._arm(ctx)
            self._run_client(slot, txn.start(now), now)
            return
        ctx.client = None
        ctx.state = "done"
        ctx.deadline = None
        if ctx.cancelled:
            self._respond(ctx.server, 487, now, req=req)
            self._note_outcome(ctx, 487, now)
        else:
            self._respond(ctx.server, 503, now, req=req, extra=[("Retry-After", str(self.config.retry_after))])
            self._note_outcome(ctx, 503, now)

    def _on_client_response(self, slot: ClientSlot, resp: Response, now: float) -> None:
        ctx = slot.ctx
        if ctx.probe is not None:
            self._probe_result(ctx, resp.status != 503, now)
            return
        status = resp.status
        if slot.upstream is not None and status != 503:
            self.pool.heard(slot.upstream, now)  # alive, whatever its probes say
        if ctx.server is None or ctx.request is None:
            if ctx.server is not None and 200 <= status < 300:
                self._forward_response_stateless(resp, ctx.source)  # late 2xx: always forwarded
            return  # finished context, or a response to our CANCEL
        if status < 200:
            ctx.provisional = True
            if ctx.request.method == "INVITE" and not ctx.cancel_sent:
                ctx.deadline = now + self.config.timer_c
                self._arm(ctx)
            if ctx.cancelled:
                self._send_cancel(ctx, now)
            if status == 100:
                return  # hop-by-hop: we already sent our own 100 (§16.7 step 5)
        elif status == 503 and slot.upstream is not None and not ctx.cancelled:
            # Target overloaded: mark it down and fail over (§16.7 step 6 keeps 503 away from callers).
            self._target_failed(slot, now, "503")
            return
        else:
            ctx.state = "done"
            ctx.deadline = None
            if slot.upstream is not None:
                self.pool.mark(slot.upstream, True)
        sent = self._respond_raw(ctx.server, status, build.forward_response(resp), now)
        if not sent and 200 <= status < 300:
            self._forward_response_stateless(resp, ctx.source)  # late 2xx: always forwarded
        if status >= 200:
            self._note_outcome(ctx, status, now, resp)
            # The final answer is out: keep only what absorbing retransmissions needs.
            ctx.request = None
            ctx.client = None
            ctx.targets = []
            slot.request = b""  # only a CANCEL needed it (Timer D keeps the slot 32 s on UDP)

    def _note_outcome(self, ctx: Context, status: int, now: float, resp: Response | None = None) -> None:
        outcome = self.dialogs.final(self.me, ctx, status, now, resp)
        if outcome is not None:
            self._out.append(outcome)

    def _target_failed(self, slot: ClientSlot, now: float, why: str) -> None:
        ctx = slot.ctx
        self._count("failover")
        change = self.pool.mark_failed(slot.upstream, now, why) if slot.upstream is not None else None
        if change == "down":
            log.warning("upstream down", extra={"upstream": str(slot.upstream), "why": why})
        elif change == "kept":
            self._count("upstream_kept_last")  # a timeout never takes the last usable target down
        if self.clients.get(slot.key) is slot and slot.txn.state != "completed":
            del self.clients[slot.key]
        self._next_attempt(ctx, now)

    def _client_timed_out(self, slot: ClientSlot, now: float) -> None:
        """A client transaction timed out (Timer B/F): probe failed, fail over, or 408."""
        ctx = slot.ctx
        if ctx.probe is not None:
            self._probe_result(ctx, False, now)
        elif ctx.server is not None and ctx.client is slot and ctx.state == "proceeding":
            if slot.upstream is not None and not ctx.cancelled:
                self._target_failed(slot, now, "timeout")
            else:
                ctx.state = "done"
                self._respond(ctx.server, 408, now, req=ctx.request)
                self._note_outcome(ctx, 408, now)

    # ------------------------------------------------------------------ probes (OPTIONS health checks)
    def _probe(self, target: Upstream, now: float) -> None:
        n = next(self._seq)
        branch = f"{routing.BRANCH_PREFIX}probe.{n}"
        data = self.me.probe_request(target.addr, branch, n)
        ctx = Context(None, target.addr, None, probe=target, deadline=now + self.config.probe_timeout)
        txn = ClientNonInviteTransaction(data, reliable=target.addr.transport != "udp", config=self.config.timers)
        slot = ClientSlot((branch, "OPTIONS"), txn, target.addr, ctx, data, target)
        ctx.client = slot
        self.clients[slot.key] = slot
        self._arm(ctx)
        self._run_client(slot, txn.start(now), now)

    def _probe_result(self, ctx: Context, up: bool, now: float) -> None:
        target = ctx.probe
        assert target is not None
        if ctx.client is not None:
            self.clients.pop(ctx.client.key, None)
            ctx.client.armed = None
            ctx.client = None  # no context <-> slot cycle left for the collector
        ctx.deadline = None
        ctx.armed = None
        if self.pool.probe_done(target, up, now):
            level = logging.INFO if up else logging.WARNING  # back up is news, not a problem
            log.log(level, "upstream %s", "up" if up else "down", extra={"upstream": str(target)})

    # ------------------------------------------------------------------ timers
    def _context_timer(self, ctx: Context, now: float) -> None:
        if ctx.deadline is None or ctx.deadline > now:
            self._arm(ctx)
            return
        ctx.deadline = None
        if ctx.probe is not None:
            self._probe_result(ctx, False, now)
        elif ctx.state == "dropped":
            if ctx.server is not None:
                self._forget_server(ctx.server)
        elif ctx.client is not None and ctx.state == "proceeding":
            if ctx.cancel_sent:
                # §9.1: no final response 64*T1 after our CANCEL: the INVITE is given up.
                status = 487 if ctx.cancelled else 408
                self.clients.pop(ctx.client.key, None)
                self._respond(ctx.server, status, now, req=ctx.request)  # type: ignore[arg-type]
                self._note_outcome(ctx, status, now)
                ctx.state = "done"
            elif ctx.provisional:
                self._send_cancel(ctx, now)  # Timer C: §16.8
            elif ctx.cancelled:
                self._respond(ctx.server, 487, now, req=ctx.request)  # type: ignore[arg-type]
                self._note_outcome(ctx, 487, now)
                self.clients.pop(ctx.client.key, None)
                ctx.state = "done"
            else:
                self._target_failed(ctx.client, now, "timeout")
