"""A small blocking SIP-over-WebSocket client (wsproto over a socket) for the e2e tests, shaped
like a browser's: a ``.invalid`` Via host and Contact (RFC 7118 §5), one SIP message per frame."""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from pathlib import Path

from wsproto import ConnectionType, WSConnection
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

from .procs import HOST

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


class WsSip:
    """One WebSocket connection to the proxy; ``answer`` is the upgrade's Accept or Reject."""

    def __init__(
        self,
        port: int,
        *,
        ca: Path | None = None,
        subprotocols: tuple[str, ...] = ("sip",),
        origin: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        raw = socket.create_connection((HOST, port), timeout=timeout)
        self.sock: socket.socket = raw
        if ca is not None:
            self.sock = ssl.create_default_context(cafile=str(ca)).wrap_socket(raw, server_hostname=HOST)
        self.transport = "WSS" if ca is not None else "WS"
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.host = f"{uuid.uuid4().hex[:12]}.invalid"
        headers = [(b"Origin", origin.encode())] if origin else []
        self.sock.sendall(
            self.ws.send(
                Request(host=f"{HOST}:{port}", target="/", subprotocols=list(subprotocols), extra_headers=headers)
            )
        )
        self.parts: list[str] = []
        self.answer = self._event()

    @property
    def accepted(self) -> bool:
        return isinstance(self.answer, AcceptConnection)

    def status(self) -> int | None:
        return self.answer.status_code if isinstance(self.answer, RejectConnection) else None

    def _event(self) -> Event | None:
        """The next event (pings answered); None when the connection ends."""
        while True:
            for event in self.ws.events():
                if isinstance(event, Ping):
                    self.sock.sendall(self.ws.send(event.response()))
                    continue
                return event
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                return None
            self.ws.receive_data(data)

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=data)))

    def recv(self) -> str:
        """The next SIP message; AssertionError if the connection closes first."""
        while True:
            event = self._event()
            if isinstance(event, TextMessage):
                self.parts.append(event.data)
                if event.message_finished:
                    text, self.parts = "".join(self.parts), []
                    return text
            elif event is None or isinstance(event, CloseConnection):
                raise AssertionError(f"connection closed ({event})")

    def closed_with(self) -> int | None:
        """Read until the connection closes: the close code received (None: none)."""
        while True:
            event = self._event()
            if event is None:
                return None
            if isinstance(event, CloseConnection):
                return event.code

    def close(self) -> None:
        self.sock.close()


class Call:
    """One call from a :class:`WsSip` client: INVITE, ACK and BYE built from what came back."""

    def __init__(self, client: WsSip, ws_port: int, number: str = "100") -> None:
        self.c = client
        self.call_id = f"{uuid.uuid4().hex}@{client.host}"
        self.tag = uuid.uuid4().hex[:8]
        self.uri = f"sip:{number}@{HOST}:{ws_port};transport=ws"
        self.to = f"<sip:{number}@{HOST}>"
        self.remote_tag = ""
        self.target = ""
        self.route: list[str] = []

    def _request(self, method: str, uri: str, cseq: int, body: str = "", route: list[str] | None = None) -> str:
        to = self.to + (f";tag={self.remote_tag}" if self.remote_tag else "")
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{self.c.transport} {self.c.host};branch=z9hG4bK{uuid.uuid4().hex[:12]}",
            "Max-Forwards: 70",
            f"From: <sip:alice@example.com>;tag={self.tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method.split()[0]}",
            f"Contact: <sip:alice@{self.c.host};transport=ws>",
            *(f"Route: {r}" for r in route or []),
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def invite(self) -> list[int]:
        """Send the INVITE; the statuses received up to the final one (kept: route set, target)."""
        self.c.send(self._request("INVITE", self.uri, 1, SDP))
        statuses: list[int] = []
        while not statuses or statuses[-1] < 200:
            msg = self.c.recv()
            statuses.append(int(msg.split(" ", 2)[1]))
        self.remote_tag = _param(_header(msg, "To")[0], "tag")
        self.target = re.sub(r"^.*<([^>]+)>.*$", r"\1", _header(msg, "Contact")[0])
        records = [r.strip() for v in _header(msg, "Record-Route") for r in v.split(",")]
        self.route = records[::-1]  # the caller's route set: reversed (RFC 3261 §12.1.2)
        self.final = msg
        return statuses

    def ack(self) -> None:
        self.c.send(self._request("ACK", self.target, 1, route=self.route))

    def bye(self) -> int:
        self.c.send(self._request("BYE", self.target, 2, route=self.route))
        return int(self.c.recv().split(" ", 2)[1])

    def answer_bye(self) -> str:
        """Take the PBX's BYE from the connection, answer 200; the BYE as received."""
        bye = self.c.recv()
        keep = ("via", "from", "to", "call-id", "cseq")
        lines = [line for line in bye.split("\r\n")[1:] if line.split(":", 1)[0].strip().lower() in keep]
        self.c.send("SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n")
        return bye


def _header(msg: str, name: str) -> list[str]:
    head = msg.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    return [line.split(":", 1)[1].strip() for line in head if line.split(":", 1)[0].strip().lower() == name.lower()]


def _param(value: str, name: str) -> str:
    found = re.search(rf";{name}=([^;>\s]+)", value)
    return found.group(1) if found else ""
