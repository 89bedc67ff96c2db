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
from .header import Header
from .headers import NO_SPLIT, TOKEN_STR, split_commas
from .uri import SipUri
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


class Request(Message):
    """A request: ``METHOD uri SIP/2.0``. ``parsed_uri`` is set for sip:/sips: URIs."""

    __slots__ = ("method", "uri", "parsed_uri")

    method: str
    uri: str
    parsed_uri: SipUri | None


class Response(Message):
    """A response: ``SIP/2.0 status reason``."""

    __slots__ = ("status", "reason")

    status: int
    reason: str


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
