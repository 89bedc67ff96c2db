"""Via header values (RFC 3261 §20.42, §18.2.1 received, RFC 3581 rport)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParseError, VersionNotSupported
from .headers import is_token, parse_params
from .uri import HostPort, parse_hostport

MAGIC_COOKIE = "z9hG4bK"


@dataclass(unsafe_hash=True)
class Via:
    """One via-parm: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``."""

    transport: str
    sent_by: HostPort
    params: tuple[tuple[str, str | None], ...]
    #: The ``branch`` parameter (§8.1.1.7), looked up once: every transaction match needs it.
    branch: str | None

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value if value is not None else ""
        return None

    def response_address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where a response goes (RFC 3261 §18.2.2 with RFC 3581 §4): received, then rport."""
        host = self.param("received") or self.sent_by.host
        if host.startswith("["):
            host = host[1:-1]
        rport = self.param("rport")
        if rport:
            if not rport.isdigit():
                raise ParseError("bad rport")
            return host, int(rport)
        return host, self.sent_by.port or default_port


_PLAIN_VIA = re.compile(r"SIP/2\.0/([A-Za-z]+) ([^;\s]+)(?:;(.*))?")


def parse_via(value: str) -> Via:
    """Parse one via-parm (values already comma-split)."""
    plain = _PLAIN_VIA.fullmatch(value)
    if plain is not None and "[" not in value:
        params_text = plain.group(3)
        params = tuple(parse_params(params_text, "Via")) if params_text is not None else ()
        branch = _branch(params)
        if branch == MAGIC_COOKIE:
            raise ParseError("Via branch has no transaction identifier")
        return Via(plain.group(1).upper(), parse_hostport(plain.group(2)), params, branch)
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


def _branch(params: tuple[tuple[str, str | None], ...]) -> str | None:
    for key, value in params:
        if key == "branch":
            return value if value is not None else ""
    return None
