"""Parsed SIP messages that keep their original bytes (RFC 3261 §7).

A message keeps every header line as received (name spelling, order, folding) so that
forwarding can copy it byte for byte and detection can fingerprint it. The fields the
proxy needs on every message (Via, CSeq, Call-ID, From/To tags) are parsed once, eagerly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .address import NameAddr
from .headers import NO_SPLIT, split_commas
from .via import Via


@dataclass(slots=True)
class Header:
    """One header line: original ``name`` spelling, canonical ``key``, unfolded ``value``.

    ``line`` is the exact wire text (latin-1, folding kept) including the final CRLF.
    """

    name: str
    key: str
    value: str
    line: str


@dataclass(slots=True, eq=False)
class Message:
    """Fields common to requests and responses."""

    headers: list[Header]
    body: bytes
    vias: list[Via]
    call_id: str
    cseq: int
    cseq_method: str
    from_: NameAddr
    to: NameAddr
    max_forwards: int | None = None
    raw: bytes = b""
    #: True when the message had no Content-Length (RFC 2543 style, UDP only, RFC 3261 §18.3).
    implicit_length: bool = False
    #: Loop-detection hash (RFC 3261 §16.3 step 4), filled in by the proxy once per request.
    loop_key: str | None = None
    _cache: dict[str, list[str]] = field(default_factory=dict, repr=False)

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

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag


@dataclass(slots=True, eq=False)
class Request(Message):
    """A request: ``METHOD uri SIP/2.0``."""

    method: str = ""
    uri: str = ""


@dataclass(slots=True, eq=False)
class Response(Message):
    """A response: ``SIP/2.0 status reason``."""

    status: int = 0
    reason: str = ""
