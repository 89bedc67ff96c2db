"""Start-up checks of ``antibot run`` that come before anything else starts.

Every listen address (each SIP listener, then the admin API) is bound here first and held
until the real listener takes it over, so a busy or forbidden address is reported, naming it,
before the embedded Redis starts, the route key is made or an API token is printed.
"""

from __future__ import annotations

import socket

from ..config import ConfigError, Settings


class Reserved:
    """The held sockets: ``release_api`` before the admin API binds, ``release_sip`` before the
    SIP listeners do (each closes its own)."""

    def __init__(self) -> None:
        self.sip: list[socket.socket] = []
        self.api: socket.socket | None = None

    def release_api(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None

    def release_sip(self) -> None:
        for sock in self.sip:
            sock.close()
        self.sip.clear()

    def close(self) -> None:
        self.release_api()
        self.release_sip()


def reserve(s: Settings) -> Reserved:
    """Bind every listen address of ``s``; :class:`ConfigError` names the first that fails."""
    held = Reserved()
    try:
        for x in s.listen:
            held.sip.append(_bind(f"{x.transport}:{x.host}:{x.port}", x.transport, x.host, x.port))
        if s.detect and s.api_listen:  # the admin API runs only with detection
            host, port = _api_address(s.api_listen)
            held.api = _bind(f"api {host}:{port}", "tcp", host, port)
    except BaseException:
        held.close()
        raise
    return held


def _api_address(listen: str) -> tuple[str, int]:
    """The API's ``HOST:PORT``, refused early when it is malformed or insecure."""
    from api.auth import TokenError, TokenStore
    from api.settings import InsecureSettingsError, check_listen, parse_listen

    try:
        host, port = parse_listen(listen)
        check_listen(host, TokenStore.from_env())
    except (TokenError, InsecureSettingsError, ValueError) as exc:
        raise ConfigError(f"admin API: {exc}") from None
    return host, port


def _bind(name: str, transport: str, host: str, port: int) -> socket.socket:
    """A socket bound as the real listener will be (TCP: SO_REUSEADDR, v6-only, listening)."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {name}: {exc.strerror or exc}") from None
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(1)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {name}: {exc.strerror or exc}") from None
    return sock
