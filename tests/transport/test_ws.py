"""The WebSocket transport (RFC 7118) driven by a wsproto client, without sockets or a loop."""

from __future__ import annotations

from typing import Any

import pytest
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

from antibot.proxy.effects import Addr
from antibot.sip.message import Request as SipRequest
from antibot.transport.ws import WsConnection, WsSettings

from .conftest import FakeTransport, Rig, make_rig, options

BROWSER = Addr("ws", "198.51.100.7", 40000)


class Client:
    """A WebSocket client on one accepted :class:`WsConnection`."""

    def __init__(self, rig: Rig, *, kind: str = "ws", path: str | None = None, port: int = 40000) -> None:
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.conn = WsConnection(rig.table, kind, path)
        self.transport = FakeTransport("198.51.100.7", port)
        self.conn.connection_made(self.transport)  # type: ignore[arg-type]
        self.seen = 0

    def upgrade(self, subprotocols: list[str] | None = None, origin: str | None = None, target: str = "/") -> Event:
        headers = [(b"Origin", origin.encode())] if origin else []
        protocols = ["sip"] if subprotocols is None else subprotocols
        request = Request(host="127.0.0.1", target=target, subprotocols=protocols, extra_headers=headers)
        self.conn.data_received(self.ws.send(request))
        events = self.events()
        assert events, "no answer to the upgrade"
        return events[0]  # AcceptConnection, or RejectConnection (and its empty RejectData)

    def send(self, event: Any) -> None:
        self.conn.data_received(self.ws.send(event))

    def events(self) -> list[Event]:
        """What the server wrote since the last call, as events."""
        new = bytes(self.transport.written[self.seen :])
        self.seen = len(self.transport.written)
        self.ws.receive_data(new)
        return list(self.ws.events())


@pytest.fixture
def ws_rig() -> Rig:
    rig = make_rig(max_connections=8, max_per_source=2, message_timeout=2.0, idle_timeout=30.0)
    rig.table.ws = WsSettings(origins=("https://phone.example.com",), max_message_size=4096, idle_timeout=60.0)
    return rig


def test_the_sip_subprotocol_is_accepted_and_a_frame_reaches_the_core(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    accepted = client.upgrade()
    assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == "sip"
    client.send(TextMessage(data=options(1).decode()))
    (msg, source), *_ = ws_rig.messages
    assert isinstance(msg, SipRequest) and msg.method == "OPTIONS" and msg.call_id == "c1@198.51.100.7"
    assert source == BROWSER
    # The core's answer goes back over the same connection, as one text message.
    ws_rig.table.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", BROWSER)
    (answer,) = client.events()
    assert isinstance(answer, TextMessage) and answer.data.startswith("SIP/2.0 200 OK")


def test_binary_frames_and_fragmented_messages_carry_one_sip_message_each(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    client.upgrade()
    data = options(2)
    client.send(BytesMessage(data=data[:50], message_finished=False))
    assert ws_rig.messages == []
    client.send(BytesMessage(data=data[50:]))
    client.send(TextMessage(data=options(3).decode()))
    assert [m.call_id for m, _ in ws_rig.messages] == ["c2@198.51.100.7", "c3@198.51.100.7"]


def test_an_upgrade_without_the_sip_subprotocol_is_refused(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    refused = client.upgrade(subprotocols=["chat"])
    assert isinstance(refused, RejectConnection) and refused.status_code == 400
    assert client.transport.lingering  # closed once the client has read the answer
    client.conn.data_received(b"\x81\x05hello")
    assert ws_rig.messages == [] and ws_rig.table.stats["ws_refused_subprotocol"] == 1


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [("https://phone.example.com", True), ("HTTPS://PHONE.EXAMPLE.COM", True), ("https://evil.example", False)],
)
def test_the_origin_must_be_allowed(ws_rig: Rig, origin: str, accepted: bool) -> None:
    answer = Client(ws_rig).upgrade(origin=origin)
    if accepted:
        assert isinstance(answer, AcceptConnection)
    else:
        assert isinstance(answer, RejectConnection) and answer.status_code == 403
        assert ws_rig.table.stats["ws_refused_origin"] == 1


def test_no_origin_list_refuses_every_browser_but_not_other_clients() -> None:
    rig = make_rig()
    rig.table.ws = WsSettings()
    browser = Client(rig, port=1).upgrade(origin="https://phone.example.com")
    assert isinstance(browser, RejectConnection) and browser.status_code == 403
    assert isinstance(Client(rig, port=2).upgrade(), AcceptConnection)  # no Origin: not a browser page
    rig.table.ws = WsSettings(origins=("*",))
    assert isinstance(Client(rig, port=3).upgrade(origin="https://anything.example"), AcceptConnection)


def test_a_listener_path_is_enforced(ws_rig: Rig) -> None:
    assert isinstance(Client(ws_rig, path="/ws", port=1).upgrade(target="/ws?x=1"), AcceptConnection)
    refused = Client(ws_rig, path="/ws", port=2).upgrade(target="/other")
    assert isinstance(refused, RejectConnection) and refused.status_code == 404


def test_an_oversized_message_closes_the_connection_before_it_is_all_in(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    client.upgrade()
    client.send(BytesMessage(data=b"x" * 3000, message_finished=False))
    assert not client.transport.closed
    client.send(BytesMessage(data=b"x" * 3000, message_finished=False))  # 6000 > 4096
    (close,) = client.events()
    assert isinstance(close, CloseConnection) and close.code == 1009
    assert client.transport.closed and client.conn.parts == []
    client.conn.data_received(b"\x82\x84maskmore")  # nothing more is read
    assert ws_rig.messages == [] and ws_rig.table.stats["ws_too_large"] == 1


def test_garbage_after_the_handshake_closes_that_connection_only(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    client.upgrade()
    client.conn.data_received(bytes(range(256)) * 4)  # not WebSocket frames (and unmasked)
    (close,) = client.events()
    assert isinstance(close, CloseConnection) and close.code == 1002  # protocol error
    assert client.transport.closed and ws_rig.table.stats["ws_bad_frame"] == 1
    other = Client(ws_rig, port=40001)
    other.upgrade()
    other.send(TextMessage(data=options(4).decode()))
    assert [source.port for _, source in ws_rig.messages] == [40001]


def test_garbage_instead_of_a_handshake_gets_400(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    client.conn.data_received(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    assert client.transport.written.startswith(b"HTTP/1.1 400 ")
    assert client.transport.lingering and ws_rig.table.stats["ws_refused_handshake"] == 1


def test_a_sip_message_that_does_not_parse_is_answered_and_the_connection_stays(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    client.upgrade()
    client.send(TextMessage(data="INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK-1\r\n\r\n"))
    assert len(ws_rig.malformed) == 1 and ws_rig.malformed[0][1] == BROWSER
    client.send(TextMessage(data="\r\n\r\n"))  # a keepalive: ignored
    client.send(TextMessage(data=options(5).decode()))
    assert len(ws_rig.messages) == 1 and not client.transport.closed


def test_handshake_timeout_and_idle_ping_then_close(ws_rig: Rig) -> None:
    silent = Client(ws_rig, port=1)
    idle = Client(ws_rig, port=2)
    idle.upgrade()
    ws_rig.clock.now += 11  # past the handshake timeout (10 s)
    ws_rig.table.sweep()
    assert silent.transport.aborted and ws_rig.table.stats["ws_handshake_timeout"] == 1
    assert not idle.transport.closed
    ws_rig.clock.now += 20  # 31 s idle: more than half of 60 s, pinged once
    ws_rig.table.sweep()
    ws_rig.table.sweep()
    assert [type(e) for e in idle.events()] == [Ping]
    ws_rig.clock.now += 30  # 61 s without a pong
    ws_rig.table.sweep()
    assert idle.transport.closed and ws_rig.table.stats["ws_idle_timeout"] == 1


def test_a_pong_keeps_the_connection(ws_rig: Rig) -> None:
    client = Client(ws_rig)
    client.upgrade()
    ws_rig.clock.now += 31
    ws_rig.table.sweep()
    (ping,) = client.events()
    assert isinstance(ping, Ping)
    client.send(ping.response())
    ws_rig.clock.now += 40
    ws_rig.table.sweep()
    assert not client.transport.closed


def test_nothing_is_connected_towards_a_websocket_that_is_gone(ws_rig: Rig) -> None:
    """Only the client opens a WebSocket: with its connection gone, the request is dropped
    (counted), no connection is attempted (that would need an event loop here)."""
    ws_rig.table.send(b"BYE sip:x SIP/2.0\r\n\r\n", Addr("ws", "198.51.100.9", 1234))
    assert ws_rig.table.stats["ws_flow_gone"] == 1 and not ws_rig.table.connecting


def test_websocket_connections_share_the_per_source_cap(ws_rig: Rig) -> None:
    """max_per_source=2 counts TCP, TLS and WebSocket connections alike."""
    ws_rig.accept(port=1)
    Client(ws_rig, port=2)
    third = Client(ws_rig, port=3)
    assert third.transport.aborted and ws_rig.table.stats["tcp_refused_per_source"] == 1
