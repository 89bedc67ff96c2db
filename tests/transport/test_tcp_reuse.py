"""RFC 5923 in :class:`ConnectionTable`: a TLS peer's ``alias`` makes our requests to its sent-by
go over its connection, only when its certificate names the sent-by host; plain TCP and
unauthenticated peers cannot take another's requests; the alias goes with the connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from antibot.proxy.effects import Addr
from antibot.transport.tcp import TcpConnection

from .conftest import FakeTransport, Rig, make_rig

PHONE_CERT = {"subjectAltName": (("DNS", "phone.example.net"), ("IP Address", "192.0.2.9"))}
EVIL_CERT = {"subjectAltName": (("DNS", "evil.example.net"), ("IP Address", "198.51.100.66"))}
#: Where the phone listens (its Contact, its Record-Route): our in-dialog requests go there.
PHONE = Addr("tls", "192.0.2.9", 5061)


class TlsTransport(FakeTransport):
    """A fake transport after the TLS handshake: ``peercert`` as ``getpeercert()`` gives it."""

    def __init__(self, host: str, port: int, cert: dict[str, Any] | None) -> None:
        super().__init__(host, port)
        self.cert = cert

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.cert if name == "peercert" else super().get_extra_info(name, default)


def request(sent_by: str, transport: str = "TLS", *, alias: bool = True, n: int = 1) -> bytes:
    flag = ";alias" if alias else ""
    return (
        f"INVITE sip:100@203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {sent_by};branch=z9hG4bK-r{n};rport{flag}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:a@{sent_by}>;tag=f{n}\r\nTo: <sip:100@203.0.113.1>\r\n"
        f"Call-ID: alias{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{sent_by};transport=tls>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def accept_tls(rig: Rig, cert: dict[str, Any] | None, host: str = "192.0.2.9", port: int = 40001) -> TlsTransport:
    """An accepted TLS connection, its handshake done (a client certificate ``cert`` or none)."""
    conn = TcpConnection(rig.table, kind="tls")
    transport = TlsTransport(host, port, cert)
    conn.remote = Addr("tls", host, port)  # what connection_made does, less the handshake
    assert rig.table.admit(conn)
    conn.established(transport)  # type: ignore[arg-type]
    return transport


@pytest.fixture
def rig() -> Rig:
    rig = make_rig(max_connections=16, max_per_source=4, message_timeout=2.0, idle_timeout=30.0)
    rig.opened = []  # type: ignore[attr-defined]

    async def connect(conn: TcpConnection, dest: Addr) -> None:
        rig.opened.append(dest)  # type: ignore[attr-defined]

    rig.table.open_connection = connect
    return rig


def send(rig: Rig, data: bytes, dest: Addr, name: str | None = None) -> None:
    async def go() -> None:
        rig.table.send(data, dest, name)
        await asyncio.sleep(0)

    asyncio.run(go())


def test_a_request_to_an_aliased_peer_goes_over_its_own_connection(rig: Rig) -> None:
    phone = accept_tls(rig, PHONE_CERT)
    phone_conn = rig.table.conns[("tls", "192.0.2.9", 40001)]
    phone_conn.data_received(request("192.0.2.9:5061"))
    assert len(rig.messages) == 1
    send(rig, b"BYE sip:a@192.0.2.9:5061 SIP/2.0\r\n", PHONE)
    assert phone.written.endswith(b"BYE sip:a@192.0.2.9:5061 SIP/2.0\r\n")
    assert rig.opened == [] and not rig.table.connecting  # type: ignore[attr-defined]
    assert rig.table.stats["tls_alias_reused"] == 1


def test_a_host_name_sent_by_is_matched_by_the_name_resolved(rig: Rig) -> None:
    phone = accept_tls(rig, PHONE_CERT)
    rig.table.conns[("tls", "192.0.2.9", 40001)].data_received(request("Phone.example.net"))  # default port 5061
    send(rig, b"OPTIONS", Addr("tls", "192.0.2.200", 5061), "phone.example.net")
    assert phone.written == b"OPTIONS" and rig.opened == []  # type: ignore[attr-defined]
    assert rig.table.aliased(Addr("tls", "phone.example.net", 5061)) is not None  # before any DNS look-up


def test_the_alias_is_forgotten_when_the_connection_closes(rig: Rig) -> None:
    accept_tls(rig, PHONE_CERT)
    conn = rig.table.conns[("tls", "192.0.2.9", 40001)]
    conn.data_received(request("192.0.2.9:5061"))
    rig.lose(conn)
    assert len(rig.table.aliases) == 0
    send(rig, b"BYE", PHONE)
    assert rig.opened == [PHONE]  # type: ignore[attr-defined]


def test_a_closing_connection_is_not_used(rig: Rig) -> None:
    accept_tls(rig, PHONE_CERT)
    conn = rig.table.conns[("tls", "192.0.2.9", 40001)]
    conn.data_received(request("192.0.2.9:5061"))
    conn.abort("idle timeout")
    send(rig, b"BYE", PHONE)
    assert rig.opened == [PHONE]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "cert",
    [
        None,  # no client certificate (none asked for, or require_client_cert = false)
        {},  # the listener has no [tls] ca: nothing verified
        EVIL_CERT,  # a good certificate, but for another host
    ],
)
def test_an_unauthenticated_claim_cannot_hijack_anothers_address(rig: Rig, cert: dict[str, Any] | None) -> None:
    """An attacker connects over TLS and claims the phone's sent-by with ``alias``: the phone's
    requests are not sent to it, whether the phone has an alias of its own or not."""
    evil = accept_tls(rig, cert, host="198.51.100.66", port=50000)
    rig.table.conns[("tls", "198.51.100.66", 50000)].data_received(request("192.0.2.9:5061"))
    assert rig.table.stats["tls_alias_refused"] == 1 and len(rig.table.aliases) == 0
    send(rig, b"BYE-1", PHONE)
    assert rig.opened == [PHONE] and b"BYE" not in evil.written  # type: ignore[attr-defined]

    phone = accept_tls(rig, PHONE_CERT)
    rig.table.conns[("tls", "192.0.2.9", 40001)].data_received(request("192.0.2.9:5061"))
    rig.table.conns[("tls", "198.51.100.66", 50000)].data_received(request("192.0.2.9:5061", n=2))
    send(rig, b"BYE-2", PHONE)
    assert phone.written == b"BYE-2" and b"BYE" not in evil.written
    assert rig.table.stats["tls_alias_refused"] == 2


def test_plain_tcp_alias_is_ignored(rig: Rig) -> None:
    """RFC 5923 reuse needs TLS: a TCP peer's ``alias`` (its sent-by someone else's) changes nothing."""
    conn, transport = rig.accept(host="198.51.100.66", port=50000)
    conn.data_received(request("192.0.2.9:5060", "TCP"))
    assert len(rig.messages) == 1 and len(rig.table.aliases) == 0
    send(rig, b"BYE", Addr("tcp", "192.0.2.9", 5060))
    assert rig.opened == [Addr("tcp", "192.0.2.9", 5060)] and transport.written == b""  # type: ignore[attr-defined]


def test_a_tls_via_on_a_tcp_claim_or_no_alias_records_nothing(rig: Rig) -> None:
    accept_tls(rig, PHONE_CERT)
    conn = rig.table.conns[("tls", "192.0.2.9", 40001)]
    conn.data_received(request("192.0.2.9:5061", alias=False))
    conn.data_received(request("192.0.2.9:5061", "TCP", n=2))  # a TCP Via on a TLS connection
    assert len(rig.table.aliases) == 0 and "tls_alias_refused" not in rig.table.stats


def test_the_table_holds_at_most_one_alias_per_open_connection(rig: Rig) -> None:
    """Each connection moving its alias from address to address leaves one entry; closing leaves none."""
    accept_tls(rig, PHONE_CERT)
    conn = rig.table.conns[("tls", "192.0.2.9", 40001)]
    for n in range(50):
        sent_by = "192.0.2.9:5061" if n % 2 else "phone.example.net:5061"
        conn.data_received(request(sent_by, n=n))
    assert len(rig.table.aliases) == 1 and rig.table.aliases.key_of(conn) == ("tls", "192.0.2.9", 5061)
    rig.lose(conn)
    assert len(rig.table.aliases) == 0
