"""One error hierarchy for everything that can be wrong with a SIP message.

Each error carries the status a proxy should answer with (RFC 3261 §16.3, §21.4), or
``None`` when no response can or should be routed (a bad response, RFC 3261 §18.1.2, or a
message whose Via cannot be read). The reason phrase is meant for the wire.
"""

from __future__ import annotations

from .header import Header


class SipError(Exception):
    """A message was refused. ``status`` is the response hint; ``None`` means drop silently."""

    status: int | None = 400

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: Header lines read before the error, so a proxy can still route a 400 by Via.
        self.headers: list[Header] = []
        if status is not None:
            self.status = status

    @property
    def code(self) -> str:
        """Short machine-readable name, e.g. for logs and tests."""
        return type(self).__name__


class ParseError(SipError):
    """Syntax error (RFC 3261 §25 grammar): answered with 400 Bad Request."""


class VersionNotSupported(SipError):
    """SIP version other than 2.0 (RFC 3261 §8.2.2... §21.5.20): 505."""

    status = 505


class UnsupportedUriScheme(SipError):
    """Request-URI scheme the proxy cannot route (RFC 3261 §8.2.2.1, §21.4.14): 416."""

    status = 416


class NotImplementedMethod(SipError):
    """Unknown method whose CSeq does not match the request line (RFC 4475 §3.1.2.18): 501."""

    status = 501


class BadResponse(SipError):
    """A malformed response: silently discarded (RFC 3261 §18.1.2, RFC 4475 §3.1.2.5)."""

    status = None


class Incomplete(SipError):
    """A stream holds only part of a message so far (RFC 3261 §18.3): wait for more bytes."""

    status = None
