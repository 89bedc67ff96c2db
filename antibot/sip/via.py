"""Via header values (RFC 3261 §20.42, §18.2.1 received, RFC 3581 rport)."""

from __future__ import annotations

from typing import Final

from .errors import ParseError, VersionNotSupported
from .headers import NOT_PLAIN, is_ascii_digits, is_token, parse_params, plain_param
from .uri import HostPort, parse_hostport

MAGIC_COOKIE: Final = "z9hG4bK"


Params = tuple[tuple[str, str | None], ...]


class Via:
    """One via-parm: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``.

    ``branch`` (§8.1.1.7) is read at parse time: every transaction match needs it. The other
    parameters were checked against the plain grammar then and are split on first use: most
    Vias (every response's) never need them.
    """

    __slots__ = ("transport", "sent_by", "branch", "_text", "_params")

    def __init__(
        self, transport: str, sent_by: HostPort, params: Params | None, branch: str | None, text: str = ""
    ) -> None:
        self.transport = transport
        self.sent_by = sent_by
        self.branch = branch
        self._text = text
        self._params = params

    @property
    def params(self) -> Params:
        if self._params is None:
            self._params = tuple(parse_params(self._text, "Via")) if self._text else ()
        return self._params

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value if value is not None else ""
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return (self.transport, self.sent_by, self.params, self.branch) == (
            other.transport,
            other.sent_by,
            other.params,
            other.branch,
        )

    def __hash__(self) -> int:
        return hash((self.transport, self.sent_by, self.params))

    def __repr__(self) -> str:
        return f"Via({self.transport!r}, {self.sent_by!r}, {self.params!r})"

    def response_address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where a response goes (RFC 3261 §18.2.2 with RFC 3581 §4): received, then rport."""
        host = self.param("received") or self.sent_by.host
        if host.startswith("["):
            host = host[1:-1]
        rport = self.param("rport")
        if rport:
            if not is_ascii_digits(rport) or len(rport) > 5 or int(rport) > 65535:
                raise ParseError("bad rport")
            return host, int(rport)
        return host, self.sent_by.port or default_port


def parse_via(value: str) -> Via:
    """Parse one via-parm (values already comma-split)."""
    # The common form, ``SIP/2.0/UDP host:port;name=value;flag``, without a regex: one space,
    # an ASCII transport, a sent-by without white space or brackets; anything else (LWS,
    # comments, IPv6, odd characters) takes the general path below.
    sp = value.find(" ", 8)
    if value.startswith("SIP/2.0/") and sp > 8 and "[" not in value and "\n" not in value:
        transport = value[8:sp]
        semi = value.find(";", sp + 1)
        hostport = value[sp + 1 :] if semi < 0 else value[sp + 1 : semi]
        if transport.isascii() and transport.isalpha() and hostport and " " not in hostport and hostport.isprintable():
            if semi < 0:
                return Via(transport.upper(), parse_hostport(hostport), (), None)
            params_text = value[semi + 1 :]
            params: Params | None = None
            branch = plain_param(params_text, "branch")
            if branch == NOT_PLAIN:
                params = tuple(parse_params(params_text, "Via"))
                branch = _branch(params)
            if branch == MAGIC_COOKIE:
                raise ParseError("Via branch has no transaction identifier")
            return Via(transport.upper(), parse_hostport(hostport), params, branch, params_text)
    return _parse_general(value)


def _parse_general(value: str) -> Via:
    """Any via-parm: LWS around the separators, IPv6 references, quoted parameters."""
    proto, _, rest = value.partition("/")
    version, _, rest = rest.partition("/")
    if proto.strip().upper() != "SIP":
        raise ParseError("bad Via protocol")
    if version.strip() != "2.0":
        raise VersionNotSupported("SIP version not supported")
    rest = rest.lstrip()
    i = 0
    n = len(rest)
    while i < n and rest[i] not in " \t":
        i += 1
    transport = rest[:i].upper()
    if not is_token(transport):
        raise ParseError("bad Via transport")
    rest = rest[i:].strip()
    semi = rest.find(";")
    hostport, params_text = (rest, "") if semi < 0 else (rest[:semi], rest[semi + 1 :])
    hostport = "".join(hostport.split())
    if not hostport:
        raise ParseError("Via without sent-by")
    sent_by = parse_hostport(hostport)
    params = tuple(parse_params(params_text, "Via")) if semi >= 0 else ()
    branch = _branch(params)
    if branch is not None and branch == MAGIC_COOKIE:
        # RFC 4475 §3.2.1: the magic cookie alone identifies no transaction.
        raise ParseError("Via branch has no transaction identifier")
    return Via(transport, sent_by, params, branch)


def _branch(params: Params) -> str | None:
    for key, value in params:
        if key == "branch":
            return value if value is not None else ""
    return None


#: Where a connection may be reused to: (transport, host, port) of a Via's sent-by, lower case,
#: IPv6 without brackets, the transport's default port filled in.
AliasKey = tuple[str, str, int]


def alias_target(via: Via) -> AliasKey | None:
    """The address a Via's ``alias`` parameter offers its connection for (RFC 5923):
    its sent-by, with the transport's default port (5061 for TLS, §19.1.2); None without
    ``alias`` or when the parameters do not parse."""
    try:
        if via.param("alias") is None:
            return None
    except ParseError:
        return None
    transport = via.transport.lower()
    port = via.sent_by.port or (5061 if transport == "tls" else 5060)
    return transport, via.sent_by.host.lower(), port
