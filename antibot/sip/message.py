"""Parsed SIP messages that keep their original bytes (RFC 3261 §7).

A message keeps every header line as received (name spelling, order, folding) so that
forwarding can copy it byte for byte and detection can fingerprint it. What the proxy needs
on every message (top Via, CSeq, Call-ID, tags) is parsed once; the rest (every other Via,
From/To of responses) is parsed on first use, because most messages never need it.
"""

from __future__ import annotations

import re
from typing import Final

from .address import NameAddr, parse_name_addr
from .errors import SipError
from .header import Header
from .headers import NO_SPLIT, TOKEN_STR, split_commas
from .uri import SipUri, parse_uri
from .via import Via, parse_via

_TAG: Final = re.compile(r";\s*tag\s*=\s*([^;\s,>]+)", re.IGNORECASE)


class Message:
    """Fields common to requests and responses."""

    __slots__ = (
        "headers",
        "body",
        "raw",
        "top_via",
        "call_id",
        "cseq",
        "cseq_method",
        "max_forwards",
        "implicit_length",
        "loop_key",
        "_via_values",
        "_vias",
        "_from_value",
        "_to_value",
        "_from",
        "_to",
        "_from_uri",
        "_to_uri",
        "_cache",
    )

    def __init__(
        self,
        headers: list[Header],
        top_via: Via,
        via_values: list[str],
        call_id: str,
        cseq: int,
        cseq_method: str,
        from_value: str,
        to_value: str,
        max_forwards: int | None,
    ) -> None:
        self.headers = headers
        self.body = b""
        self.raw = b""
        self.top_via = top_via
        self.call_id = call_id
        self.cseq = cseq
        self.cseq_method = cseq_method
        self.max_forwards = max_forwards
        #: True when the message had no Content-Length (RFC 2543 style, UDP only, RFC 3261 §18.3).
        self.implicit_length = False
        #: Loop-detection hash (RFC 3261 §16.3 step 4), filled in by the proxy once per request.
        self.loop_key: str | None = None
        self._via_values = via_values
        self._vias: list[Via] | None = None
        self._from_value = from_value
        self._to_value = to_value
        self._from: NameAddr | None = None
        self._to: NameAddr | None = None
        self._from_uri: SipUri | None | bool = False  # False: not parsed yet
        self._to_uri: SipUri | None | bool = False
        self._cache: dict[str, list[str]] = {}

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first (parsed on first use)."""
        if self._vias is None:
            values = [v for raw in self._via_values for v in split_commas(raw)]
            self._vias = [self.top_via, *(parse_via(v) for v in values[1:])]
        return self._vias

    @property
    def top_via_text(self) -> str:
        """The top Via value as received (the first value of the first Via line)."""
        first = self._via_values[0]
        return split_commas(first)[0] if "," in first else first

    @property
    def from_(self) -> NameAddr:
        if self._from is None:
            self._from = parse_name_addr(self._from_value, "From")
        return self._from

    @property
    def to(self) -> NameAddr:
        if self._to is None:
            self._to = parse_name_addr(self._to_value, "To")
        return self._to

    @property
    def from_uri(self) -> SipUri | None:
        """From's URI when it is a SIP/SIPS URI that parses, else None (parsed on first use)."""
        known = self._from_uri
        if known is False:
            known = self._from_uri = sip_uri_or_none(self.from_.uri)
        return known if isinstance(known, SipUri) else None

    @property
    def to_uri(self) -> SipUri | None:
        """To's URI when it is a SIP/SIPS URI that parses, else None (parsed on first use)."""
        known = self._to_uri
        if known is False:
            known = self._to_uri = sip_uri_or_none(self.to.uri)
        return known if isinstance(known, SipUri) else None

    @property
    def from_tag(self) -> str | None:
        return self._from.tag if self._from is not None else tag_of(self._from_value)

    @property
    def to_tag(self) -> str | None:
        return self._to.tag if self._to is not None else tag_of(self._to_value)

    def header(self, key: str) -> str | None:
        """First value of header ``key`` (canonical lower-case name), or None."""
        for h in self.headers:
            if h.key == key:
                return h.value
        return None

    def values(self, key: str) -> list[str]:
        """All comma-separated values of ``key`` across repeated header lines (RFC 3261 §7.3.1).

        Headers in :data:`NO_SPLIT` (Authorization, Date, User-Agent...) may hold unquoted
        commas, so each of their lines is one value.
        """
        cached = self._cache.get(key)
        if cached is None:
            cached = []
            for h in self.headers:
                if h.key == key:
                    if key in NO_SPLIT:
                        cached.append(h.value)
                    else:
                        cached.extend(split_commas(h.value))
            self._cache[key] = cached
        return cached

    def has(self, key: str) -> bool:
        return any(h.key == key for h in self.headers)


class Route:
    """One Route value (RFC 3261 §20.34), parsed once: its name-addr, and its URI when that is a
    SIP/SIPS URI. A value that does not parse keeps the error, for whoever needs it to parse."""

    __slots__ = ("value", "addr", "sip_uri", "error")

    def __init__(self, value: str) -> None:
        self.value = value
        self.addr: NameAddr | None = None
        self.sip_uri: SipUri | None = None
        self.error: SipError | None = None
        try:
            self.addr = parse_name_addr(value, "Route")
            self.sip_uri = parse_uri(self.addr.uri)
        except SipError as exc:
            self.error = exc

    @property
    def uri(self) -> str:
        """The URI text; raises the parse error of a value that is no name-addr."""
        if self.addr is None:
            assert self.error is not None
            raise self.error
        return self.addr.uri

    def parsed(self) -> SipUri:
        """The SIP/SIPS URI; raises the parse error when there is none."""
        if self.sip_uri is None:
            assert self.error is not None
            raise self.error
        return self.sip_uri


class Request(Message):
    """A request: ``METHOD uri SIP/2.0``. ``parsed_uri`` is set for sip:/sips: URIs."""

    __slots__ = ("method", "uri", "parsed_uri", "_routes", "_parties")

    method: str
    uri: str
    parsed_uri: SipUri | None
    _routes: list[Route] | None
    _parties: tuple[str, str] | None

    @property
    def routes(self) -> list[Route]:
        """Every Route value, top first, each parsed once (on first use)."""
        known = self._routes
        if known is None:
            known = self._routes = [Route(v) for v in self.values("route")]
        return known

    @property
    def parties(self) -> tuple[str, str]:
        """The user parts of the caller (From) and the callee (To, or the Request-URI when To
        has none), as received (escaped; ``""``: none); a tel: URI's user part is its number."""
        known = self._parties
        if known is None:
            callee = uri_user(self.to.uri, self.to_uri)
            if not callee:
                callee = uri_user(self.uri, self.parsed_uri)
            known = self._parties = (uri_user(self.from_.uri, self.from_uri), callee)
        return known


class Response(Message):
    """A response: ``SIP/2.0 status reason``."""

    __slots__ = ("status", "reason")

    status: int
    reason: str


def sip_uri_or_none(text: str) -> SipUri | None:
    """``text`` parsed when it is a SIP/SIPS URI, else None (another scheme, or a syntax error)."""
    try:
        return parse_uri(text)
    except SipError:
        return None


def uri_user(text: str, parsed: SipUri | None) -> str:
    """The user part (without password) of a SIP/SIPS URI (``parsed``: ``text`` parsed, None when
    it is not one) or the number of a tel: URI (RFC 3966 §3); ``""`` for anything else."""
    if parsed is not None:
        user = parsed.user
        if user is None:
            return ""
        end = user.find(":")
        return user if end < 0 else user[:end]
    scheme, colon, rest = text.strip().partition(":")
    if colon and scheme.lower() == "tel":
        semi = rest.find(";")
        return rest if semi < 0 else rest[:semi]
    return ""


def tag_of(value: str) -> str | None:
    """The tag parameter of a From/To value, without a full parse (RFC 3261 §19.3).

    The usual form, ``...>;tag=token`` as the first and last parameter, is read with string
    methods; any other form (white space, upper case, more parameters) goes to the regex.
    """
    gt = value.rfind(">")
    start = gt + 1 if gt >= 0 else 0
    semi = value.find(";", start)
    if semi < 0:
        return None  # every tag parameter starts with ';'
    if value.startswith(";tag=", semi):
        tag = value[semi + 5 :]
        if tag and not tag.strip(TOKEN_STR):
            return tag
    m = _TAG.search(value, start)
    return m.group(1) if m else None
