"""Where a request goes, and whether the decision hook sees it first (RFC 3261 §16.4-16.5, §16.12).

The proxy stands in front of its upstreams (the PBX), so it is never an open relay:

- requests from an upstream go wherever their Route or Request-URI says (the PBX is trusted);
- out-of-dialog requests from outside go only to the upstreams, and are always decided;
- in-dialog requests (a To-tag) from outside go only to an upstream's host; those that carry
  the dialog token of a Record-Route we placed (:meth:`LocalIdentity.dialog_token`) are
  relayed as they are, the others (a forged To-tag) are decided like a new request. With a
  valid token they may also come from an upstream's host towards the caller (the PBX on a
  new TCP connection). Anything else is refused with 403.

An in-dialog request from the caller that names only this proxy (its Request-URI is ours and
no Route is left: a strict-routing or careless UA that ignored the Record-Route) goes to its
dialog's remote target while :class:`KnownDialogs` remembers the dialog, and is refused with
404 otherwise.
"""

from __future__ import annotations

from ..sip.address import parse_name_addr
from ..sip.errors import SipError
from ..sip.message import Request, Response
from ..sip.uri import parse_uri
from . import routing
from .contexts import Context
from .effects import Addr, CallOutcome
from .routing import LocalIdentity
from .upstreams import Upstream, UpstreamPool

Targets = list[tuple[Addr, Upstream | None]]


class RelayRefused(SipError):
    """The request names a next hop that is neither an upstream nor one of our dialogs: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, 403)  # not a class attribute: compiled, it would not override


class RouteInfo:
    """A request's route information after §16.4 pre-processing: the Request-URI to use
    (``uri``: restored from the last Route for a strict-routing previous hop; ``parsed``: it
    parsed, when known), whether it names us, and ``pop``: how many Route entries at the top
    are ours. The Route entries are the request's own (:attr:`Request.routes`), parsed once.
    ``flow``: the WebSocket connection named by the last of our entries, the one facing the next
    hop (RFC 5658 double Record-Route; RFC 7118 §5), else None."""

    __slots__ = ("uri", "parsed", "uri_is_me", "routes", "pop", "flow")

    def __init__(self, me: LocalIdentity, req: Request) -> None:
        uri = req.uri
        parsed = req.parsed_uri
        uri_is_me = me.uri_is_me(uri, parsed) if parsed is not None else False
        routes = req.routes
        if uri_is_me and routes and parsed is not None and parsed.user is None:
            # §16.4: a strict-routing previous hop put our Record-Route URI in the Request-URI.
            last = routes[-1]
            uri = last.uri
            parsed = last.sip_uri
            uri_is_me = me.uri_is_me(uri, parsed) if parsed is not None else False
        pop = 0
        while pop < len(routes) and me.route_is_me(routes[pop]):
            pop += 1
        self.uri = uri
        self.parsed = parsed
        self.uri_is_me = uri_is_me
        self.routes = routes
        self.pop = pop
        self.flow = routing.flow_target(routes[pop - 1]) if pop else None

    @property
    def to_me(self) -> bool:
        """Nothing left to route by: the request is for this proxy itself."""
        return self.pop == len(self.routes) and self.uri_is_me

    def to_dialog(self, remote_target: str) -> None:
        """Route by the dialog's remote target (the callee's Contact, §12.2.1.1) instead of
        our own Request-URI: the Request-URI is rewritten to it when forwarded."""
        self.uri = remote_target
        self.parsed = None
        self.uri_is_me = False

    def next_hop(self) -> Addr:
        """The WebSocket connection our Route entry names, else the next Route after ours, else
        the Request-URI (§16.5); 404 if that is us."""
        if self.flow is not None:
            return self.flow
        if self.pop < len(self.routes):
            route = self.routes[self.pop]
            return routing.uri_target(route.uri, route.parsed())
        if self.uri_is_me:
            raise SipError("Not Found (no Route, and the Request-URI is this proxy)", 404)
        return routing.uri_target(self.uri, self.parsed)

    def ours(self, me: LocalIdentity, call_id: str) -> bool:
        """Our Route entries carry this dialog's token: a dialog we record-routed."""
        return me.route_verifies(self.routes[: self.pop], call_id)


def request_targets(
    me: LocalIdentity, pool: UpstreamPool, req: Request, info: RouteInfo, source: Addr, now: float, from_upstream: bool
) -> tuple[Targets, bool]:
    """The targets to try in order, and whether the decision hook must see the request first
    (``from_upstream``: ``source`` is one of the pool's targets)."""
    if from_upstream:
        return [(info.next_hop(), None)], False
    if req.to_tag is not None:
        if info.to_me:
            raise SipError("Not Found (no dialog of this proxy: send in-dialog requests by the Route set)", 404)
        hop = info.next_hop()
        ours = info.ours(me, req.call_id)
        if pool.is_upstream_host(hop.host) or (ours and pool.is_upstream_host(source.host)):
            return [(hop, None)], not ours
        raise RelayRefused("Forbidden (not a dialog of this proxy)")
    if info.pop < len(info.routes):
        raise RelayRefused("Forbidden (Route beyond this proxy)")
    targets: Targets = [(t.addr, t) for t in pool.candidates(req.call_id, now)]
    if routing.is_sips(info.uri):
        # RFC 5630: a SIPS request travels over TLS on every hop, never silently downgraded.
        targets = [(addr, t) for addr, t in targets if addr.transport == "tls"]
        if not targets:  # the TLS upstreams are marked down: tried all the same
            targets = [(t.addr, t) for t in pool.targets if t.addr.transport == "tls"]
        if not targets:
            raise SipError("Unsupported URI Scheme (sips: needs a TLS upstream)", 416)
    return targets, True


def ack_target(
    me: LocalIdentity, pool: UpstreamPool, req: Request, source: Addr, dialogs: KnownDialogs
) -> tuple[Addr, int, str | None] | None:
    """Next hop of an ACK for a 2xx (§16.12, forwarded statelessly), how many Route entries to
    pop and the Request-URI to use (None: as received); None for an ACK to us that belongs to
    no dialog we know. :class:`RelayRefused` (never answered: an ACK) for one from outside to
    neither an upstream nor one of our dialogs."""
    info = RouteInfo(me, req)
    parsed = req.parsed_uri
    if info.pop == len(info.routes) and parsed is not None and me.uri_is_me(req.uri, parsed):
        remote = dialogs.remote_target(req, source)
        if remote is None:
            return None
        info.to_dialog(remote)
    hop = info.next_hop()
    if (
        pool.find(source) is not None
        or pool.is_upstream_host(hop.host)
        or (pool.is_upstream_host(source.host) and info.ours(me, req.call_id))
    ):
        return hop, info.pop, None if info.uri == req.uri else info.uri
    raise RelayRefused("Forbidden (not a dialog of this proxy)")


class KnownDialog:
    """An answered call from outside: its caller, the callee's Contact, its call ref."""

    __slots__ = ("caller", "from_tag", "remote_target", "call_ref")

    def __init__(self, caller: Addr, from_tag: str, remote_target: str | None, call_ref: str) -> None:
        self.caller = caller
        self.from_tag = from_tag
        self.remote_target = remote_target
        self.call_ref = call_ref


class KnownDialogs:
    """Calls from outside answered through this proxy, by Call-ID, until their BYE; beyond
    ``limit`` the oldest is forgotten (bounded memory). They give the remote target of a
    caller's request that names only us, and the call ref of a decided call ended by a BYE
    (:class:`CallOutcome`; the consumer of the outcomes times the call, not the core)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: dict[str, KnownDialog] = {}

    def final(
        self, me: LocalIdentity, ctx: Context, status: int, now: float, resp: Response | None
    ) -> CallOutcome | None:
        """The final ``status`` (``resp`` when received) of ``ctx``'s request: remember an INVITE
        from outside answered 2xx; the outcome of a decided call that was answered or failed."""
        req = ctx.request
        if req is None or req.method != "INVITE":
            return None
        call_ref = ctx.verdict.call_ref if ctx.verdict is not None else ""
        if 200 <= status < 300:
            if resp is not None and ctx.strip:  # strip: the INVITE came from outside
                if len(self.calls) >= self.limit:
                    self.calls.pop(next(iter(self.calls)))  # oldest first
                contact = _contact(me, resp)
                self.calls[req.call_id] = KnownDialog(ctx.source, req.from_tag or "", contact, call_ref)
                if call_ref:
                    return CallOutcome(call_ref, ctx.source, status, now, ended=False)
            return None
        return CallOutcome(call_ref, ctx.source, status, now) if call_ref else None

    def retarget(self, info: RouteInfo, req: Request, source: Addr) -> None:
        """An in-dialog request that names only us: route it by its dialog, if we know it."""
        if req.to_tag is not None and info.to_me:
            remote = self.remote_target(req, source)
            if remote is not None:
                info.to_dialog(remote)

    def remote_target(self, req: Request, source: Addr) -> str | None:
        """The callee's Contact for an in-dialog request from this dialog's caller (same host
        and From tag), else None."""
        known = self.calls.get(req.call_id)
        if known is None or known.caller.host != source.host or known.from_tag != (req.from_tag or ""):
            return None
        return known.remote_target

    def ended(self, call_id: str, now: float) -> CallOutcome | None:
        """A BYE of this dialog was relayed: forget it; the outcome of a decided call."""
        known = self.calls.pop(call_id, None)
        if known is None or not known.call_ref:
            return None
        return CallOutcome(known.call_ref, known.caller, 200, now)


def _contact(me: LocalIdentity, resp: Response) -> str | None:
    """The URI of a 2xx's first Contact (the callee's remote target), unless unusable or us."""
    values = resp.values("contact")
    if not values:
        return None
    try:
        uri = parse_name_addr(values[0], "Contact").uri
        parsed = parse_uri(uri)
        routing.uri_target(uri, parsed)
    except SipError:
        return None
    return None if me.uri_is_me(uri, parsed) else uri
