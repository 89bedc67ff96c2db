"""Header-field helpers: names, compact forms, value splitting and parameters (RFC 3261 §7.3, §25.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .errors import ParseError

#: RFC 3261 §7.3.3 compact forms, plus the later ones from the IANA SIP parameters registry.
COMPACT: Final[dict[str, str]] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

#: Headers that RFC 3261 §7.3.1 allows only once (a second value is a 400, RFC 4475 §3.3.8).
SINGLE: Final = frozenset({"call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type"})

#: Headers whose values may legally hold unquoted commas, so they are never comma-split (§7.3.1).
NO_SPLIT: Final = frozenset(
    {
        "www-authenticate",
        "authorization",
        "proxy-authenticate",
        "proxy-authorization",
        "date",
        "subject",
        "user-agent",
        "server",
        "warning",
        "call-id",
        "cseq",
        "from",
        "to",
        "content-type",
        "retry-after",
        "organization",
        "timestamp",
    }
)

#: RFC 3261 §25.1 token characters, for ``str.strip`` (cheaper than a regex per message).
TOKEN_STR: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~"
#: Header names seen before, mapped to their canonical key (bounded so junk can't grow it).
KEYS: Final[dict[str, str]] = {}


def header_key(name: str) -> str:
    """Canonical key of a header name, validating it as a token (RFC 3261 §7.3.1)."""
    key = KEYS.get(name)
    if key is None:
        if not is_token(name):
            raise ParseError(f"bad header name {name[:30]!a}")
        key = canonical(name)
        if len(KEYS) < 4096:
            KEYS[name] = key
    return key


def canonical(name: str) -> str:
    """Lower-case long form of a header name: ``v`` and ``VIA`` both become ``via``."""
    low = name.lower()
    return COMPACT.get(low, low) if len(low) == 1 else low


def is_ascii_digits(text: str) -> bool:
    """True when ``text`` is one or more ASCII digits (RFC 3261 §25.1 ``1*DIGIT``).

    ``str.isdigit()`` alone also accepts "¹²³" and other Unicode digits, which ``int()``
    refuses: every number read from the wire goes through this check instead.
    """
    return text.isascii() and text.isdigit()


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 §25.1 token."""
    return bool(text) and not text.strip(TOKEN_STR)


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets (RFC 3261 §7.3.1)."""
    if "," not in value:
        return [value.strip()]
    if '"' not in value:
        # Fast path: re-join the pieces of a comma that sits inside <...>.
        out: list[str] = []
        buf: str | None = None
        for piece in value.split(","):
            buf = piece if buf is None else f"{buf},{piece}"
            if buf.count("<") <= buf.count(">"):
                out.append(buf.strip())
                buf = None
        if buf is not None:
            out.append(buf.strip())
        return out
    parts: list[str] = []
    start = 0
    quoted = False
    angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    if quoted:
        raise ParseError("unterminated quoted string")
    parts.append(value[start:].strip())
    return parts


#: What :func:`plain_param` returns for a list that is not plain (plain values are printable,
#: so no parameter value can be it).
NOT_PLAIN: Final = "\x00"


def _c_plain_param() -> Callable[[str, str, str], str | None] | None:
    try:  # under another name: mypyc binds a function-level import in the module's globals
        from ._scan import plain_param as c_plain_param
    except ImportError:  # no C compiler at install time, or ANTIBOT_PURE=1
        return None
    return c_plain_param


#: The C build of :func:`_plain_param` (``_scan.c``), or None in a pure-Python install.
C_PLAIN_PARAM: Final = _c_plain_param()


def plain_param(text: str, wanted: str) -> str | None:
    """The value of the first parameter named ``wanted`` (lower case; "" for a flag) in a plain
    list (see :func:`is_plain_params`), None when absent, :data:`NOT_PLAIN` when the list is not
    plain: the check and the lookup in one pass (in C when built)."""
    if C_PLAIN_PARAM is not None:
        return C_PLAIN_PARAM(text, wanted, NOT_PLAIN)
    return _plain_param(text, wanted)


def _plain_param(text: str, wanted: str) -> str | None:
    """:func:`plain_param` in Python (the reference for ``_scan.c``)."""
    found: str | None = None
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name or name.strip(TOKEN_STR):
            return NOT_PLAIN
        if eq and (not value or '"' in value or " " in value or not value.isprintable()):
            return NOT_PLAIN
        if found is None and len(name) == len(wanted) and name.lower() == wanted:
            found = value
    return found


def is_plain_params(text: str) -> bool:
    """True for the common ``name[=value]`` list without quotes or LWS (valid for :func:`parse_params`):
    token names, values without ``;``, ``"`` or white space (control characters also send a list
    down the general path)."""
    return plain_param(text, "") != NOT_PLAIN


def parse_params(text: str, what: str) -> list[tuple[str, str | None]]:
    """Parse ``;name=value;flag`` (text starts after the first ``;``) per RFC 3261 §25.1 generic-param.

    Empty parameters (``;;``) are refused (RFC 4475 §3.1.2.1).
    """
    out: list[tuple[str, str | None]] = []
    if not text:
        return out
    if is_plain_params(text):
        for item in text.split(";"):
            name, eq, val = item.partition("=")
            out.append((name.lower(), val if eq else None))
        return out
    for raw in _split_semicolons(text):
        item = raw.strip()
        if not item:
            raise ParseError(f"empty parameter in {what}")
        name, eq, val = item.partition("=")
        name = name.strip()
        if not is_token(name):
            raise ParseError(f"bad parameter name in {what}")
        if eq:
            val = val.strip()
            if not val:
                raise ParseError(f"empty parameter value in {what}")
            out.append((name.lower(), val))
        else:
            out.append((name.lower(), None))
    return out


def _split_semicolons(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    parts: list[str] = []
    start = 0
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == ";":
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise ParseError("unterminated quoted string in parameter")
    parts.append(text[start:])
    return parts
