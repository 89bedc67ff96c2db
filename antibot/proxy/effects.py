"""Addresses and the effects the proxy core asks its transport adapter to carry out."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sip.message import Request


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """What the TLS handshake of an accepted connection said (RFC 8446; RFC 6066 §3 for SNI):
    the protocol ``version`` (``TLSv1.3``), the ``cipher`` suite's name, the server name the
    client asked for (``sni``, "" when it sent none) and whether it presented a certificate."""

    version: str = ""
    cipher: str = ""
    sni: str = ""
    client_cert: bool = False


# Explicit __init__s (init=False): mypyc compiles them; a dataclass's generated one stays interpreted
# and ran several times per message.
@dataclass(init=False, unsafe_hash=True)
class Addr:
    """A transport address: ``transport`` is ``udp``, ``tcp``, ``tls``, ``ws`` or ``wss``; IPv6 hosts unbracketed.

    ``tls``: on the source of a message received over TLS (``tls``, ``wss``), what its
    connection's handshake said; not part of the address (equality and hash ignore it)."""

    transport: str
    host: str
    port: int
    tls: TlsFacts | None = field(default=None, compare=False)

    def __init__(self, transport: str, host: str, port: int, tls: TlsFacts | None = None) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.tls = tls

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


@dataclass(init=False, unsafe_hash=True)
class Transmit:
    """Send ``data`` to ``dest`` (for TCP: on the connection to that remote address, opened if needed)."""

    data: bytes
    dest: Addr

    def __init__(self, data: bytes, dest: Addr) -> None:
        self.data = data
        self.dest = dest


@dataclass(init=False, unsafe_hash=True)
class NeedVerdict:
    """A request waits for the decision hook; answer with ``ProxyCore.apply_verdict(ticket, ...)``
    (the transport does so at once: the hook is synchronous, so the request has no timer meanwhile)."""

    ticket: int
    request: Request
    source: Addr

    def __init__(self, ticket: int, request: Request, source: Addr) -> None:
        self.ticket = ticket
        self.request = request
        self.source = source


@dataclass(init=False, unsafe_hash=True)
class CallOutcome:
    """How a decided call from outside went, for detection's failure and short-call counters.

    ``status`` is the final response to the INVITE (0: no answer at all) and ``at`` the core's
    ``now`` when it happened. A failed call is reported once (``ended``). An answered call (2xx)
    is reported twice: when answered (``ended`` False), and when a BYE relayed through us ends
    it (``ended``, status 200); the consumer times the call from the two ``at``.
    """

    call_ref: str
    source: Addr
    status: int
    at: float
    ended: bool

    def __init__(self, call_ref: str, source: Addr, status: int, at: float, ended: bool = True) -> None:
        self.call_ref = call_ref
        self.source = source
        self.status = status
        self.at = at
        self.ended = ended


ProxyEffect = Transmit | NeedVerdict | CallOutcome
