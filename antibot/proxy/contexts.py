"""Per-transaction state the proxy core keeps: transaction slots and response contexts (RFC 3261 §16)."""

from __future__ import annotations

from ..sip.message import Request
from ..transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
)
from .decision import Verdict
from .effects import Addr
from .upstreams import Upstream

ClientTxn = ClientInviteTransaction | ClientNonInviteTransaction
ServerTxn = ServerInviteTransaction | ServerNonInviteTransaction


class ServerSlot:
    """A server transaction and where its responses go."""

    __slots__ = ("key", "txn", "dest", "ctx", "armed", "top_via")

    def __init__(self, key: tuple[str, ...], txn: ServerTxn, dest: Addr, *, top_via: str | None = None) -> None:
        self.key = key
        self.txn = txn
        self.dest = dest
        self.ctx: Context | None = None
        self.armed: float | None = None
        #: The request's top Via with received/rport filled in, for our own responses (RFC 3581).
        self.top_via = top_via


class ClientSlot:
    """A client transaction, its next hop, and the context that owns it."""

    __slots__ = ("key", "txn", "dest", "ctx", "request", "upstream", "armed", "got_response")

    def __init__(
        self,
        key: tuple[str, str],
        txn: ClientTxn,
        dest: Addr,
        ctx: Context,
        request: bytes,
        upstream: Upstream | None = None,
    ) -> None:
        self.key = key
        self.txn = txn
        self.dest = dest
        self.ctx = ctx
        self.request = request
        self.upstream = upstream
        self.armed: float | None = None
        self.got_response = False


class Context:
    """The response context of one proxied request (§16.7), or of one health probe.

    ``state``: ``deciding`` (waiting for the verdict), ``proceeding``, ``done``.
    ``deadline`` is the context's own timer: the failover timeout of the current attempt,
    Timer C (§16.6 step 11) once a provisional arrived, or the probe timeout. Plain classes
    with ``__slots__``: one of each per call, so cheap to create.
    """

    __slots__ = (
        "request", "source", "server", "targets", "attempt", "client", "state", "provisional",
        "cancelled", "cancel_sent", "record_route", "path", "pop_routes", "strip", "uri", "verdict",
        "ticket", "deadline", "armed", "probe", "decided_at",
    )  # fmt: skip

    def __init__(
        self,
        request: Request | None,
        source: Addr,
        server: ServerSlot | None,
        *,
        pop_routes: int = 0,
        strip: bool = False,
        uri: str | None = None,
        probe: Upstream | None = None,
        deadline: float | None = None,
    ) -> None:
        self.request = request
        self.source = source
        self.server = server
        self.targets: list[tuple[Addr, Upstream | None]] = []
        self.attempt = 0
        self.client: ClientSlot | None = None
        self.state = "proceeding"
        self.provisional = False
        self.cancelled = False
        self.cancel_sent = False
        self.record_route = False
        self.path = False
        self.pop_routes = pop_routes
        self.strip = strip
        self.uri = uri
        self.verdict: Verdict | None = None
        self.ticket = 0
        self.deadline = deadline
        self.armed: float | None = None
        self.probe = probe
        self.decided_at = 0.0
