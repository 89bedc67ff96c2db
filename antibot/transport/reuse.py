"""Connection reuse (RFC 5923): a TLS peer's ``alias`` offers its connection for our requests.

A peer that opens a TLS connection to us and puts ``alias`` in its topmost Via asks us to send
the requests we have for its sent-by (transport, host, port) over that connection rather than
open a new one (§5, §6). The connection is aliased only when the peer is authenticated for that
host (§5, §9): it presented a certificate that verified against ``[tls] ca`` and names the
sent-by host (:func:`authenticates`). Plain TCP gets no alias: without TLS nothing
authenticates the claim, and any host could take another's requests (§1, §9).

:class:`Aliases` is the table: one alias per connection (a later one moves it), an alias held
by one connection at a time (the newest authenticated connection for it takes it over, so a
peer that reconnects is reached on its new connection), forgotten when its connection closes.
It never holds more entries than there are open connections.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from ..sip.via import AliasKey

C = TypeVar("C", bound=Hashable)


def authenticates(peercert: dict[str, Any] | None, host: str) -> bool:
    """Does a verified peer certificate (``SSLObject.getpeercert()``) name ``host``?

    The identities of a SIP domain certificate (RFC 5922 §7.1): its subjectAltName URIs
    (``sip:``/``sips:`` host), DNS names and IP addresses; its common name only when it has no
    subjectAltName. Names compare without case; wildcards match nothing (RFC 5922 §7.2). An
    empty or missing certificate (none asked for, or none sent) authenticates nothing."""
    if not peercert or not host:
        return False
    host = host.lower()
    ip = _ip(host)
    sans = peercert.get("subjectAltName") or ()
    names: list[str] = []
    for kind, value in sans:
        if not isinstance(value, str):
            continue
        if kind == "IP Address":
            if ip is not None and _ip(value.strip()) == ip:
                return True
        elif kind == "DNS":
            names.append(value)
        elif kind == "URI" and value.lower().startswith(("sip:", "sips:")):
            names.append(_uri_host(value))
    if not sans:
        for rdn in peercert.get("subject") or ():
            names.extend(v for k, v in rdn if k == "commonName" and isinstance(v, str))
    if ip is not None:
        return any(_ip(n) == ip for n in names)
    return any(n.lower().rstrip(".") == host.rstrip(".") and "*" not in n for n in names)


def _uri_host(uri: str) -> str:
    """The host of a ``sip:``/``sips:`` URI identity (RFC 5922 §7.1: ``sip:example.com``)."""
    rest = uri.split(":", 1)[1].split(";", 1)[0].rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1 : rest.find("]")] if "]" in rest else ""
    return rest.split(":", 1)[0]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


class Aliases(Generic[C]):
    """Aliased connections by (transport, host, port), and the alias of each connection."""

    def __init__(self) -> None:
        self._by_key: dict[AliasKey, C] = {}
        self._by_conn: dict[C, AliasKey] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: AliasKey) -> C | None:
        return self._by_key.get(key)

    def key_of(self, conn: C) -> AliasKey | None:
        return self._by_conn.get(conn)

    def record(self, conn: C, key: AliasKey) -> None:
        """Alias ``conn`` for ``key`` (the caller has authenticated the peer for it): its previous
        alias, if another, is dropped; the connection that held ``key`` loses it."""
        self.forget(conn)
        held = self._by_key.get(key)
        if held is not None:
            self._by_conn.pop(held, None)
        self._by_key[key] = conn
        self._by_conn[conn] = key

    def forget(self, conn: C) -> None:
        """Drop the alias of ``conn`` (it closed, or it moved to another address)."""
        key = self._by_conn.pop(conn, None)
        if key is not None and self._by_key.get(key) is conn:
            del self._by_key[key]
