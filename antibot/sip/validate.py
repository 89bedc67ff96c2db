"""What a proxy must not forward or score: :func:`check_forwardable` (RFC 3261 §16.3 step 1).

The parser reads what routing needs (start line, top Via, CSeq, Call-ID, Max-Forwards,
Content-Length) and, for dialog-creating requests, the syntax of From/To/Contact. A proxy
that forwards the rest unread hands its next hop (the PBX) whatever it cannot parse, and the
detector reads more of the message than routing does. So before a request is routed or
scored, every header that forwarding and the detector use is checked here, with the
parsers of this package:

- every Via value (not only the top one) with its parameters (§20.42, §25.1 via-params);
- From, To, every Contact, Route, Record-Route and Path as name-addr/addr-spec (§20.10) whose
  URI is a valid SIP/SIPS URI with a valid host (:func:`~.uri.is_host`), a ``tel:`` URI
  (RFC 3966) or, outside INVITE, another absoluteURI (RFC 4475 §3.3.4);
- no bare CR or LF anywhere in the header section (§7.3.1: lines end with CRLF);
- the Call-ID is one printable word (§25.1 callid).

CSeq, Max-Forwards and Content-Length are already checked by the parser (ASCII digits, in
range). Anything wrong raises :class:`~.errors.SipError` with status 400.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from .address import NameAddr, parse_name_addr
from .errors import SipError
from .headers import TOKEN_STR, is_ascii_digits, is_token, split_commas
from .message import Request
from .uri import SipUri, is_host, parse_uri
from .via import Via

_ALNUM: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_UNRESERVED: Final = _ALNUM + "-_.!~*'()"
#: §25.1 user (unreserved, escaped, user-unreserved) and password characters; plus '#',
#: which phones send unescaped in dialled strings such as ``*21#``.
_USER_CHARS: Final = _UNRESERVED + "%&=+$,;?/:#"
#: §25.1 paramchar (pname and pvalue of uri-parameters).
_PARAM_CHARS: Final = _UNRESERVED + "%[]/:&+$"
#: §25.1 headers of a URI: hname "=" hvalue *( "&" ... ).
_URI_HEADER_CHARS: Final = _UNRESERVED + "%[]/?:+$=&"
#: gen-value = token / host / quoted-string (§25.1): token characters plus an IPv6 reference.
_GEN_VALUE_CHARS: Final = TOKEN_STR + "[]:"
#: RFC 3966 telephone-subscriber and its parameters, loosely: no white space, quotes or brackets.
_TEL_CHARS: Final = _UNRESERVED + "%+#;=&$,/:?[]@"
#: §25.1 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
_SCHEME_CHARS: Final = _ALNUM + "+-."
#: Characters an absoluteURI (§25.1) never holds unescaped.
_NOT_URIC: Final = frozenset(' \t"<>\\^`{|}')

#: The name-addr headers forwarding copies and the next hop parses.
_ROUTE_KEYS: Final = {"route": "Route", "record-route": "Record-Route", "path": "Path"}

#: Answers of :func:`_is_ip` (a proxy sees the same few received= addresses; bounded).
_IPS: Final[dict[str, bool]] = {}
#: SIP, SIPS and tel URI texts already found valid (bounded: cleared when full); their checks
#: do not depend on ``strict``.
_GOOD_URIS: Final[set[str]] = set()


def check_forwardable(req: Request) -> None:
    """Raise :class:`SipError` (400) when ``req`` must be neither forwarded nor scored."""
    try:
        _check(req)
    except SipError as exc:
        if exc.status == 400:
            raise
        # e.g. SIP/3.0 in a lower Via: the request itself is SIP/2.0, so not a 505 but a 400.
        raise SipError(exc.reason, 400) from exc


def _check(req: Request) -> None:
    _check_line_ends(req)
    call_id = req.call_id
    if not (call_id.isascii() and call_id.isprintable()) or " " in call_id:
        raise SipError("bad Call-ID", 400)
    for via in req.vias:  # parses every Via value; a bad one raises ParseError (a SipError)
        _check_via(via)
    strict = req.method == "INVITE"  # what the detector scores and a PBX builds a dialog from
    _check_uri(req.uri, "Request-URI", False, req.parsed_uri)
    _check_address(req.from_, "From", strict, req.from_uri)
    _check_address(req.to, "To", strict, req.to_uri)
    routes = 0  # Route values checked so far: the request parses each once (Request.routes)
    for h in req.headers:  # one pass: most requests have one Contact and no routes
        key = h.key
        if key == "contact":
            for value in split_commas(h.value):
                if value == "*":
                    if req.method != "REGISTER":  # RFC 3261 §10.2.2: "*" only de-registers
                        raise SipError("Contact '*' outside REGISTER", 400)
                    continue
                _check_address(parse_name_addr(value, "Contact"), "Contact", strict)
        elif key == "route":
            count = len(split_commas(h.value))
            for route in req.routes[routes : routes + count]:
                _check_route(route.addr, route.error, route.sip_uri, "Route")
            routes += count
        elif key in _ROUTE_KEYS:
            for value in split_commas(h.value):
                what = _ROUTE_KEYS[key]
                _check_route(parse_name_addr(value, what), None, None, what)


def _check_route(na: NameAddr | None, error: SipError | None, uri: SipUri | None, what: str) -> None:
    """A Route, Record-Route or Path value: name-addr with a SIP/SIPS URI (§20.30, §20.34).
    ``na`` None: the value is no name-addr (``error``); ``uri``: its URI parsed, when known."""
    if na is None:
        assert error is not None
        raise error
    if na.uri.partition(":")[0].lower() not in ("sip", "sips"):
        raise SipError(f"{what} URI must be a SIP or SIPS URI", 400)
    _check_address(na, what, True, uri)


def _check_line_ends(req: Request) -> None:
    """No bare CR or LF in the start line or any header line (RFC 3261 §7.3.1), e.g. in a quoted
    display name: the parser splits lines at CRLF only, but a next hop may split at LF."""
    raw = req.raw
    end = len(raw) - len(req.body)
    crlf = raw.count(b"\r\n", 0, end)
    if raw.count(b"\n", 0, end) != crlf or raw.count(b"\r", 0, end) != crlf:
        raise SipError("bare CR or LF in the header section", 400)


def _check_via(via: Via) -> None:
    """The via-params of one Via value (§20.42, §25.1, RFC 3581): every value a token, host or
    quoted string; branch a token, received an IP address, rport and ttl numbers, maddr a host."""
    for name, value in via.params:
        if value is None:
            if name in ("branch", "received", "ttl", "maddr"):
                raise SipError(f"Via {name} without a value", 400)
            continue
        # A token (or digits) is a valid gen-value: the common branch and rport need one scan.
        if name == "branch":
            if not is_token(value):
                _check_gen_value(value, "Via")
                raise SipError("bad Via branch", 400)
            continue
        if name == "rport":
            if not is_ascii_digits(value) or len(value) > 5 or int(value) > 65535:
                _check_gen_value(value, "Via")
                raise SipError("bad Via rport", 400)
            continue
        _check_gen_value(value, "Via")
        if name == "received":
            _check_ip(value)
        elif name == "ttl":
            if not is_ascii_digits(value) or len(value) > 3 or int(value) > 255:
                raise SipError("bad Via ttl", 400)
        elif name == "maddr" and not _is_host_or_ip(value):
            raise SipError("bad Via maddr", 400)


def _check_ip(value: str) -> None:
    """received = IPv4address / IPv6address (§20.42); RFC 5118 §4.5 also allows the brackets."""
    if not _is_ip(value[1:-1] if value.startswith("[") and value.endswith("]") else value):
        raise SipError("bad Via received", 400)


def _is_ip(text: str) -> bool:
    known = _IPS.get(text)
    if known is None:
        try:
            ipaddress.ip_address(text)
            known = True
        except ValueError:
            known = False
        if len(_IPS) >= 4096:
            _IPS.clear()
        _IPS[text] = known
    return known


def _is_host_or_ip(value: str) -> bool:
    """maddr = host (§25.1): a hostname, an IPv4 address or a bracketed IPv6 reference."""
    if value.startswith("["):
        return value.endswith("]") and ":" in value and _is_ip(value[1:-1])
    return is_host(value)


def _check_gen_value(value: str, what: str) -> None:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return  # a quoted-string: its quotes were matched by parse_params
    if value.strip(_GEN_VALUE_CHARS):
        raise SipError(f"bad parameter value in {what}", 400)


def _check_address(na: NameAddr, what: str, strict: bool, parsed: SipUri | None = None) -> None:
    for _, value in na.params:
        if value is not None:
            _check_gen_value(value, what)
    _check_uri(na.uri, what, strict, parsed)


def _check_uri(text: str, what: str, strict: bool, parsed: SipUri | None = None) -> None:
    """A SIP/SIPS URI parsed and checked in full, a tel: URI, or (unless ``strict``) another
    absoluteURI (RFC 4475 §3.3.4: a proxy forwards an isbn: To; the registrar refuses it).
    ``parsed``: ``text`` already parsed (a SIP/SIPS URI), when known."""
    if text in _GOOD_URIS:
        return
    scheme, colon, rest = text.partition(":")
    low = scheme.lower()
    if low in ("sip", "sips"):
        _check_sip_uri(text, what, parsed)
    elif low == "tel":
        if not rest or rest.strip(_TEL_CHARS):
            raise SipError(f"bad tel URI in {what}", 400)
    elif strict:
        raise SipError(f"{what} URI must be SIP, SIPS or tel", 400)
    elif (
        not colon
        or not scheme[:1].isalpha()
        or scheme.strip(_SCHEME_CHARS)
        or not rest
        or not (rest.isascii() and rest.isprintable())
        or not _NOT_URIC.isdisjoint(rest)
    ):
        raise SipError(f"bad URI in {what}", 400)
    else:
        return  # another scheme: valid where not ``strict`` only, so not remembered
    if len(_GOOD_URIS) >= 4096:
        _GOOD_URIS.clear()
    _GOOD_URIS.add(text)


def _check_sip_uri(text: str, what: str, uri: SipUri | None = None) -> None:
    """``uri``: ``text`` already parsed."""
    if uri is None:
        uri = parse_uri(text)  # host checked by parse_hostport; raises ParseError (400)
    if uri.user is not None and (not uri.user or uri.user.strip(_USER_CHARS)):
        raise SipError(f"bad user part in {what} URI", 400)
    for name, value in uri.params:
        if name.strip(_PARAM_CHARS) or (value is not None and value.strip(_PARAM_CHARS)):
            raise SipError(f"bad URI parameter in {what}", 400)
        if name == "maddr" and value is not None and not _is_host_or_ip(value):
            raise SipError(f"bad maddr in {what} URI", 400)
    if uri.headers is not None and uri.headers.strip(_URI_HEADER_CHARS):
        raise SipError(f"bad URI headers in {what}", 400)
