"""SIP over TLS (RFC 3261 §26.2.1, §26.3.1; RFC 5630): the SSL contexts and the server handshake.

A TLS listener accepts plain TCP connections first, so the per-source and total caps of
:class:`~antibot.transport.tcp.ConnectionTable` apply before any cryptography is done, then
upgrades each admitted connection with ``loop.start_tls``; a handshake not finished within
``handshake_timeout`` seconds (or one that fails: a plain-text client, a bad client
certificate) closes the connection. After the handshake the stream is framed like TCP, and
what the handshake said (:class:`~antibot.proxy.effects.TlsFacts`: version, cipher, the server
name the client asked for (RFC 6066 §3), a client certificate or not) rides on the source
address of every message it carries, for detection and the call log.

:class:`TlsContexts` holds the server and client contexts; :meth:`TlsContexts.reload` builds
new ones from the same files (SIGHUP): new connections use them, open ones keep theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, cast

from ..proxy.effects import Addr, TlsFacts

if TYPE_CHECKING:
    from .tcp import ConnectionTable, TcpConnection

log = logging.getLogger("antibot.tls")

#: ``[tls] min_version`` values.
VERSIONS: Final = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
#: Longest server name kept (a DNS name has at most 253 characters).
MAX_SNI: Final = 253

#: The server name each server-side handshake's client sent (RFC 6066 §3), by its SSL object:
#: ``SSLObject.server_hostname`` is the client side's, so :func:`_note_sni` (the contexts'
#: ``sni_callback``) writes it here, and :func:`facts` takes it once the handshake is done.
_SNI: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


class TlsError(ValueError):
    """A certificate, key or CA file that cannot be used: the message names the file."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The ``[tls]`` settings: our certificate chain and key (PEM), the CA that client
    certificates must chain to (None: none asked for), whether one is required, the lowest TLS
    version, the handshake time limit, and the CA for upstream certificates (None: the system's)."""

    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    require_client_cert: bool = True
    min_version: str = "1.2"
    handshake_timeout: float = 10.0
    upstream_ca: str | None = None


def _read(path: str, what: str) -> None:
    """Fail early, naming the file, when it cannot be opened."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise TlsError(f"tls.{what} {path!r}: {exc.strerror or exc}") from None


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The listener's context: our chain and key, TLS ``min_version`` and up, and with ``ca`` a
    client certificate asked for and verified (required unless ``require_client_cert`` is off)."""
    if not files.cert or not files.key:
        raise TlsError("tls: a tls listener needs [tls] cert and key")
    _read(files.cert, "cert")
    _read(files.key, "key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = VERSIONS[files.min_version]
    ctx.sni_callback = _note_sni
    try:
        ctx.load_cert_chain(files.cert, files.key)
    except ssl.SSLError as exc:
        raise TlsError(f"tls.cert {files.cert!r} / tls.key {files.key!r}: {exc.reason or exc}") from None
    if files.ca:
        _load_ca(ctx, files.ca, "ca")
        ctx.verify_mode = ssl.CERT_REQUIRED if files.require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def _note_sni(conn: object, name: str | None, ctx: ssl.SSLContext) -> None:
    """``sni_callback``: remember the server name the client asked for (only called when it sent one)."""
    if name:
        # not weak-referenceable: the name stays unknown, the handshake goes on
        with contextlib.suppress(TypeError):
            _SNI[conn] = name[:MAX_SNI].lower()


def facts(secure: asyncio.BaseTransport) -> TlsFacts:
    """What the finished handshake of ``secure`` said (empty facts when it has no SSL object)."""
    obj = secure.get_extra_info("ssl_object")
    if obj is None:
        return TlsFacts()
    cipher = obj.cipher()
    try:
        sni = _SNI.pop(obj, "")
    except TypeError:
        sni = ""
    return TlsFacts(
        str(obj.version() or ""),
        str(cipher[0]) if cipher else "",
        sni,
        obj.getpeercert(binary_form=True) is not None,
    )


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """The context for connections to ``;transport=tls`` upstreams: their certificate verified
    against ``upstream_ca`` (else the system's CAs) and the host name of the upstream URI; our
    own certificate presented when we have one (trunks that ask for mutual TLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED
    ctx.minimum_version = VERSIONS[files.min_version]
    if files.upstream_ca:
        _load_ca(ctx, files.upstream_ca, "upstream_ca")
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if files.cert and files.key:
        try:
            ctx.load_cert_chain(files.cert, files.key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"tls.cert {files.cert!r} / tls.key {files.key!r}: {_why(exc)}") from None
    return ctx


def _load_ca(ctx: ssl.SSLContext, path: str, what: str) -> None:
    _read(path, what)
    try:
        ctx.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"tls.{what} {path!r}: {_why(exc)}") from None


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    return str(exc.strerror or exc)


class TlsContexts:
    """The current server and client contexts (None: not needed by this configuration)."""

    def __init__(self, files: TlsFiles, *, server: bool, client: bool) -> None:
        self.files = files
        self.want_server = server
        self.want_client = client
        self.server: ssl.SSLContext | None = None
        self.client: ssl.SSLContext | None = None
        self.reload()

    @property
    def handshake_timeout(self) -> float:
        return self.files.handshake_timeout

    def reload(self) -> None:
        """Build both contexts from the files again; :class:`TlsError` leaves the old ones in place."""
        server = server_context(self.files) if self.want_server else None
        client = client_context(self.files) if self.want_client else None
        self.server, self.client = server, client


async def accept(table: ConnectionTable, conn: TcpConnection, raw: asyncio.Transport, ctx: ssl.SSLContext) -> None:
    """Upgrade an admitted connection to TLS, then hand it to the table; close it when the
    handshake fails or outlasts its time.

    uvloop starts reading right after ``connection_made`` whatever it asked, so the first bytes
    of the handshake may already be in ``conn.early``: they are handed to the TLS protocol once
    ``start_tls`` has put it in place (its ``connection_made`` runs first, in call order)."""
    loop = asyncio.get_running_loop()
    timeout = table.tls.handshake_timeout if table.tls is not None else 10.0
    upgrade = loop.create_task(loop.start_tls(raw, conn, ctx, server_side=True, ssl_handshake_timeout=timeout))
    await asyncio.sleep(0)  # start_tls has swapped the protocol and queued its connection_made
    loop.call_soon(_feed_early, conn, raw)
    try:
        secure = await upgrade
    except OSError as exc:  # ssl.SSLError, TimeoutError and ConnectionError among them
        timed_out = isinstance(exc, TimeoutError) or "longer than" in str(exc)
        reason = "tls_handshake_timeout" if timed_out else "tls_handshake_failed"
        table.count(reason)
        table.log_refused(table.clock(), reason=reason, src=str(conn.remote), error=str(exc)[:200])
        raw.abort()
        table.remove(conn)
        return
    if secure is None or conn.closing is not None:
        raw.abort()
        table.remove(conn)
        return
    remote = conn.remote
    if remote is not None:  # the same address (equal, same hash), now with its handshake's facts
        conn.remote = Addr(remote.transport, remote.host, remote.port, facts(secure))
    conn.established(secure)


def _feed_early(conn: TcpConnection, raw: asyncio.Transport) -> None:
    """Hand the bytes read before ``start_tls`` to the TLS protocol now reading ``raw``."""
    data, conn.early = bytes(conn.early), bytearray()
    proto = raw.get_protocol()
    if proto is not conn:
        conn.phase = "secured"  # from now on data_received gets decrypted bytes
    if not data or proto is conn or raw.is_closing():
        return
    get_buffer = getattr(proto, "get_buffer", None)  # uvloop's is not an asyncio.BufferedProtocol
    if get_buffer is None:
        cast(asyncio.Protocol, proto).data_received(data)
        return
    view = memoryview(data)
    while view:
        buf = memoryview(get_buffer(len(view))).cast("B")
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        cast(asyncio.BufferedProtocol, proto).buffer_updated(n)
        view = view[n:]
