"""Message-form fingerprints: User-Agent, header order and spelling, Via, hosts, SDP (pure).

Bots are written once and replayed: their header order, spelling, spacing and SDP are fixed
by the tool, and usually rare among real phones. This module turns one INVITE into stable
hashes (for counting elsewhere) and into message-only features.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..sip.header import Header
from ..sip.memo import Memo
from ..sip.message import Request
from .lists import (
    CANONICAL_NAMES,
    DIALER_UAS,
    SCANNER_UAS,
    SDP_GENERIC_SESSION_NAMES,
    SDP_ODD_ORIGIN_USERS,
    SDP_TOOL_NAMES,
)
from .numbers import split_uri, uri_parts

MAGIC_COOKIE: Final = "z9hG4bK"
#: Max-Forwards outside [MIN, MAX] is odd: UAs send 70 (RFC 3261 §8.1.1.6), proxies decrement.
MAX_FORWARDS_MIN: Final = 20
MAX_FORWARDS_MAX: Final = 70
#: SIPVicious' branch: the cookie, a dash, then str(random.getrandbits(32)).
_DASH_DIGITS: Final = re.compile(r"z9hG4bK-[0-9]+")
_IDENTITY_KEYS: Final = ("p-asserted-identity", "p-preferred-identity", "remote-party-id", "identity")
#: Headers a stack adds call by call, from what it knows of the caller (asserted identity,
#: STIR/SHAKEN, the caller's privacy request): left out of the flow's stack hash.
PER_CALL_KEYS: Final = frozenset((*_IDENTITY_KEYS, "privacy"))


def _names_in(ua: str | None, names: tuple[str, ...]) -> bool:
    """A listed name occurs in ``ua`` (case-insensitive), not preceded by a letter or digit
    (so ``iwar`` does not fire inside another word)."""
    if not ua:
        return False
    low = ua.lower()
    for name in names:
        i = low.find(name)
        while i >= 0:
            if i == 0 or not low[i - 1].isalnum():
                return True
            i = low.find(name, i + 1)
    return False


def is_scanner_ua(ua: str | None) -> bool:
    """The User-Agent names a known SIP scanner/cracker (:data:`lists.SCANNER_UAS`)."""
    return _names_in(ua, SCANNER_UAS)


def is_dialer_ua(ua: str | None) -> bool:
    """The User-Agent is a call-automation SDK's default (:data:`lists.DIALER_UAS`)."""
    return _names_in(ua, DIALER_UAS)


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class HeaderShape:
    """What the header section looks like, apart from its values."""

    #: ``key/form+spacing`` per header line, consecutive repeats collapsed (see header_shape).
    tokens: tuple[str, ...]
    #: The same without :data:`PER_CALL_KEYS`: the stack's layout, whatever the caller.
    stack_tokens: tuple[str, ...]
    count: int
    compact: int
    odd_case: int
    odd_spacing: int
    keys: frozenset[str]
    to_before_from: bool

    def __init__(
        self,
        tokens: tuple[str, ...],
        stack_tokens: tuple[str, ...],
        count: int,
        compact: int,
        odd_case: int,
        odd_spacing: int,
        keys: frozenset[str],
        to_before_from: bool,
    ) -> None:
        self.tokens = tokens
        self.stack_tokens = stack_tokens
        self.count = count
        self.compact = compact
        self.odd_case = odd_case
        self.odd_spacing = odd_spacing
        self.keys = keys
        self.to_before_from = to_before_from

    @property
    def order_hash(self) -> str:
        """16 hex digits identifying the header order and form (stable across processes)."""
        return _hashed("|".join(self.tokens), 8)

    @property
    def stack_hash(self) -> str:
        """:attr:`order_hash` of the header order without the per-call headers (:data:`PER_CALL_KEYS`)."""
        return _hashed("|".join(self.stack_tokens), 8)


def _hashed(text: str, size: int) -> str:
    """``blake2b(text, digest_size=size)`` in hex, text encoded as latin-1 (others: ``?``)."""
    return hashlib.blake2b(text.encode("latin-1", "replace"), digest_size=size).hexdigest()


_FORMS: Final[dict[str, str]] = {}
_WS: Final = (" ", "\t")


def _form(name: str, key: str) -> str:
    """``c`` compact, ``n`` usual spelling, ``l`` lower, ``u`` upper, ``o`` other odd case."""
    form = _FORMS.get(name)
    if form is not None:
        return form
    canon = CANONICAL_NAMES.get(key)
    if len(name) == 1:
        form = "c"
    elif canon is not None and name == canon:
        form = "n"
    elif name.islower():
        form = "l"
    elif name.isupper():
        form = "u"
    else:
        form = "o" if canon is not None else "n"
    if len(_FORMS) < 4096:  # bounded: junk names cannot grow it
        _FORMS[name] = form
    return form


def _spacing(h: Header) -> str:
    """``""`` for ``Name: value``; else ``b`` space before the colon, ``0`` none after it,
    ``2`` several after, ``t`` a tab, ``f`` folded onto more lines."""
    line = h.line
    i = len(h.name)
    code = ""
    if line[i : i + 1] != ":":
        code = "b"
        while line[i : i + 1] in (" ", "\t"):
            i += 1
    j = i + 1
    while line[j : j + 1] in (" ", "\t"):
        j += 1
    gap = line[i + 1 : j]
    if gap != " ":
        code += "0" if not gap else ("t" if "\t" in gap else "2")
    if line.find("\r\n") < len(line) - 2:
        code += "f"
    return code


def header_shape(req: Request) -> HeaderShape:
    """One pass over the header lines: tokens for the order hash, and form counts."""
    tokens: list[str] = []
    stack: list[str] = []
    compact = odd_case = odd_spacing = 0
    keys: set[str] = set()
    first_from = first_to = -1
    last = ""
    for index, h in enumerate(req.headers):
        key = h.key
        keys.add(key)
        name = h.name
        form = _FORMS.get(name) or _form(name, key)
        line = h.line
        n = len(name)
        if line[n : n + 2] == ": " and line[n + 2 : n + 3] not in _WS and line.find("\r\n") == len(line) - 2:
            spacing = ""  # the usual "Name: value", decided without _spacing's loops
        else:
            spacing = _spacing(h)
        if form == "c":
            compact += 1
        elif form != "n" and key in CANONICAL_NAMES:
            # Only names with a standard spelling can be misspelt: vendors write extension
            # headers as they like (Sippy's "cisco-GUID", "h323-conf-id"), so those stay in the
            # order hash (as l/u/o forms) but say nothing about hand-written stacks.
            odd_case += 1
        if spacing and key != "content-length":
            # PJSIP and SIPp pad Content-Length ("Content-Length:   485") so they can fill it in
            # later: common in real phones, so it says nothing about bots.
            odd_spacing += 1
        if key == "from":
            if first_from < 0:
                first_from = index
        elif key == "to" and first_to < 0:
            first_to = index
        token = f"{key}/{form}{spacing}"
        if token != last:
            tokens.append(token)
            last = token
        if key not in PER_CALL_KEYS and (not stack or stack[-1] != token):
            stack.append(token)
    return HeaderShape(
        tuple(tokens),
        tuple(stack),
        len(req.headers),
        compact,
        odd_case,
        odd_spacing,
        frozenset(keys),
        first_to < first_from,  # both mandatory, so both found
    )


def header_order_hash(req: Request) -> str:
    """Hash of the sequence of canonical keys with their spelling form and colon spacing."""
    return header_shape(req).order_hash


def ua_fingerprint(req: Request, order_hash: str | None = None) -> str:
    """12 hex digits: the User-Agent text together with the header-order hash.

    Two clients with the same UA string but different stacks (a spoofed "Cisco" UA) get
    different fingerprints; the Observation counts calls per fingerprint.
    """
    ua = req.header("user-agent") or ""
    if order_hash is None:
        order_hash = header_order_hash(req)
    return _hashed(f"{ua}\x00{order_hash}", 6)


def stack_fingerprint(req: Request, stack_hash: str | None = None) -> str:
    """12 hex digits: the User-Agent text with the header order less the headers a stack adds
    call by call (:data:`PER_CALL_KEYS`): what a flow is keyed on. A carrier's SBC asserts
    or signs the caller's identity on some calls and not others, and its calls are still one
    stack's (:func:`ua_fingerprint` keeps them apart, for the counters and the model)."""
    ua = req.header("user-agent") or ""
    if stack_hash is None:
        stack_hash = header_shape(req).stack_hash
    return _hashed(f"{ua}\x00{stack_hash}", 6)


#: _ip_kind's answers: the same few peers, and ``ipaddress`` is slow.
_IP_KINDS: Final[Memo[str, str]] = Memo()


def _ip_kind(host: str) -> str:
    """``""`` not an IP literal, ``null`` 0.0.0.0/::, ``global``, or ``local`` (private etc.)."""
    kind = _IP_KINDS.get(host)
    return kind if kind is not None else _IP_KINDS.put(host, _classify_ip(host))


def _classify_ip(host: str) -> str:
    if not host or not (host[0] in "0123456789" or ":" in host):  # ASCII: str.isdigit() takes "²"
        return ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if ip.is_unspecified:
        return "null"
    return "global" if ip.is_global else "local"


def _elsewhere(hosts: Sequence[str], kinds: list[str], kind: str, source_ip: str) -> bool:
    """Whether a host of this ``kind`` (``kinds[i]`` is ``hosts[i]``'s) is not ``source_ip``
    (an index loop: ``zip(strict=True)`` is a generic call under mypyc)."""
    return any(kinds[i] == kind and not same_ip(hosts[i], source_ip) for i in range(len(hosts)))


def same_ip(a: str, b: str) -> bool:
    """Equal addresses, comparing IPv6 in canonical form."""
    if a == b:
        return True
    if ":" in a and ":" in b:
        try:
            return ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b.strip("[]"))
        except ValueError:
            return False
    return False


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class SdpTraits:
    """The few SDP facts the features use (``codecs``: formats on the first m=audio line)."""

    present: bool
    codecs: int
    telephone_event: bool
    session_name: str | None
    origin_user: str | None
    connections: tuple[str, ...]

    def __init__(
        self,
        present: bool = False,
        codecs: int = 0,
        telephone_event: bool = False,
        session_name: str | None = None,
        origin_user: str | None = None,
        connections: tuple[str, ...] = (),
    ) -> None:
        self.present = present
        self.codecs = codecs
        self.telephone_event = telephone_event
        self.session_name = session_name
        self.origin_user = origin_user
        self.connections = connections


def sdp_traits(body: bytes, content_type: str | None) -> SdpTraits:
    """Parse just enough SDP (RFC 4566): o= user, s=, c= addresses, the first audio m= line.

    The SDP is found by Content-Type application/sdp or, inside a multipart body, by its
    ``v=0`` line; a multipart boundary line ends it.
    """
    if not body:
        return SdpTraits()
    text = body.decode("latin-1")
    if content_type and "application/sdp" in content_type.lower():
        start = 0
    else:
        start = text.find("v=0")
        if start < 0:
            return SdpTraits()
    codecs = -1
    event = False
    session: str | None = None
    origin: str | None = None
    conns: list[str] = []
    for line in text[start:].splitlines():
        if len(line) < 2 or line[1] != "=":
            if line.startswith("--"):
                break
            continue
        kind = line[0]
        value = line[2:]
        if kind == "a":
            if value.startswith("rtpmap:") and "telephone-event" in value.lower():
                event = True
        elif kind == "m":
            if codecs < 0 and value.startswith("audio"):
                codecs = max(0, len(value.split()) - 3)
        elif kind == "c":
            parts = value.split()
            if len(parts) >= 3:
                conns.append(parts[2].split("/", 1)[0].lower())
        elif kind == "o":
            parts = value.split()
            origin = parts[0] if parts else ""
        elif kind == "s":
            session = value.strip()
    return SdpTraits(True, max(codecs, 0), event, session, origin, tuple(conns))


def message_features(req: Request, source_ip: str, shape: HeaderShape | None = None) -> dict[str, float]:
    """The form features of :mod:`antibot.detect.features` (see its table)."""
    if shape is None:
        shape = header_shape(req)
    keys = shape.keys
    ua = req.header("user-agent")
    # The top Via, parsed with the message: the lower ones are parsed on demand and could raise.
    branch = req.top_via.branch or ""
    suffix = branch[len(MAGIC_COOKIE) :].lstrip("-") if branch.startswith(MAGIC_COOKIE) else ""
    mf = req.max_forwards
    content_type = req.header("content-type")

    _, from_host, from_pw = uri_parts(req.from_.uri, req.from_uri)
    _, to_host, _ = uri_parts(req.to.uri, req.to_uri)
    _, ruri_host, ruri_pw = uri_parts(req.uri, req.parsed_uri)
    contact = req.values("contact")
    contact_host = ""
    contact_pw = False
    if contact and contact[0] != "*":
        lt = contact[0].find("<")
        uri = contact[0][lt + 1 : contact[0].find(">", lt)] if lt >= 0 else contact[0].split(";", 1)[0]
        _, contact_host, contact_pw = split_uri(uri)
    via_host = req.top_via.sent_by.host

    sdp = sdp_traits(req.body, content_type)
    conn_kinds = [_ip_kind(c) for c in sdp.connections]
    from_kind = _ip_kind(from_host)
    contact_kind = _ip_kind(contact_host)
    # A non-global address (RFC 1918, CGNAT, link-local...) where the sender says it lives
    # (Via sent-by, Contact, SDP c=) that is not where the packet came from: a phone behind
    # NAT. Common for people, rare for scanners on rented servers. (From's host is a domain.)
    nat = _elsewhere(
        [via_host, contact_host, *sdp.connections], [_ip_kind(via_host), contact_kind, *conn_kinds], "local", source_ip
    )
    session = (sdp.session_name or "").lower()
    origin = (sdp.origin_user or "").lower()
    return {
        "ua_scanner": float(is_scanner_ua(ua)),
        "ua_dialer": float(is_dialer_ua(ua)),
        "no_user_agent": float(not ua),
        "hdr_count": float(shape.count),
        "hdr_compact": float(shape.compact),
        "hdr_odd_case": float(shape.odd_case),
        "hdr_odd_spacing": float(shape.odd_spacing),
        "hdr_to_before_from": float(shape.to_before_from),
        "via_branch_rfc3261": float(branch.startswith(MAGIC_COOKIE)),
        "via_branch_numeric": float(suffix.isascii() and suffix.isdigit()),
        "via_branch_dash_digits": float(_DASH_DIGITS.fullmatch(branch) is not None),
        "max_forwards": float(mf) if mf is not None else -1.0,
        "max_forwards_odd": float(mf is None or not MAX_FORWARDS_MIN <= mf <= MAX_FORWARDS_MAX),
        "no_contact": float("contact" not in keys),
        "no_allow": float("allow" not in keys),
        "no_supported": float("supported" not in keys),
        "body_no_content_type": float(bool(req.body) and not content_type),
        "to_tag": float(req.to.tag is not None),
        "from_no_tag": float(not req.from_.tag),
        "has_identity": float(any(k in keys for k in _IDENTITY_KEYS)),
        "uri_password": float(from_pw or ruri_pw or contact_pw),
        "from_host_ip": float(from_kind != ""),
        "from_host_ip_mismatch": float(from_kind == "global" and not same_ip(from_host, source_ip)),
        "contact_ip_mismatch": float(contact_kind == "global" and not same_ip(contact_host, source_ip)),
        "from_host_is_callee": float(
            bool(from_host) and from_host in (to_host, ruri_host) and not same_ip(from_host, source_ip)
        ),
        "nat_private_addr": float(nat),
        "sdp_present": float(sdp.present),
        "sdp_codecs": float(sdp.codecs),
        "sdp_telephone_event": float(sdp.telephone_event),
        "sdp_generic_session": float(sdp.present and session in SDP_GENERIC_SESSION_NAMES),
        "sdp_odd_origin": float(sdp.present and origin in SDP_ODD_ORIGIN_USERS),
        "sdp_tool_name": float(session in SDP_TOOL_NAMES or origin in SDP_TOOL_NAMES),
        "sdp_conn_mismatch": float(_elsewhere(sdp.connections, conn_kinds, "global", source_ip)),
        "sdp_conn_null": float(sdp.present and (not conn_kinds or "null" in conn_kinds)),
    }
