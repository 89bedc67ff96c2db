"""What the proxy relays without a new decision, sans-IO: CANCEL (RFC 3261 §16.10), the ACK
for a 2xx (§16.11, §16.12) and responses, by their client transaction or statelessly by the
next Via (§16.7 step 9). :class:`.core.ProxyCore` builds on it."""

from __future__ import annotations

from ..sip import build
from ..sip.message import Request, Response
from ..sip.parser import parse_datagram
from ..transaction import ClientNonInviteTransaction
from . import routing
from .config import CoreConfig
from .contexts import ClientSlot, Context
from .effects import Addr
from .siblings import ended_notice, wrap
from .table import TransactionTable
from .targets import KnownDialogs, ack_target
from .upstreams import UpstreamPool


class Relay(TransactionTable):
    """The transaction table with who we are, the upstreams and the dialogs we know, and the
    relaying that needs no verdict."""

    def __init__(self, me: routing.LocalIdentity, pool: UpstreamPool, config: CoreConfig) -> None:
        super().__init__(config.timers)
        self.config = config
        self.me = me
        self.pool = pool
        #: INVITEs waiting for their verdict, by ticket.
        self.pending: dict[int, Context] = {}
        #: Calls from outside answered through us, until their BYE (durations, remote targets).
        self.dialogs = KnownDialogs(config.max_calls)
        #: Handling a request the other workers were asked about and none holds: answered here.
        self.last_asked = False

    def _on_cancel(self, req: Request, source: Addr, now: float) -> None:
        """RFC 3261 §16.10: answer the CANCEL with 200 and cancel the pending branches."""
        invite = self.servers.get(self._server_key(req, "INVITE"))
        if invite is None or invite.ctx is None:
            if self.config.siblings and source.transport == "udp" and not self.last_asked:
                # Another worker may hold the INVITE: it answers (§16.10); if none does, the
                # last one asked answers 481.
                self._to_siblings(req, source, "cancels_to_siblings", ring=True)
                return
            self._stateless_reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        ctx = invite.ctx
        if ctx.state == "dropped":
            return  # stay silent towards a dropped caller
        slot = self._new_server(self._server_key(req), req, routing.response_dest(req.top_via, source), source)
        self._respond(slot, 200, now, req=req)
        if ctx.state == "done":
            return  # the final response is already out: nothing left to cancel
        if ctx.state == "deciding":
            self.pending.pop(ctx.ticket, None)
            ctx.state = "done"
            ctx.deadline = None
            self._respond(invite, 487, now, req=ctx.request)
            return
        ctx.cancelled = True
        ctx.targets.clear()
        if ctx.provisional:
            self._send_cancel(ctx, now)

    def _send_cancel(self, ctx: Context, now: float) -> None:
        client = ctx.client
        if client is None or ctx.cancel_sent:
            return
        ctx.cancel_sent = True
        ctx.deadline = now + 64 * self.config.timers.t1  # then the INVITE is given up (§9.1)
        self._arm(ctx)
        data = build.cancel_for(parse_datagram(client.request))  # type: ignore[arg-type]
        branch = client.key[0]
        cctx = Context(None, client.dest, None)
        txn = ClientNonInviteTransaction(data, reliable=client.dest.transport != "udp", config=self.config.timers)
        slot = ClientSlot((branch, "CANCEL"), txn, client.dest, cctx, data)
        self.clients[slot.key] = slot
        self._run_client(slot, txn.start(now), now)

    def _forward_ack(self, req: Request, source: Addr) -> None:
        """ACK for a 2xx: its own transaction, forwarded statelessly by Route/R-URI (§16.11, §16.12)."""
        hop = ack_target(self.me, self.pool, req, source, self.dialogs)
        if hop is None:
            if self.config.relay_dialogs and self.config.siblings and source.transport == "udp" and req.to_tag:
                self._to_siblings(req, source, "dialogs_to_siblings")  # its dialog may be theirs
                return
            self._count("ack_dropped")
            return
        dest, pop, uri = hop
        branch = routing.branch_for(req)
        strip = self.pool.find(source) is None
        fixed = routing.fixed_top_via(req.top_via, req.top_via_text, source)
        data = build.forward_request(
            req,
            via=self.me.via(dest.transport, dest.host, branch),
            pop_routes=pop,
            strip_antibot=strip,
            uri=uri,
            top_via=fixed,
        )
        self._emit(data, dest)

    def _to_siblings(self, req: Request, source: Addr, counter: str, *, ring: bool = False) -> None:
        """Hand ``req`` to this node's other workers: the one that holds its state handles it as
        if it came from ``source`` (see :mod:`.siblings`). ``ring``: to the next worker, which
        passes it on; the last one asked answers if none holds it. Else to every sibling."""
        self._count(counter)
        nxt = self._ring_next(source) if ring else None
        if nxt is not None:
            self._emit(wrap(req.raw, source, sum(1 for s in self.config.siblings if s.host == nxt.host)), nxt)
            return
        frame = wrap(req.raw, source)
        for sibling in self.config.siblings:
            self._emit(frame, sibling)

    def _ring_next(self, source: Addr) -> Addr | None:
        """The next worker's own address, in the family of ``source`` if this node listens on it."""
        ring = self.config.ring_next
        v6 = ":" in source.host
        for nxt in ring:
            if (":" in nxt.host) == v6:
                return nxt
        return ring[0] if ring else None

    def _tell_siblings_ended(self, call_id: str) -> None:
        """A BYE of a call this worker does not know was relayed: the worker that relayed its
        2xx times it (its :class:`.CallOutcome`)."""
        self._count("ends_to_siblings")
        notice = ended_notice(call_id)
        for sibling in self.config.siblings:
            self._emit(notice, sibling)

    # ------------------------------------------------------------------ responses
    def _on_response(self, resp: Response, source: Addr, now: float) -> None:
        self._count("responses")
        top = resp.top_via
        if not self.me.via_is_mine(top):
            self._count("responses_not_ours")
            return
        slot = self.clients.get((top.branch or "", resp.cseq_method))
        if slot is not None:
            slot.got_response = True
            self._run_client(slot, slot.txn.receive_response(resp.status, resp, now), now)
            return
        if self.config.siblings and resp.raw:
            sibling = self._sibling_at(top.sent_by.port, source)
            if sibling is not None:  # answered to the address of another of our requests (§18.2.2 says the Via's)
                self._count("responses_to_siblings")
                self._emit(resp.raw, sibling)
                return
        if len(resp.vias) < 2:
            return  # a late answer to one of our own probes or CANCELs
        # No transaction: forward statelessly by the next Via (§16.7 step 9, 2xx retransmissions).
        self._forward_response_stateless(resp, source)

    def _sibling_at(self, port: int | None, source: Addr) -> Addr | None:
        """The sibling worker whose own UDP port is ``port`` (a response to its request that the
        peer sent to this worker: e.g. to where that dialog's first request came from), in the
        family of ``source``; None if ``port`` is no sibling's."""
        v6 = ":" in source.host
        for sibling in self.config.siblings:
            if sibling.port == port and (":" in sibling.host) == v6:
                return sibling
        return None

    def _forward_response_stateless(self, resp: Response, source: Addr) -> None:
        nxt = resp.vias[1]
        host, port = nxt.response_address()
        if routing.is_broadcast(host):
            self._count("broadcast_dropped")
            return
        transport = nxt.transport.lower()
        if transport not in ("udp", "tcp", "tls", "ws", "wss"):
            return
        self._emit(build.forward_response(resp), Addr(transport, host, port))
