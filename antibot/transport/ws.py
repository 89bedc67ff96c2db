"""SIP over WebSocket (RFC 7118): the opening handshake, one SIP message per WebSocket message.

A ``ws`` or ``wss`` listener accepts TCP connections like the TCP one (``wss``: TLS first, see
:mod:`.tls`), so the per-source and total caps of
:class:`~antibot.transport.tcp.ConnectionTable` apply before a byte is read. The WebSocket
framing and handshake are ``wsproto``'s (sans-IO); this module only decides:

- the upgrade is accepted only for the ``sip`` subprotocol (RFC 7118 §4.1; refused with 400
  otherwise), from an allowed ``Origin`` (403 otherwise: see :class:`WsSettings`), on the
  listener's path when it has one (404 otherwise), within ``handshake_timeout``;
- every text or binary message carries one SIP message (RFC 7118 §5.1), parsed like a
  datagram; one that does not parse gets a 400 when it can be routed, and the connection stays
  open (its framing is intact). A message larger than ``max_message_size`` closes the
  connection (close code 1009) as soon as that many bytes have arrived: memory stays bounded;
- a connection quiet for half of ``idle_timeout`` is pinged; one quiet for all of it is closed.

Requests towards a WebSocket client go back over its connection: the core names it in its
Record-Route (:func:`antibot.proxy.routing.flow_param`), and the table finds it by the
client's address. Nothing is ever connected towards a ``ws`` address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from ..sip.errors import SipError
from ..sip.parser import MAX_MESSAGE, parse_datagram
from .tcp import TcpConnection

if TYPE_CHECKING:
    from .tcp import ConnectionTable

#: The WebSocket subprotocol of SIP (RFC 7118 §4.1).
SUBPROTOCOL: Final = "sip"
#: Close codes (RFC 6455 §7.4.1).
GOING_AWAY: Final = 1001
TOO_BIG: Final = 1009


@dataclass(frozen=True, slots=True)
class WsSettings:
    """The ``[websocket]`` settings.

    ``origins``: the ``Origin`` values (``scheme://host[:port]``) whose pages may connect; a
    handshake with any other ``Origin`` is refused with 403. Empty (the default): no browser page
    may connect, only clients that send no ``Origin`` (not browsers); ``"*"``: any origin."""

    origins: tuple[str, ...] = ()
    max_message_size: int = MAX_MESSAGE
    handshake_timeout: float = 10.0
    idle_timeout: float = 300.0

    def origin_allowed(self, origin: str | None) -> bool:
        if origin is None:
            return True
        return "*" in self.origins or origin.lower().rstrip("/") in (o.lower().rstrip("/") for o in self.origins)


class WsConnection(TcpConnection):
    """One WebSocket connection carrying SIP; never awaits."""

    def __init__(self, table: ConnectionTable, kind: str, path: str | None = None) -> None:
        super().__init__(table, kind=kind)
        self.settings = table.ws or WsSettings()
        #: The request target the listener serves (None: any).
        self.path = path
        self.ws = WSConnection(ConnectionType.SERVER)
        #: The upgrade was accepted: SIP messages flow.
        self.open = False
        self.accepted_at = table.clock()
        self.parts: list[bytes] = []
        self.size = 0
        self.pinged = False

    def data_received(self, data: bytes) -> None:
        if self.phase is not None:
            super().data_received(data)  # TLS: held until the handshake is done
            return
        if self.closing is not None:
            return
        self.last_active = self.table.clock()
        self.pinged = False
        try:
            self.ws.receive_data(data)
        except RemoteProtocolError as exc:  # a request that is no WebSocket upgrade
            hint = exc.event_hint if isinstance(exc.event_hint, RejectConnection) else RejectConnection(status_code=400)
            self._reject(hint, "ws_refused_handshake", str(exc))
            return
        for event in self.ws.events():
            if not self._on_event(event):
                return

    def _on_event(self, event: Event) -> bool:
        """Handle one event; False once the connection is closing."""
        if isinstance(event, TextMessage | BytesMessage):
            return self._on_data(event.data.encode() if isinstance(event, TextMessage) else bytes(event.data), event)
        if isinstance(event, Request):
            return self._on_request(event)
        if isinstance(event, Ping):
            self._raw(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            if self.ws.state is ConnectionState.REMOTE_CLOSING:
                self._raw(self.ws.send(event.response()))
            elif self.ws.state is ConnectionState.OPEN:  # a frame that does not parse
                self.table.count("ws_bad_frame")
                self._raw(self.ws.send(CloseConnection(code=event.code)))
            self.abort(f"websocket closed ({event.code})")
            return False
        return True  # Pong: the activity is what counts

    def _on_request(self, req: Request) -> bool:
        origin = next((v.decode("latin-1") for k, v in req.extra_headers if k.lower() == b"origin"), None)
        protocol = next((p for p in req.subprotocols if p.lower() == SUBPROTOCOL), None)
        if protocol is None:
            return self._reject(RejectConnection(status_code=400), "ws_refused_subprotocol", "no sip subprotocol")
        if not self.settings.origin_allowed(origin):
            return self._reject(RejectConnection(status_code=403), "ws_refused_origin", f"origin {origin!r}")
        if self.path is not None and req.target.partition("?")[0] != self.path:
            return self._reject(RejectConnection(status_code=404), "ws_refused_path", f"path {req.target[:100]!r}")
        self._raw(self.ws.send(AcceptConnection(subprotocol=protocol)))
        self.open = True
        self.table.count("ws_accepted")
        return True

    def _reject(self, answer: RejectConnection, reason: str, why: str) -> bool:
        """Answer the upgrade with an HTTP error and close (after the client has read it)."""
        self.table.count(reason)
        self.table.log_refused(self.table.clock(), reason=reason, src=str(self.remote), error=why[:200])
        if self.ws.state is ConnectionState.CONNECTING:
            self._raw(self.ws.send(answer))
        self.abort(reason, linger=True)
        return False

    def _on_data(self, data: bytes, event: TextMessage | BytesMessage) -> bool:
        self.size += len(data)
        if self.size > self.settings.max_message_size:
            self.table.count("ws_too_large")
            self.parts.clear()
            self._raw(self.ws.send(CloseConnection(code=TOO_BIG)))
            self.abort("websocket message too large")
            return False
        self.parts.append(data)
        if not event.message_finished:
            return True
        payload = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        if not payload.strip():
            return True  # a keepalive (RFC 5626 §3.5.1 CRLFs) needs no answer on a WebSocket
        assert self.remote is not None
        try:
            msg = parse_datagram(payload)
        except SipError as exc:  # the message is lost, the framing is not: the connection stays
            self.table.on_malformed(exc, self.remote)
            return self.closing is None
        self.table.on_message(msg, self.remote)
        return self.closing is None

    def write(self, data: bytes) -> None:
        """Send one SIP message as one text message (binary when it is not UTF-8)."""
        if not self.open or self.ws.state is not ConnectionState.OPEN:
            self.table.count("ws_not_open")
            return
        try:
            frame = self.ws.send(TextMessage(data=data.decode("utf-8")))
        except UnicodeDecodeError:
            frame = self.ws.send(BytesMessage(data=data))
        super().write(frame)

    def _raw(self, data: bytes) -> None:
        super().write(data)

    def expire(self, now: float) -> None:
        """The handshake time limit, then the idle ping and the idle time limit."""
        if self.closing is not None:
            super().expire(now)
        elif not self.open:
            if self.accepted_at < now - self.settings.handshake_timeout:
                self.table.count("ws_handshake_timeout")
                self.abort("websocket handshake timeout", hard=True)
        elif self.last_active < now - self.settings.idle_timeout:
            self.table.count("ws_idle_timeout")
            self.abort("idle timeout")
        elif self.last_active < now - self.settings.idle_timeout / 2 and not self.pinged:
            last = self.last_active
            self._raw(self.ws.send(Ping()))
            self.last_active = last  # our ping is no sign of life from the peer
            self.pinged = True

    def abort(self, why: str, *, hard: bool = False, linger: bool = False) -> None:
        """As for TCP; an open WebSocket is first sent a Close (1001, going away) unless ``hard``."""
        if not hard and self.closing is None and self.open and self.ws.state is ConnectionState.OPEN:
            self._raw(self.ws.send(CloseConnection(code=GOING_AWAY)))
        super().abort(why, hard=hard, linger=linger)
