"""SIP text builders for the simulator: one request per call, in the wire form of a given UA.

A :class:`Style` is the wire habit of one User-Agent family: the ORDER and FORM of its header
lines (long or compact names, quoted or bare display names, ``;user=phone`` ...), how it makes
branches, tags and Call-IDs, its ``Allow``/``Supported`` sets and its SDP. A :class:`Spec` is
what the call is about (who calls whom, from which local address). :func:`build` renders one
into bytes with CRLF line endings and an exact ``Content-Length``; :func:`cancel_for` derives
the CANCEL a UA sends for one of its INVITEs (RFC 3261 §9.1: same Request-URI, Via, From, To,
Call-ID and CSeq number). Everything random comes from the caller's ``random.Random``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

IdFn = Callable[[random.Random, "Spec"], str]

#: Seconds between the NTP epoch (1900) and the Unix epoch: SDP ``o=`` lines often use NTP time.
NTP_OFFSET = 2208988800
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Spec:
    """One request to render. ``local_ip``/``local_port`` are the UA's own idea of its address
    (what it writes in Via, Contact and SDP), which behind NAT differs from the source address.
    """

    method: str
    ruri_user: str  #: user part of the Request-URI ("" for REGISTER: ``sip:host``)
    target: str  #: host of the Request-URI and To
    from_user: str
    from_host: str
    local_ip: str
    local_port: int
    ts: float = 0.0  #: for ``Date`` headers and NTP-based SDP session ids
    display: str | None = None
    to_user: str | None = None  #: defaults to ``ruri_user``
    anonymous: bool = False  #: RFC 3323 anonymous From (``sip:anonymous@anonymous.invalid``)
    cseq: int | None = None  #: None: the style's habit
    ua: str | None = None  #: None: the style's User-Agent; "": no User-Agent header
    sdp: bool = True  #: INVITEs only
    sdp_template: str | None = None  #: overrides the style's SDP (e.g. a scanner's junk SDP)
    max_forwards: int = 70
    extra: tuple[tuple[str, str], ...] = ()  #: headers placed at the style's ``{extra}`` slot


@dataclass(frozen=True)
class Style:
    """The wire habits of one UA family. ``lines`` are header templates in the UA's order.

    Template fields: method, cseq, branch, tag, call_id, via (sent-by), lip, lport, fdisp
    (rendered display name, may be empty), tdisp, fuser, fhost, tuser, thost, ua, clen, date,
    mf (Max-Forwards), rand (16 hex digits), uuid, guid, digest (a Proxy-Authorization value).
    A line that is exactly ``{extra}`` receives :attr:`Spec.extra`; lines using ``{ua}`` vanish
    when there is no User-Agent; Content-Type/Content-Disposition lines when there is no body.
    """

    name: str
    ua: str
    lines: tuple[str, ...]
    branch: IdFn
    tag: IdFn
    call_id: IdFn
    sdp: str = ""
    display: str = '"{}" '  #: how a display name precedes ``<uri>``; "" drops display names
    ruri: str = "sip:{user}@{host}"
    cseq: Callable[[random.Random], int] = field(default=lambda rng: 1)
    rtp: tuple[int, int] = (10000, 20000)
    port_in_via: bool = True  #: False: omit ``:5060`` from the Via sent-by (sofia-sip habit)
    used: frozenset[str] = frozenset()  #: the optional template fields the lines use


def digits(rng: random.Random, n: int) -> str:
    """``n`` decimal digits, the first one non-zero."""
    return str(rng.randrange(10 ** (n - 1), 10**n))


def hexs(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_ALNUM, k=n))


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (not from the OS)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _text(lines: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in lines.strip().splitlines())


def _sdp_text(lines: str) -> str:
    return "\r\n".join(_text(lines)) + "\r\n"


def style(
    name: str,
    ua: str,
    lines: str,
    branch: IdFn,
    tag: IdFn,
    call_id: IdFn,
    sdp: str = "",
    *,
    display: str = '"{}" ',
    ruri: str = "sip:{user}@{host}",
    cseq: Callable[[random.Random], int] | None = None,
    rtp: tuple[int, int] = (10000, 20000),
    port_in_via: bool = True,
) -> Style:
    """Make a :class:`Style` from a header block (one template per line) and an SDP block."""
    text = _text(lines)
    used = frozenset(f for line in text for _, f, _, _ in string.Formatter().parse(line) if f in _OPTIONAL)
    return Style(
        name,
        ua,
        text,
        branch,
        tag,
        call_id,
        _sdp_text(sdp) if sdp else "",
        display=display,
        ruri=ruri,
        cseq=cseq or _one,
        rtp=rtp,
        port_in_via=port_in_via,
        used=used,
    )


def _one(rng: random.Random) -> int:
    return 1


def cseq_habit(lo: int, hi: int | None = None) -> Callable[[random.Random], int]:
    """A UA's first CSeq: always ``lo``, or random in ``lo..hi``."""

    def cseq(rng: random.Random) -> int:
        return lo if hi is None else rng.randint(lo, hi)

    return cseq


#: Template fields that cost random draws or time, computed only for styles that use them.
_OPTIONAL = frozenset({"date", "rand", "uuid", "guid", "digest"})
_NO_BODY_KEYS = ("content-type", "content-disposition", "c:")


def build(st: Style, spec: Spec, rng: random.Random) -> bytes:
    """Render ``spec`` as ``st`` would send it: CRLF line endings, exact Content-Length."""
    user_agent = st.ua if spec.ua is None else spec.ua
    display: str | None
    if spec.anonymous:
        fuser, fhost, display = "anonymous", "anonymous.invalid", "Anonymous"
    else:
        fuser, fhost, display = spec.from_user, spec.from_host, spec.display
    tuser = spec.ruri_user if spec.to_user is None else spec.to_user
    body = ""
    if spec.method == "INVITE" and spec.sdp:
        template = st.sdp if spec.sdp_template is None else spec.sdp_template
        if template:
            port = rng.randrange(st.rtp[0], st.rtp[1] + 1) & ~1
            sid = rng.randrange(10**4, 10**9)
            body = template.format(
                ip=spec.local_ip,
                port=port,
                port1=port + 1,
                sid=sid,
                sid2=sid + rng.randrange(0, 3),
                ntp=int(spec.ts) + NTP_OFFSET,
                user=fuser,
                ua=user_agent,
            )
    via = spec.local_ip if spec.local_port == 5060 and not st.port_in_via else f"{spec.local_ip}:{spec.local_port}"
    ruri = f"sip:{spec.target}" if not spec.ruri_user else st.ruri.format(user=spec.ruri_user, host=spec.target)
    fields = {
        "method": spec.method,
        "cseq": st.cseq(rng) if spec.cseq is None else spec.cseq,
        "branch": st.branch(rng, spec),
        "tag": st.tag(rng, spec),
        "call_id": st.call_id(rng, spec),
        "via": via,
        "lip": spec.local_ip,
        "lport": spec.local_port,
        "fdisp": st.display.format(display) if display and st.display else "",
        "tdisp": st.display.format(tuser) if st.display else "",
        "fuser": fuser,
        "fhost": fhost,
        "tuser": tuser,
        "thost": spec.target,
        "ua": user_agent,
        "clen": len(body),
        "mf": spec.max_forwards,
    }
    fields.update(_optional(st.used, rng, spec, fuser, ruri))
    out = [f"{spec.method} {ruri} SIP/2.0"]
    for line in st.lines:
        if line == "{extra}":
            out.extend(f"{name}: {value}" for name, value in spec.extra)
            continue
        dropped = ("{ua}" in line and not user_agent) or (not body and line.lower().startswith(_NO_BODY_KEYS))
        if not dropped:
            out.append(line.format(**fields))
    return ("\r\n".join(out) + "\r\n\r\n" + body).encode("latin-1")


def _optional(used: frozenset[str], rng: random.Random, spec: Spec, fuser: str, ruri: str) -> dict[str, object]:
    out: dict[str, object] = {}
    if "date" in used:
        out["date"] = formatdate(spec.ts, usegmt=True)
    if "rand" in used:
        out["rand"] = hexs(rng, 16)
    if "uuid" in used:
        out["uuid"] = uuid4(rng)
    if "guid" in used:
        out["guid"] = "-".join(str(rng.getrandbits(32)) for _ in range(4))
    if "digest" in used:
        out["digest"] = (
            f'Digest username="{fuser}",realm="asterisk",nonce="{hexs(rng, 16)}",uri="{ruri}",'
            f'response="{hexs(rng, 32)}",algorithm=MD5'
        )
    return out


_CANCEL_KEEP = frozenset({"via", "v", "from", "f", "to", "t", "call-id", "i", "max-forwards", "route", "user-agent"})


def cancel_for(invite: bytes) -> bytes:
    """The CANCEL a UA sends for ``invite``: its own header order and forms, no body."""
    head = invite.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    _, ruri, version = lines[0].split(" ")
    out = [f"CANCEL {ruri} {version}"]
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "cseq":
            out.append(f"{name}:{value.replace('INVITE', 'CANCEL')}")
        elif key in ("content-length", "l"):
            out.append(f"{name}: 0")
        elif key in _CANCEL_KEEP:
            out.append(line)
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


def ip_letters(ip: str) -> str:
    """Grandstream's Call-ID host: each digit of the IP as a letter (0 → A, 1 → B ...)."""
    return "".join(chr(ord("A") + int(ch)) if ch.isdigit() else ch for ch in ip)


def svwar_tag(rng: random.Random) -> str:
    """SIPVicious tag: hexlified random text, ``01``, hexlified digits."""
    return hexs(rng, 12).encode().hex() + "01" + digits(rng, 10).encode().hex()
