"""Where a request goes, and whether the decision hook sees it first (RFC 3261 §16.4-16.5, §16.12).

The proxy stands in front of its upstreams (the PBX), so it is never an open relay:

- requests from an upstream go wherever their Route or Request-URI says (the PBX is trusted);
- out-of-dialog requests from outside go only to the upstreams, and are always decided;
- in-dialog requests (a To-tag) from outside go only to an upstream's host; those that carry
  the dialog token of a Record-Route we placed (:meth:`LocalIdentity.dialog_token`) are
  relayed as they are, the others (a forged To-tag) are decided like a new request. With a
  valid token they may also come from an upstream's host towards the caller (the PBX on a
  new TCP connection). Anything else is refused with 403.
"""

from __future__ import annotations

from ..sip.errors import SipError
from ..sip.message import Request
from . import routing
from .effects import Addr
from .routing import LocalIdentity
from .upstreams import Upstream, UpstreamPool

Targets = list[tuple[Addr, Upstream | None]]


class RelayRefused(SipError):
    """The request names a next hop that is neither an upstream nor one of our dialogs: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, 403)  # not a class attribute: compiled, it would not override


class RouteInfo:
    """A request's route information after §16.4 pre-processing: the Request-URI to use
    (``uri``: restored from the last Route for a strict-routing previous hop), whether it names
    us, and ``pop``: how many Route entries at the top are ours."""

    __slots__ = ("uri", "uri_is_me", "routes", "pop")

    def __init__(self, me: LocalIdentity, req: Request) -> None:
        uri = req.uri
        parsed = req.parsed_uri
        uri_is_me = me.uri_is_me(uri, parsed) if parsed is not None else False
        routes = req.values("route")
        if uri_is_me and routes and parsed is not None and parsed.user is None:
            # §16.4: a strict-routing previous hop put our Record-Route URI in the Request-URI.
            uri = routing.parse_name_addr_uri(routes[-1])
            uri_is_me = me.uri_is_me(uri)
        pop = 0
        while pop < len(routes) and me.route_is_me(routes[pop]):
            pop += 1
        self.uri = uri
        self.uri_is_me = uri_is_me
        self.routes = routes
        self.pop = pop

    @property
    def to_me(self) -> bool:
        """Nothing left to route by: the request is for this proxy itself."""
        return self.pop == len(self.routes) and self.uri_is_me

    def next_hop(self) -> Addr:
        """The next Route after ours, else the Request-URI (§16.5); 404 if that is us."""
        if self.pop < len(self.routes):
            return routing.uri_target(routing.parse_name_addr_uri(self.routes[self.pop]))
        if self.uri_is_me:
            raise SipError("Not Found", 404)
        return routing.uri_target(self.uri)

    def ours(self, me: LocalIdentity, call_id: str) -> bool:
        """Our Route entries carry this dialog's token: a dialog we record-routed."""
        return me.route_verifies(self.routes[: self.pop], call_id)


def request_targets(
    me: LocalIdentity, pool: UpstreamPool, req: Request, info: RouteInfo, source: Addr, now: float
) -> tuple[Targets, bool]:
    """The targets to try in order, and whether the decision hook must see the request first."""
    if pool.find(source) is not None:
        return [(info.next_hop(), None)], False
    if req.to_tag is not None:
        hop = info.next_hop()
        ours = info.ours(me, req.call_id)
        if pool.is_upstream_host(hop.host) or (ours and pool.is_upstream_host(source.host)):
            return [(hop, None)], not ours
        raise RelayRefused("Forbidden (not a dialog of this proxy)")
    if info.pop < len(info.routes):
        raise RelayRefused("Forbidden (Route beyond this proxy)")
    return [(t.addr, t) for t in pool.candidates(req.call_id, now)], True


def ack_target(me: LocalIdentity, pool: UpstreamPool, req: Request, source: Addr) -> tuple[Addr, int] | None:
    """Next hop of an ACK for a 2xx (§16.12, forwarded statelessly) and how many Route entries
    to pop; None for an ACK to us. :class:`RelayRefused` (never answered: an ACK) for one from
    outside to neither an upstream nor one of our dialogs."""
    info = RouteInfo(me, req)
    if info.pop == len(info.routes) and me.uri_is_me(req.uri):
        return None
    hop = info.next_hop()
    if (
        pool.find(source) is not None
        or pool.is_upstream_host(hop.host)
        or (pool.is_upstream_host(source.host) and info.ours(me, req.call_id))
    ):
        return hop, info.pop
    raise RelayRefused("Forbidden (not a dialog of this proxy)")
