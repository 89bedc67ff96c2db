"""The transport settings of :mod:`antibot.config`: ``[tls]`` and ``[websocket]``, checked and
turned into what :mod:`antibot.transport` takes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings
    from .transport.tls import TlsFiles
    from .transport.ws import WsSettings


def tls_files(s: Settings) -> TlsFiles:
    """The ``[tls]`` settings as :class:`~antibot.transport.tls.TlsFiles`."""
    from .transport.tls import TlsFiles

    return TlsFiles(
        s.tls_cert,
        s.tls_key,
        s.tls_ca,
        s.tls_require_client_cert,
        s.tls_min_version,
        s.tls_handshake_timeout,
        s.tls_upstream_ca,
    )


def validate_tls(s: Settings) -> None:
    """``[tls]``: with a tls listener, a certificate and key that load; with a tls upstream, a
    tls listener (our Via and Record-Route name it) and an upstream CA that loads."""
    from .config import ConfigError
    from .transport.tls import VERSIONS, TlsError, client_context, server_context

    if s.tls_min_version not in VERSIONS:
        raise ConfigError(f'tls.min_version must be "1.2" or "1.3", not {s.tls_min_version!r}')
    if not 0 < s.tls_handshake_timeout <= 120:
        raise ConfigError(f"tls.handshake_timeout must be > 0 and <= 120 seconds, not {s.tls_handshake_timeout!r}")
    listens = any(x.transport in ("tls", "wss") for x in s.listen)
    upstream = next((u.uri for u in s.upstreams if u.transport == "tls"), None)
    if upstream is not None and not listens:
        raise ConfigError(f"upstream {upstream!r}: a tls upstream needs a tls listener (--listen tls:HOST:PORT)")
    try:
        if listens:
            server_context(tls_files(s))
        if upstream is not None:
            client_context(tls_files(s))
    except TlsError as exc:
        raise ConfigError(str(exc)) from None


def validate_ws(s: Settings) -> None:
    """``[websocket]``: origins as ``scheme://host[:port]`` (or ``*``), a size the parser takes;
    WebSocket listeners with one worker (a connection lives in one process, and requests from the
    PBX for it could land in another): ``workers = 0`` (one per core) then means one."""
    from .config import ConfigError

    if any(x.transport in ("ws", "wss") for x in s.listen) and s.workers > 1:
        raise ConfigError("ws and wss listeners need proxy.workers = 1 or 0 (a WebSocket lives in one process)")
    origins = s.ws_origins
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ConfigError(f"websocket.origins must be a list of strings, not {origins!r}")
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"[a-z][a-z0-9+.-]*://[^/\s]+/?", origin, re.IGNORECASE):
            raise ConfigError(f'websocket.origins: {origin!r} is not "*" nor scheme://host[:port]')
    size = s.ws_max_message_size
    if not isinstance(size, int) or isinstance(size, bool) or not 4096 <= size <= 65535:
        raise ConfigError(f"websocket.max_message_size must be a whole number between 4096 and 65535, not {size!r}")
    if not 0 < s.ws_handshake_timeout <= 120:
        raise ConfigError(f"websocket.handshake_timeout must be > 0 and <= 120 seconds, not {s.ws_handshake_timeout!r}")
    if s.ws_idle_timeout <= 0:
        raise ConfigError(f"websocket.idle_timeout must be > 0 seconds, not {s.ws_idle_timeout!r}")


def ws_settings(s: Settings) -> WsSettings:
    """The ``[websocket]`` settings as :class:`~antibot.transport.ws.WsSettings`."""
    from .transport.ws import WsSettings

    return WsSettings(tuple(s.ws_origins), s.ws_max_message_size, s.ws_handshake_timeout, s.ws_idle_timeout)
