"""Sans-IO SIP message parser with RFC 3261 §18.3 framing for datagrams and streams.

``parse_datagram`` frames one UDP datagram; ``parse_stream`` takes bytes off the front of a
TCP buffer. Both return :class:`Request` or :class:`Response` objects that keep every
original header line, or raise a :class:`SipError` subclass whose ``status`` says how a
proxy answers (``None``: drop). Text is decoded as latin-1 so that bytes round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .address import NameAddr, parse_name_addr
from .errors import (
    BadResponse,
    Incomplete,
    NotImplementedMethod,
    ParseError,
    SipError,
    UnsupportedUriScheme,
    VersionNotSupported,
)
from .header import Header
from .headers import KEYS, SINGLE, header_key, is_ascii_digits, is_token, split_commas
from .message import Message, Request, Response, tag_of
from .uri import SipUri, parse_uri
from .via import parse_via

#: A split header section (RFC 3261 §7.3.1): its headers, the headers allowed once by key
#: (``SINGLE``: their first values), the Via values, and the key of the first single header that
#: came twice ("" when none).
Split = tuple[list[Header], dict[str, str], list[str], str]
#: The C build of :func:`_split_lines` (``_scan.c``), or None in a pure-Python install: it takes
#: the name cache, the single headers and the header type too, and answers None for what only
#: the Python path handles.
LinesSplitter = Callable[[str, dict[str, str], frozenset[str], type[Header]], Split | None]


def _c_lines() -> LinesSplitter | None:
    try:  # under another name: mypyc binds a function-level import in the module's globals
        from ._scan import split_lines as c_split_lines
    except ImportError:  # no C compiler at install time, or ANTIBOT_PURE=1
        return None
    return c_split_lines


C_LINES: Final = _c_lines()

#: Methods of RFC 3261 and its extensions; CSeq mismatch on others is a 501 (RFC 4475 §3.1.2.18).
KNOWN_METHODS: Final = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)
MAX_MESSAGE: Final = 65535
_CRLF2: Final = b"\r\n\r\n"
_MAX_CSEQ: Final = 2**32 - 1
_NAMES: Final = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "max-forwards": "Max-Forwards",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
    "from": "From",
    "to": "To",
    "via": "Via",
}


def parse_datagram(data: bytes) -> Request | Response:
    """Parse one UDP datagram (RFC 3261 §18.3).

    Without Content-Length the body is the rest of the datagram; bytes past Content-Length
    are discarded (RFC 4475 §3.1.2.8 ``dblreq``); a Content-Length beyond the datagram is a
    400 for a request and a silent discard for a response.
    """
    end = data.find(_CRLF2)
    if end < 0:
        if not data.endswith(b"\r\n"):
            raise ParseError("header section not terminated")
        end = len(data) - 2  # the datagram ends right after the last header line
        body_start = len(data)
    else:
        body_start = end + 4
    return _parse(data, end, body_start, stream=False)[0]


def parse_stream(buffer: bytes | bytearray) -> tuple[Request | Response, int]:
    """Parse the first message in a stream buffer; return it and the bytes it used.

    Raises :class:`Incomplete` when more bytes are needed. On streams Content-Length is
    mandatory (RFC 3261 §18.3, §20.14).
    """
    data = bytes(buffer)
    end = data.find(_CRLF2)
    if end < 0:
        if len(data) > MAX_MESSAGE:
            raise ParseError("header section too long")
        raise Incomplete("need more bytes")
    return _parse(data, end, end + 4, stream=True)


def _parse(data: bytes, end: int, body_start: int, *, stream: bool) -> tuple[Request | Response, int]:
    text = data[:end].decode("latin-1")
    first, _, head = text.partition("\r\n")
    is_response = first[:4].upper() == "SIP/"  # SIP-Version is case-insensitive (RFC 3261 §7.1)
    headers: list[Header] = []
    try:
        headers, singles, via_values, repeated = _split_headers(head)
        if repeated:
            raise ParseError(f"more than one {_NAMES[repeated]} header")
        msg = _build(first, headers, singles, via_values, is_response)
        common: Message = msg  # mypyc: a native attribute store (on the union it is a generic setattr)
        length_text = _content_length(singles)
        if length_text is None:
            if stream:
                raise ParseError("missing Content-Length on a stream transport")
            length = len(data) - body_start
            common.implicit_length = True
        else:
            length = length_text
            if body_start + length > len(data):
                if stream:
                    if body_start + length > MAX_MESSAGE:
                        raise ParseError("message too large")
                    raise Incomplete("need more bytes")
                raise ParseError("Content-Length larger than the datagram")
        common.body = data[body_start : body_start + length]
        common.raw = data[: body_start + length]
        return msg, body_start + length
    except Incomplete:
        raise
    except SipError as exc:
        if is_response and not isinstance(exc, BadResponse):
            raise BadResponse(f"discarded response: {exc.reason}") from exc
        exc.headers = headers
        raise


def _split_headers(head: str) -> Split:
    """Split the header section, collecting the Via values and the headers RFC 3261 §7.3.1
    allows once on the way (see :data:`Split`); every line is split even when a single header
    came twice: a 400 is built from them.

    The C splitter does the usual section (known names, no folding); anything else, or a pure
    install, takes :func:`_split_lines`, with the same result."""
    if C_LINES is not None:
        split = C_LINES(head, KEYS, SINGLE, Header)
        if split is not None:
            return split
    return _split_lines(head)


def _split_lines(head: str) -> Split:
    """:func:`_split_headers` in Python (the reference for ``_scan.c``)."""
    out: list[Header] = []
    singles: dict[str, str] = {}
    via_values: list[str] = []
    if not head:
        return out, singles, via_values, ""
    if "\r\n " in head or "\r\n\t" in head or head[0] in " \t":
        out = _split_folded(head)
        return out, singles, via_values, _classify(out, singles, via_values)
    keys = KEYS
    new = tuple.__new__
    repeated = ""
    for line in head.split("\r\n"):
        name, colon, value = line.partition(":")
        key = keys.get(name)
        if key is None:
            # A line that cannot be split leaves no headers at all (nothing to answer with).
            if not colon or not name:
                raise ParseError("header line without a name")
            name = name.rstrip(" \t")
            if not is_token(name):
                raise ParseError(f"bad header name {name[:30]!a}")
            key = header_key(name)
        value = value.strip()
        out.append(new(Header, (name, key, value, line + "\r\n")))  # mypyc: a list append, not a bound-method call
        if key == "via":
            via_values.append(value)
        elif key in SINGLE and not repeated:
            repeated = _single(singles, key, value)
    return out, singles, via_values, repeated


def _split_folded(head: str) -> list[Header]:
    """Slow path with line folding: continuation lines are one SP (RFC 3261 §7.3.1)."""
    headers: list[Header] = []
    lines = head.split("\r\n")
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        j = i + 1
        while j < n and lines[j][:1] in (" ", "\t"):
            j += 1
        colon = line.find(":")
        if colon <= 0:
            raise ParseError("header line without a name")
        name = line[:colon].rstrip(" \t")
        key = header_key(name)
        value = line[colon + 1 :]
        if j > i + 1:
            value = " ".join([value.strip(), *(part.strip() for part in lines[i + 1 : j])])
            raw = "\r\n".join(lines[i:j]) + "\r\n"
        else:
            raw = line + "\r\n"
        headers.append(Header(name, key, value.strip(), raw))
        i = j
    return headers


def _classify(headers: list[Header], singles: dict[str, str], via_values: list[str]) -> str:
    """The Via values and the single headers of a folded message (see :func:`_split_headers`)."""
    repeated = ""
    for h in headers:
        key = h.key
        if key == "via":
            via_values.append(h.value)
        elif key in SINGLE and not repeated:
            repeated = _single(singles, key, h.value)
    return repeated


def _single(singles: dict[str, str], key: str, value: str) -> str:
    """Record a header allowed once (RFC 3261 §7.3.1); its key when it came before (a second
    Content-Length of the same value is tolerated), else ""."""
    if key in singles:
        if key == "content-length" and singles[key] == value:
            return ""
        return key
    singles[key] = value
    return ""


def _build(
    first: str, headers: list[Header], singles: dict[str, str], via_values: list[str], is_response: bool
) -> Request | Response:
    if not via_values:
        raise ParseError("missing Via header")
    for key in ("from", "to", "call-id", "cseq"):
        if key not in singles:
            raise ParseError(f"missing {_NAMES[key]} header")
    top_text = via_values[0]
    top_via = parse_via(split_commas(top_text)[0] if "," in top_text else top_text)
    number, method = _cseq(singles["cseq"])
    call_id = singles["call-id"]
    if not call_id:
        raise ParseError("empty Call-ID")
    max_forwards = None
    mf = singles.get("max-forwards")
    if mf is not None:
        if not is_ascii_digits(mf) or len(mf) > 10 or int(mf) > 255:  # short: int() refuses 4300+ digits
            raise ParseError("bad Max-Forwards")
        max_forwards = int(mf)
    msg: Request | Response
    if is_response:
        parts = first.split(" ", 2)
        if len(parts) < 2 or parts[0].upper() != "SIP/2.0":
            raise BadResponse("bad status line")
        code = parts[1]
        if len(code) != 3 or not is_ascii_digits(code) or not 100 <= int(code) <= 699:
            raise BadResponse("bad status code")
        msg = Response(
            headers, top_via, via_values, call_id, number, method, singles["from"], singles["to"], max_forwards
        )
        msg.status = int(code)
        msg.reason = parts[2] if len(parts) > 2 else ""
        return msg
    req_method, uri, parsed_uri = _request_line(first)
    if method != req_method:
        if req_method in KNOWN_METHODS:
            raise ParseError("CSeq method does not match the request method")
        raise NotImplementedMethod("CSeq method does not match the request method")
    msg = Request(headers, top_via, via_values, call_id, number, method, singles["from"], singles["to"], max_forwards)
    msg.method = req_method
    msg.uri = uri
    msg.parsed_uri = parsed_uri
    msg._routes = None
    msg._parties = None
    if tag_of(singles["to"]) is not None:
        # In-dialog: RFC 3261 §16.3 step 1 - what forwarding does not use (From/To/Contact
        # syntax, Date) is left as it is; From/To are parsed on first use.
        return msg
    # Dialog-creating requests are validated in full (RFC 4475 §3.1.2): From/To/Contact, Date.
    msg._from = parse_name_addr(singles["from"], "From")
    msg._to = parse_name_addr(singles["to"], "To")
    for h in headers:
        if h.key == "contact":
            for value in split_commas(h.value):
                if value != "*":
                    parse_name_addr(value, "Contact")
        elif h.key == "date" and not h.value.rstrip().endswith("GMT"):
            raise ParseError("Date must be in GMT (RFC 3261 section 20.17)")
    return msg


def _request_line(first: str) -> tuple[str, str, SipUri | None]:
    """RFC 3261 §7.1: ``Method SP Request-URI SP SIP-Version`` with single spaces."""
    parts = first.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError("malformed request line")
    method, uri, version = parts
    if version.upper() != "SIP/2.0":  # case-insensitive (RFC 3261 §7.1)
        if version.upper().startswith("SIP/"):
            raise VersionNotSupported("SIP version not supported")
        raise ParseError("malformed request line")
    if not is_token(method):
        raise ParseError("bad method")
    if uri.startswith("<"):
        raise ParseError("Request-URI enclosed in <>")
    scheme = uri.partition(":")[0].lower()
    parsed = None
    if scheme in ("sip", "sips"):
        parsed = parse_uri(uri)
        if parsed.headers is not None:
            raise ParseError("Request-URI must not carry headers")
    elif scheme != "tel":
        if ":" not in uri:
            raise ParseError("malformed Request-URI")
        raise UnsupportedUriScheme(f"unsupported URI scheme {scheme[:40]!a}")
    return method, uri, parsed


#: Parsed CSeq values ("1 INVITE", "2 BYE" ... repeat endlessly; bounded).
_CSEQS: Final[dict[str, tuple[int, str]]] = {}


def _cseq(value: str) -> tuple[int, str]:
    known = _CSEQS.get(value)
    if known is None:
        known = _parse_cseq(value)
        if len(_CSEQS) >= 4096:
            _CSEQS.clear()
        _CSEQS[value] = known
    return known


def _parse_cseq(value: str) -> tuple[int, str]:
    number, _, method = value.strip().partition(" ")
    method = method.strip()
    if not is_ascii_digits(number) or not is_token(method):
        raise ParseError("malformed CSeq")
    if len(number) > 10 or int(number) > _MAX_CSEQ:
        raise ParseError("CSeq number larger than 2**32-1")
    return int(number), method


def _content_length(singles: dict[str, str]) -> int | None:
    value = singles.get("content-length")
    if value is None:
        return None
    value = value.strip()
    # ASCII digits only (str.isdigit() takes "¹²³", int() does not), and few: Python's int()
    # refuses strings of over 4300 digits, and 10 digits are more than any message holds.
    if not is_ascii_digits(value) or len(value) > 10:
        raise ParseError("bad Content-Length")
    return int(value)


__all__ = ["Message", "NameAddr", "parse_datagram", "parse_stream"]
