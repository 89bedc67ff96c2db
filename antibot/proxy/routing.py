"""Who we are and where requests and responses go (RFC 3261 §16.4-16.6, §18.2.2, RFC 3581)."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Final

from ..sip import build
from ..sip.errors import SipError
from ..sip.message import Request, Route
from ..sip.uri import SipUri, parse_uri
from ..sip.via import MAGIC_COOKIE, Via
from .contexts import Context
from .effects import Addr

#: Our branches: ``z9hG4bK-ab<loop hash>.<transaction hash>`` (RFC 3261 §16.6 step 8).
BRANCH_PREFIX: Final = MAGIC_COOKIE + "-ab"
#: The URI parameter of our Record-Route that carries the dialog token (see :meth:`LocalIdentity.dialog_token`).
TOKEN_PARAM: Final = "abt"
#: The URI parameter of our WebSocket-facing Record-Route and Path that names the connection
#: (``ws~HOST~PORT``, the client's end of it): see :func:`flow_param` and :func:`flow_target`.
FLOW_PARAM: Final = "abf"
#: Transports whose clients cannot be reached by a new connection (RFC 7118 §5: a browser's
#: Contact is a ``.invalid`` host): requests for them go back over the connection they opened.
FLOW_TRANSPORTS: Final = ("ws", "wss")


@dataclass(frozen=True, slots=True)
class Listener:
    """One local socket and the address we advertise for it in Via and Record-Route."""

    transport: str
    host: str
    port: int
    advertise: str
    #: A worker's own port (one of several processes sharing ``port``): the sent-by of the Vias it
    #: adds, so that responses come back to the process holding the transaction. 0: ``port``.
    via_port: int = 0

    @property
    def family(self) -> int:
        return 6 if ":" in self.host else 4

    def hostport(self) -> str:
        host = f"[{self.advertise}]" if ":" in self.advertise else self.advertise
        return f"{host}:{self.port}"

    def via_hostport(self) -> str:
        """The sent-by of our Vias (RFC 3261 §18.2.1): the worker's own port when it has one."""
        host = f"[{self.advertise}]" if ":" in self.advertise else self.advertise
        return f"{host}:{self.via_port or self.port}"


class LocalIdentity:
    """The addresses this proxy owns, to recognise our Route/Via entries and to build new ones."""

    def __init__(
        self,
        listeners: list[Listener],
        secret: bytes | None = None,
        sibling_ports: tuple[int, ...] = (),
        *,
        alias: bool = True,
    ) -> None:
        """``sibling_ports``: the own ports of every worker of this node (their Vias are ours too).
        ``alias``: our Vias on TLS hops carry ``alias`` (``[tls] alias``, RFC 5923)."""
        if not listeners:
            raise ValueError("no listen address")
        self.listeners = listeners
        self.alias = alias
        ports = {
            (lst.host, lst.advertise, p) for lst in listeners for p in (lst.port, lst.via_port, *sibling_ports) if p
        }
        self._mine = {(h.lower(), p) for host, adv, p in ports for h in (host, adv)}
        self._hosts = {h for h, _ in self._mine}
        #: Key of the dialog tokens; nodes that share dialogs share it (``[proxy] route_secret``).
        self.secret = hashlib.blake2s(secret if secret is not None else secrets.token_bytes(32)).digest()
        #: Probe Call-IDs start with this, so they never repeat across restarts or nodes.
        self.instance = secrets.token_hex(6)

    def is_me(self, host: str, port: int | None, transport: str = "udp") -> bool:
        default = 5061 if transport == "tls" else 5060
        return (host.lower(), port or default) in self._mine

    def is_my_host(self, host: str) -> bool:
        return host.lower() in self._hosts

    def uri_is_me(self, uri: str, parsed: SipUri | None = None) -> bool:
        """Does this SIP URI (``parsed``, when already parsed) name this proxy? False if unparsable."""
        if parsed is None:
            try:
                parsed = parse_uri(uri)
            except SipError:
                return False
        return self.is_me(parsed.host.host, parsed.host.port, parsed.transport)

    def probe_request(self, target: Addr, branch: str, n: int) -> bytes:
        """The OPTIONS health check (RFC 3261 §11) of an upstream target, sent from our listener."""
        lst = self.listener(target.transport, target.host)
        host = f"[{target.host}]" if ":" in target.host else target.host
        return (
            f"OPTIONS sip:{host}:{target.port} SIP/2.0\r\n"
            f"Via: {self.via(lst.transport, target.host, branch)}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:antibot@{lst.hostport()}>;tag=probe{n}\r\n"
            f"To: <sip:{host}:{target.port}>\r\nCall-ID: probe-{self.instance}-{n}@antibot\r\nCSeq: 1 OPTIONS\r\n"
            "User-Agent: antibot\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    def listener(self, transport: str, host: str) -> Listener:
        """The listener to send from towards ``host`` over ``transport`` (same family if possible)."""
        family = 6 if ":" in host else 4
        best: Listener | None = None
        for lst in self.listeners:
            if lst.transport == transport:
                if lst.family == family:
                    return lst
                best = best or lst
        if best is None:
            raise SipError(f"no {transport} listener", 503)
        return best

    def via(self, transport: str, host: str, branch: str) -> str:
        lst = self.listener(transport, host)
        return f"SIP/2.0/{transport.upper()} {lst.via_hostport()};branch={branch};rport{self._alias(transport)}"

    def _alias(self, transport: str) -> str:
        """RFC 5923: over TLS, our Via offers the connection for the peer's requests to us."""
        return ";alias" if self.alias and transport == "tls" else ""

    def record_route(
        self, transport: str, host: str, call_id: str | None = None, *, sips: bool = False, flow: Addr | None = None
    ) -> str:
        """Our Record-Route (RFC 3261 §16.6 step 4), with the dialog token of ``call_id``.

        ``sips``: the request is for a SIPS URI, so ours is one too (§16.6 step 4), on our TLS
        listener; otherwise a ``sip:`` URI naming the transport unless UDP (RFC 5658 §4).
        ``flow``: the WebSocket connection this entry faces, named in it (:func:`flow_param`)."""
        if sips:
            lst = self.listener("tls", host)
            scheme, suffix = "sips", ""
        else:
            lst = self.listener(transport, host)
            scheme, suffix = "sip", ("" if transport == "udp" else f";transport={transport}")
        token = f";{TOKEN_PARAM}={self.dialog_token(call_id)}" if call_id is not None else ""
        if flow is not None and flow.transport in FLOW_TRANSPORTS:
            token += f";{FLOW_PARAM}={flow_param(flow)}"
        return f"<{scheme}:{lst.hostport()}{suffix};lr{token}>"

    def dialog_token(self, call_id: str) -> str:
        """A MAC of the Call-ID under our secret: a Route that carries it is one we record-routed
        for this very dialog, so an in-dialog request cannot be forged by naming us in a Route."""
        mac = hashlib.blake2s(call_id.encode("utf-8", "surrogateescape"), key=self.secret, digest_size=10)
        return mac.hexdigest()

    def route_is_me(self, route: Route) -> bool:
        """Does this Route entry name us? False if it does not parse."""
        return self._route(route) is not None

    def route_verifies(self, routes: list[Route], call_id: str) -> bool:
        """Do our entries among ``routes`` carry this dialog's token (a Record-Route we placed)?"""
        expected = self.dialog_token(call_id)
        return any(self._route(r) == expected for r in routes)

    def _route(self, route: Route) -> str | None:
        """None if this Route entry does not name us, else its token ("" for none)."""
        uri = route.sip_uri
        if uri is None or not self.is_me(uri.host.host, uri.host.port, uri.transport):
            return None
        return uri.param(TOKEN_PARAM) or ""

    def via_is_mine(self, via: Via) -> bool:
        return self.is_me(via.sent_by.host, via.sent_by.port, via.transport.lower())


def flow_param(flow: Addr) -> str:
    """The value naming a WebSocket connection in our Route entries: ``ws~HOST~PORT``."""
    return f"{flow.transport}~{flow.host}~{flow.port}"


def flow_target(route: Route) -> Addr | None:
    """The WebSocket connection one of our Route entries names (None: none, or not readable)."""
    uri = route.sip_uri
    value = uri.param(FLOW_PARAM) if uri is not None else None
    if not value:
        return None
    parts = value.split("~")
    if len(parts) != 3 or parts[0] not in FLOW_TRANSPORTS or not parts[2].isdigit():
        return None
    try:
        ipaddress.ip_address(parts[1])
    except ValueError:
        return None
    return Addr(parts[0], parts[1], int(parts[2]))


def uri_target(uri_text: str, parsed: SipUri | None = None) -> Addr:
    """Next-hop address for a SIP URI (RFC 3263 without DNS: IP literals or names as given);
    ``parsed``: ``uri_text`` already parsed. A ``sips:`` URI is reached over TLS whatever its
    ``transport`` parameter says (RFC 5630: ``transport=tcp`` there means TLS over TCP)."""
    uri = parsed if parsed is not None else parse_uri(uri_text)
    host = uri.param("maddr") or uri.host.host
    transport = "tls" if uri.scheme == "sips" else uri.transport
    if transport not in ("udp", "tcp", "tls"):
        raise SipError(f"unsupported transport {transport!r}", 503)
    return Addr(transport, host.strip("[]"), uri.host.port or (5061 if transport == "tls" else 5060))


def is_sips(uri: str) -> bool:
    """Does this URI have the ``sips`` scheme (RFC 3261 §19.1; every hop over TLS, RFC 5630)?"""
    return uri[:5].lower() == "sips:"


def loop_hash(req: Request) -> str:
    """Hash of the fields a loop repeats unchanged (RFC 3261 §16.6 step 8, §16.3 step 4).

    Request-URI, From/To (with their tags), Call-ID, CSeq, Proxy-Require and Route, taken as
    received: a looping request repeats them byte for byte. Computed once per request.
    """
    cached = req.loop_key
    if cached is None:
        parts = [req.uri, req.call_id, str(req.cseq)]
        parts.extend(h.value for h in req.headers if h.key in _LOOP_KEYS)
        cached = hashlib.blake2s("\x00".join(parts).encode("latin-1"), digest_size=5).hexdigest()
        req.loop_key = cached
    return cached


_LOOP_KEYS: Final = frozenset({"from", "to", "proxy-require", "route"})


def stateful_branch(req: Request, tid: str) -> str:
    """Branch of a client transaction the proxy keeps state for (§16.6 step 8).

    The loop hash first (§16.3 step 4 reads it back), then ``tid``, unique per transaction
    (the core numbers them from a random start, so a restart does not reuse recent ones).
    """
    return f"{BRANCH_PREFIX}{loop_hash(req)}.{tid}"


def branch_for(req: Request) -> str:
    """Deterministic branch of a request forwarded statelessly: a retransmitted ACK for a 2xx
    (§16.11) gets the same branch each time. Stateful requests use :func:`stateful_branch`."""
    top = req.top_via
    seed = f"{top.branch or ''}|{top.sent_by.render()}|{req.call_id}|{req.cseq}|{req.method}"
    tid = hashlib.blake2s(seed.encode("latin-1"), digest_size=6).hexdigest()
    return f"{BRANCH_PREFIX}{loop_hash(req)}.{tid}"


def is_loop(req: Request, me: LocalIdentity) -> bool:
    """RFC 3261 §16.3 step 4: one of our Vias carries this very request's loop hash."""
    if not any(BRANCH_PREFIX in h.value for h in req.headers if h.key == "via"):
        return False  # none of our branches: no need to parse every Via
    current = loop_hash(req)
    for via in req.vias:
        branch = via.branch or ""
        mine = branch.startswith(BRANCH_PREFIX) and me.via_is_mine(via)
        if mine and branch[len(BRANCH_PREFIX) : len(BRANCH_PREFIX) + 10] == current:
            return True
    return False


def response_dest(via: Via, source: Addr) -> Addr:
    """Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4).

    Stream: back on the connection it came from. Datagram: the source IP (``received``),
    and the source port when ``rport`` was asked for, else the sent-by port.
    """
    if source.transport != "udp" or via.param("rport") is not None:
        return source
    return Addr(source.transport, source.host, via.sent_by.port or 5060)


def fixed_top_via(via: Via, raw_value: str, source: Addr) -> str | None:
    """Top Via with ``received``/``rport`` filled in (RFC 3261 §18.2.1, RFC 3581 §4), or None if unchanged.

    A WebSocket client's Via always gets ``rport``: its sent-by is a ``.invalid`` host (RFC 7118
    §5), and a response forwarded statelessly finds the connection by ``received`` and ``rport``."""
    wants_rport = via.param("rport") is not None or source.transport in FLOW_TRANSPORTS
    sent_host = via.sent_by.host
    same_host = sent_host == source.host or _same_ip(sent_host, source.host)
    if same_host and not wants_rport:
        return None
    return _set_params(raw_value, str(source.port) if wants_rport else None, source.host)


def _set_params(value: str, rport: str | None, received: str) -> str:
    """Set ``rport`` (when asked for) and ``received`` in one pass: first occurrences are
    replaced, missing ones appended in that order."""
    pieces = value.split(";")
    need_rport = rport is not None
    need_received = True
    for i in range(1, len(pieces)):
        name = pieces[i].split("=", 1)[0].strip().lower()
        if need_rport and name == "rport":
            pieces[i] = f"rport={rport}"
            need_rport = False
        elif need_received and name == "received":
            pieces[i] = f"received={received}"
            need_received = False
    if need_rport:
        pieces.append(f"rport={rport}")
    if need_received:
        pieces.append(f"received={received}")
    return ";".join(pieces)


def _same_ip(a: str, b: str) -> bool:
    if a[:1].isalpha() and ":" not in a:
        return False  # a host name is never the source IP
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def is_broadcast(host: str) -> bool:
    """RFC 4475 §3.3.10: never forward a response towards a broadcast or multicast address."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_multicast or (ip.version == 4 and str(ip) == "255.255.255.255") or ip.is_unspecified


def forwarded(me: LocalIdentity, ctx: Context, req: Request, dest: Addr, branch: str) -> bytes:
    """``req`` as forwarded to ``dest`` in ``ctx`` (RFC 3261 §16.6): Record-Route (doubled
    across transports, RFC 5658) or Path on top, our Via, the verdict's headers."""
    top: list[tuple[str, str]] = []
    inbound = ctx.source.transport
    # A SIPS Request-URI: one sips: Record-Route (every hop is TLS, RFC 5630).
    sips = is_sips(ctx.uri or req.uri)
    # Towards or from a WebSocket client: its entry names the connection (RFC 7118 §5).
    flow = ctx.source if inbound in FLOW_TRANSPORTS else None
    if ctx.record_route:
        out = dest if dest.transport in FLOW_TRANSPORTS else None
        top.append(("Record-Route", me.record_route(dest.transport, dest.host, req.call_id, sips=sips, flow=out)))
        if inbound != dest.transport and not sips:
            top.append(("Record-Route", me.record_route(inbound, ctx.source.host, req.call_id, flow=flow)))
    if ctx.path:
        top.append(("Path", me.record_route(dest.transport, dest.host, sips=sips, flow=flow)))
    add: list[tuple[str, str]] = []
    if ctx.verdict is not None:
        add.extend(ctx.verdict.headers)
    # The server slot already holds the top Via with received/rport filled in.
    fixed = ctx.server.top_via if ctx.server is not None else None
    return build.forward_request(
        req,
        via=me.via(dest.transport, dest.host, branch),
        top=top,
        pop_routes=ctx.pop_routes,
        add=add,
        strip_antibot=ctx.strip,
        uri=ctx.uri,
        top_via=fixed,
    )


def no_user(uri: str) -> bool:
    """True for a SIP URI without a user part (a request for the proxy itself); False if unparsable."""
    try:
        return parse_uri(uri).user is None
    except SipError:
        return False
