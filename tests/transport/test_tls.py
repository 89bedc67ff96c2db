"""TLS: the ``[tls]`` settings checked with the file named, and a TLS listener on the plain
asyncio loop (the e2e tests run the proxy on uvloop): messages framed after the handshake, a
stalled handshake closed after its time limit, a plain-text client refused."""

from __future__ import annotations

import asyncio
import ssl
from importlib.util import find_spec
from pathlib import Path

import pytest

from antibot.config import ConfigError, load
from antibot.proxy.effects import Addr
from antibot.sip.errors import SipError
from antibot.sip.message import Request, Response
from antibot.transport.tcp import ConnectionTable, TcpConnection
from antibot.transport.tls import TlsContexts, TlsFiles

from ..tlscerts import Certs, make_certs

PBX = '[[upstream]]\nuri = "sip:127.0.0.1:5080"\n'
OPTIONS = (
    b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-t1\r\nMax-Forwards: 70\r\n"
    b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tls-unit\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n"
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _load(tmp_path: Path, tls: str, listen: str = "tls:127.0.0.1:5061", upstream: str = PBX) -> None:
    path = tmp_path / "antibot.toml"
    path.write_text(f'[proxy]\nlisten = ["{listen}"]\n[tls]\n{tls}\n{upstream}')
    load(str(path), {})


def test_good_settings_load(tmp_path: Path, certs: Certs) -> None:
    _load(tmp_path, f'cert = "{certs.cert}"\nkey = "{certs.key}"\nca = "{certs.ca}"\nmin_version = "1.3"')


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ('cert = "/nonexistent/cert.pem"\nkey = "{key}"', "tls.cert '/nonexistent/cert.pem': No such file"),
        ('cert = "{cert}"\nkey = "/nonexistent/key.pem"', "tls.key '/nonexistent/key.pem': No such file"),
        ('cert = "{cert}"\nkey = "{ca}"', "tls.cert .* / tls.key .*"),  # not a key: named both
        ('cert = "{cert}"\nkey = "{key}"\nca = "/nonexistent/ca.pem"', "tls.ca '/nonexistent/ca.pem'"),
        ('cert = "{cert}"', "needs \\[tls\\] cert and key"),
        ('cert = "{cert}"\nkey = "{key}"\nmin_version = "1.0"', 'min_version must be "1.2" or "1.3"'),
        ('cert = "{cert}"\nkey = "{key}"\nhandshake_timeout = 0', "handshake_timeout must be > 0"),
    ],
)
def test_bad_settings_name_the_file_or_key(tmp_path: Path, certs: Certs, tls: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, tls.format(cert=certs.cert, key=certs.key, ca=certs.ca))


def test_a_tls_upstream_needs_a_tls_listener_and_a_loadable_ca(tmp_path: Path, certs: Certs) -> None:
    upstream = '[[upstream]]\nuri = "sip:127.0.0.1:5081;transport=tls"\n'
    with pytest.raises(ConfigError, match="a tls upstream needs a tls listener"):
        _load(tmp_path, "", listen="udp:127.0.0.1:5060", upstream=upstream)
    tls = f'cert = "{certs.cert}"\nkey = "{certs.key}"\nupstream_ca = "/nonexistent/pbx.pem"'
    with pytest.raises(ConfigError, match="tls.upstream_ca '/nonexistent/pbx.pem'"):
        _load(tmp_path, tls, upstream=upstream)


def test_the_schema_refuses_an_unknown_tls_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls.certificate: unknown setting"):
        _load(tmp_path, 'certificate = "x"')


class Listener:
    """A :class:`ConnectionTable` serving TLS on 127.0.0.1, collecting what it frames."""

    def __init__(self, certs: Certs, timeout: float) -> None:
        self.got: list[tuple[Request | Response, Addr]] = []
        files = TlsFiles(str(certs.cert), str(certs.key), handshake_timeout=timeout)
        loop = asyncio.get_running_loop()
        self.table = ConnectionTable(
            self.on_message, self.on_malformed, loop.time, tls=TlsContexts(files, server=True, client=False)
        )

    def on_message(self, msg: Request | Response, source: Addr) -> None:
        self.got.append((msg, source))

    def on_malformed(self, exc: SipError, source: Addr) -> None:
        raise AssertionError(exc)

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: TcpConnection(self.table, kind="tls"), "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])


async def _eof(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return b""


def test_a_message_over_tls_is_framed_with_its_tls_source(certs: Certs) -> None:
    async def main() -> None:
        lst = Listener(certs, 5.0)
        port = await lst.start()
        ctx = ssl.create_default_context(cafile=str(certs.ca))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1")
        writer.write(OPTIONS)
        await writer.drain()
        while not lst.got:
            await asyncio.sleep(0.01)
        msg, source = lst.got[0]
        assert isinstance(msg, Request) and msg.method == "OPTIONS"
        assert source.transport == "tls" and source.port == writer.get_extra_info("sockname")[1]
        assert ("tls", "127.0.0.1", source.port) in lst.table.conns
        writer.close()
        lst.server.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_stalled_handshake_and_plain_text_are_closed_and_counted(certs: Certs) -> None:
    async def main() -> None:
        lst = Listener(certs, 0.3)
        port = await lst.start()
        stalled_reader, stalled = await asyncio.open_connection("127.0.0.1", port)
        plain_reader, plain = await asyncio.open_connection("127.0.0.1", port)
        plain.write(OPTIONS)
        assert b"SIP/2.0" not in await _eof(plain_reader)
        assert await _eof(stalled_reader) == b""
        while lst.table.inbound:
            await asyncio.sleep(0.01)
        assert lst.table.stats == {"tls_handshake_failed": 1, "tls_handshake_timeout": 1}
        assert not lst.table.conns and not lst.table.handshakes and not lst.got
        stalled.close()
        plain.close()
        lst.server.close()

    asyncio.run(asyncio.wait_for(main(), 20))


async def _facts_of(certs: Certs, client: Certs | None, server_hostname: str, *, ask_cert: bool) -> Addr:
    """The source address of an OPTIONS sent over a real TLS handshake (``client``: the
    certificate the client presents; ``ask_cert``: the listener asks for one, optionally)."""
    lst = Listener(certs, 5.0)
    if ask_cert:
        files = TlsFiles(str(certs.cert), str(certs.key), ca=str(certs.ca), require_client_cert=False)
        lst.table.tls = TlsContexts(files, server=True, client=False)
    port = await lst.start()
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if client is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=server_hostname)
    writer.write(OPTIONS)
    await writer.drain()
    for _ in range(500):
        if lst.got:
            break
        await asyncio.sleep(0.01)
    writer.close()
    lst.server.close()
    assert lst.got, "nothing framed"
    return lst.got[0][1]


@pytest.mark.parametrize(
    "loop_name",
    ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(find_spec("uvloop") is None, reason="no uvloop"))],
)
def test_the_handshake_facts_ride_on_the_source(certs: Certs, tmp_path: Path, loop_name: str) -> None:
    """Version, cipher, the SNI the client sent (none for an IP literal) and its certificate."""
    client = make_certs(tmp_path / "client", "phone", ca=certs)

    async def main() -> None:
        named = await _facts_of(certs, client, "localhost", ask_cert=True)
        bare = await _facts_of(certs, None, "127.0.0.1", ask_cert=False)
        refused = await _facts_of(certs, None, "localhost", ask_cert=True)  # asked, none given
        assert named.tls is not None and bare.tls is not None and refused.tls is not None
        assert refused.tls.sni == "localhost" and not refused.tls.client_cert
        assert named.tls.version == "TLSv1.3" and named.tls.cipher.startswith("TLS_")
        assert named.tls.sni == "localhost" and named.tls.client_cert
        assert bare.tls.sni == "" and not bare.tls.client_cert  # an IP literal is never sent as SNI
        assert bare.tls.version.startswith("TLSv1.") and bare.tls.cipher
        assert bare == Addr("tls", "127.0.0.1", bare.port)  # the facts are not part of the address

    if loop_name == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
