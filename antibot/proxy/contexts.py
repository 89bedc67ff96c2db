"""Per-transaction state the proxy core keeps: transaction slots and response contexts (RFC 3261 §16)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..detect.verdict import Verdict
from ..sip.message import Request
from ..transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
)
from .effects import Addr
from .upstreams import Upstream

ClientTxn = ClientInviteTransaction | ClientNonInviteTransaction
ServerTxn = ServerInviteTransaction | ServerNonInviteTransaction


@dataclass(eq=False, slots=True)
class ServerSlot:
    """A server transaction and where its responses go."""

    key: tuple[str, ...]
    txn: ServerTxn
    dest: Addr
    ctx: Context | None = None
    armed: float | None = None
    #: The request's top Via with received/rport filled in, for our own responses (RFC 3581).
    top_via: str | None = None


@dataclass(eq=False, slots=True)
class ClientSlot:
    """A client transaction, its next hop, and the context that owns it."""

    key: tuple[str, str]
    txn: ClientTxn
    dest: Addr
    ctx: Context
    request: bytes
    upstream: Upstream | None = None
    armed: float | None = None
    got_response: bool = False


@dataclass(eq=False, slots=True)
class Context:
    """The response context of one proxied request (§16.7), or of one health probe.

    ``state``: ``deciding`` (waiting for the verdict), ``proceeding``, ``done``.
    ``deadline`` is the context's own timer: the verdict timeout, the failover timeout of
    the current attempt, Timer C (§16.6 step 11) once a provisional arrived, or the probe
    timeout.
    """

    request: Request | None
    source: Addr
    server: ServerSlot | None
    targets: list[tuple[Addr, Upstream | None]] = field(default_factory=list)
    attempt: int = 0
    client: ClientSlot | None = None
    state: str = "proceeding"
    provisional: bool = False
    cancelled: bool = False
    cancel_sent: bool = False
    record_route: bool = False
    path: bool = False
    pop_routes: int = 0
    strip: bool = False
    uri: str | None = None
    verdict: Verdict | None = None
    ticket: int = 0
    deadline: float | None = None
    armed: float | None = None
    probe: Upstream | None = None
    decided_at: float = 0.0
