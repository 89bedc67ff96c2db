"""SIP and SIPS URIs and host:port references (RFC 3261 §19.1, RFC 5118 for IPv6)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from .errors import ParseError, UnsupportedUriScheme
from .headers import is_ascii_digits, parse_params
from .memo import Memo

#: Schemes a SIP proxy routes; anything else in a Request-URI is a 416 (RFC 3261 §16.3 step 2).
ROUTABLE_SCHEMES: Final = frozenset({"sip", "sips", "tel"})


# Explicit __init__s (init=False): mypyc compiles them; a dataclass's generated one stays interpreted
# and ran several times per message.
@dataclass(init=False, unsafe_hash=True)
class HostPort:
    """A host (IPv6 without brackets) and an optional port (RFC 3261 §25.1 hostport)."""

    host: str
    port: int | None

    def __init__(self, host: str, port: int | None) -> None:
        self.host = host
        self.port = port

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    def render(self, default_port: int | None = None) -> str:
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        port = self.port if self.port is not None else default_port
        return host if port is None else f"{host}:{port}"


@dataclass(init=False, unsafe_hash=True)
class SipUri:
    """A parsed sip:/sips: URI. ``user`` stays escaped as on the wire (RFC 3261 §19.1.4)."""

    scheme: str
    user: str | None
    host: HostPort
    params: tuple[tuple[str, str | None], ...]
    headers: str | None

    def __init__(
        self,
        scheme: str,
        user: str | None,
        host: HostPort,
        params: tuple[tuple[str, str | None], ...],
        headers: str | None,
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.host = host
        self.params = params
        self.headers = headers

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value if value is not None else ""
        return None

    @property
    def transport(self) -> str:
        """Transport named by ``;transport=`` or implied by the scheme (RFC 3263 §4.1)."""
        value = self.param("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"


_PLAIN_HOSTPORT: Final = re.compile(r"([A-Za-z0-9\-.]+)(?::([0-9]{1,5}))?")


#: Parsed host:port texts: a proxy sees the same few peers (Via sent-by) over and over.
_HOSTPORTS: Final[Memo[str, HostPort]] = Memo()


def parse_hostport(text: str) -> HostPort:
    """Parse ``host[:port]`` where an IPv6 host must be bracketed (RFC 5118 §4.2, §4.3).
    The result is shared between callers: never modify it."""
    known = _HOSTPORTS.get(text)
    return known if known is not None else _HOSTPORTS.put(text, _parse_hostport(text))


def _parse_hostport(text: str) -> HostPort:
    plain = _PLAIN_HOSTPORT.fullmatch(text)
    if plain is not None:
        host = plain.group(1)
        if not is_host(host):
            raise ParseError(f"bad host {text[:40]!a}")
        port = plain.group(2)
        if port is not None and int(port) > 65535:
            raise ParseError(f"bad port {port!r}")
        return HostPort(host.lower(), int(port) if port is not None else None)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError("unterminated IPv6 reference")
        host = text[1:end]
        _check_ipv6(host)
        rest = text[end + 1 :]
        if not rest:
            return HostPort(host.lower(), None)
        if rest[0] != ":":
            raise ParseError("junk after IPv6 reference")
        return HostPort(host.lower(), _port(rest[1:]))
    host, colon, port = text.partition(":")
    if not is_host(host):
        raise ParseError(f"bad host {text[:40]!a}")
    return HostPort(host.lower(), _port(port) if colon else None)


def _check_ipv6(host: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        # RFC 5118 §4.10: tolerate the RFC 3261 ABNF bug "2001:db8:::192.0.2.1".
        if ":::" in host and host.count(":::") == 1:
            try:
                ipaddress.IPv6Address(host.replace(":::", "::"))
                return
            except ValueError:
                pass
        raise ParseError(f"bad IPv6 reference {host[:40]!a}") from None


def _port(text: str) -> int:
    # ASCII digits only: str.isdigit() also takes "¹²³", which int() refuses.
    if not is_ascii_digits(text) or len(text) > 5 or int(text) > 65535:
        raise ParseError(f"bad port {text[:10]!a}")
    return int(text)


_HOSTCHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."


def is_host(host: str) -> bool:
    """An RFC 3261 §25.1 ``hostname`` or ``IPv4address`` (not bracketed IPv6: see
    :func:`parse_hostport`). Labels are alphanumerics with inner dashes, at most 63 long;
    a name whose last label starts with a digit must be a dotted quad of octets <= 255,
    so ``999.1.1.1`` or ``10.0.0`` are refused."""
    if not host or len(host) > 255 or host.strip(_HOSTCHARS):
        return False
    labels = (host[:-1] if host[-1] == "." else host).split(".")
    if labels[-1][:1].isdigit():  # toplabel = ALPHA ...: so this must be an IPv4address
        return host[-1] != "." and len(labels) == 4 and all(_octet(label) for label in labels)
    return all(_label(label) for label in labels)


def _label(label: str) -> bool:
    """domainlabel: alphanumerics, with dashes inside only (RFC 1035 §2.3.4: at most 63)."""
    return 0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"


def _octet(label: str) -> bool:
    return 0 < len(label) <= 3 and label.isdigit() and int(label) <= 255


#: Parsed URIs by text: a message parses each of its URIs once and keeps the result
#: (:class:`.message.Request`); across messages, a peer's Contact and our Record-Route repeat.
#: Errors are not kept.
_URIS: Final[Memo[str, SipUri]] = Memo()


def parse_uri(text: str) -> SipUri:
    """Parse a SIP/SIPS URI (RFC 3261 §19.1.1). Other schemes raise :class:`UnsupportedUriScheme`.
    The result is shared between callers: never modify it."""
    known = _URIS.get(text)
    return known if known is not None else _URIS.put(text, _parse_uri(text))


def _parse_uri(text: str) -> SipUri:
    scheme, colon, rest = text.partition(":")
    low = scheme.lower()
    if not colon or low not in ("sip", "sips"):
        if colon and low and low[0].isalpha():
            raise UnsupportedUriScheme(f"unsupported URI scheme {scheme[:40]!a}")
        raise ParseError(f"bad URI {text[:40]!a}")
    if any(ch in rest for ch in " \t<>"):
        raise ParseError("whitespace or angle bracket inside URI")
    user: str | None = None
    at = rest.find("@")
    if at >= 0:
        user = rest[:at]
        rest = rest[at + 1 :]
    headers: str | None = None
    q = rest.find("?")
    if q >= 0:
        headers = rest[q + 1 :]
        rest = rest[:q]
    semi = rest.find(";")
    params: list[tuple[str, str | None]] = []
    if semi >= 0:
        params = parse_params(rest[semi + 1 :], "URI")
        rest = rest[:semi]
    return SipUri(low, user, parse_hostport(rest), tuple(params), headers)
