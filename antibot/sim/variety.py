"""Per-installation variety: the same product configured differently at each site.

Real deployments of one product differ: an admin trims the codec list (G.729 licences, opus
or not, HD voice off), the firmware or PBX release differs, optional headers are switched
off (``Allow-Events``, session timers, ``Privacy``), calls pass through 0-3 proxies before
they reach us (each decrements Max-Forwards and may add a Record-Route), and a trunk may or
may not assert the caller's identity. :func:`installation` draws one such configuration of a
:class:`~.messages.Style` once per installation (a phone model at a site, a trunk, a
campaign), so that message shapes vary *between* sources but stay stable *within* one, as
they do on the wire.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from .messages import Style

#: Codecs an admin may offer, by static/dynamic payload type, with their SDP lines.
_CODEC_LINES: dict[str, tuple[str, ...]] = {
    "0": ("a=rtpmap:0 PCMU/8000",),
    "8": ("a=rtpmap:8 PCMA/8000",),
    "9": ("a=rtpmap:9 G722/8000",),
    "18": ("a=rtpmap:18 G729/8000", "a=fmtp:18 annexb=no"),
    "3": ("a=rtpmap:3 GSM/8000",),
    "111": ("a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1"),
    "97": ("a=rtpmap:97 iLBC/8000", "a=fmtp:97 mode=30"),
}
_MEDIA = re.compile(r"^m=audio (\{port\}|\d+) RTP/AVP ((?:\d+ ?)+)$")
_EVENT = re.compile(r"telephone-event", re.IGNORECASE)

#: Header lines an installation may switch off (lower-case name prefixes of template lines).
OPTIONAL_HEADERS: tuple[str, ...] = (
    "allow-events:",
    "supported:",
    "accept:",
    "accept-language:",
    "session-expires:",
    "min-se:",
    "privacy:",
    "x-fs-support:",
    "expires:",
    "date:",
)


def vary_sdp(template: str, rng: random.Random, *, keep_order: float = 0.5) -> str:
    """``template`` with a different codec offer on its first ``m=audio`` line.

    Keeps the template's own lines (o=, s=, attributes) and its DTMF payload; the voice codecs
    become 1-5 of :data:`_CODEC_LINES` (G.711 nearly always among them, as carriers require),
    in the template's order or shuffled. A template without an audio line is returned as is.
    """
    lines = template.split("\r\n")
    media = next((i for i, line in enumerate(lines) if _MEDIA.match(line)), None)
    if media is None:
        return template
    m = _MEDIA.match(lines[media])
    assert m is not None
    old = m.group(2).split()
    event_pts = {pt for pt in old if any(_EVENT.search(x) and f":{pt} " in x for x in lines)}
    voice_old = [pt for pt in old if pt not in event_pts]
    pool = list(_CODEC_LINES)
    k = rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5))
    chosen = rng.sample(pool, k)
    if rng.random() < 0.9 and not {"0", "8"} & set(chosen):
        chosen[rng.randrange(len(chosen))] = rng.choice(("0", "8"))
    chosen = list(dict.fromkeys(chosen))
    if rng.random() < keep_order:
        rank = {pt: i for i, pt in enumerate(voice_old)}
        chosen.sort(key=lambda pt: rank.get(pt, len(rank)))
    events = sorted(event_pts, key=old.index) if rng.random() < 0.92 else []
    payloads = chosen + events
    out: list[str] = []
    for i, line in enumerate(lines):
        if i == media:
            out.append(f"m=audio {m.group(1)} RTP/AVP {' '.join(payloads)}")
            out.extend(x for pt in chosen for x in _CODEC_LINES[pt])
            continue
        pt = _payload_of(line)
        if pt is not None and (pt in voice_old or (pt in event_pts and pt not in events)):
            continue  # the old codec's rtpmap/fmtp lines, or the dropped DTMF
        out.append(line)
    return "\r\n".join(out)


def _payload_of(line: str) -> str | None:
    for prefix in ("a=rtpmap:", "a=fmtp:"):
        if line.startswith(prefix):
            return line[len(prefix) :].split(" ", 1)[0]
    return None


#: What an SBC's header manipulation may also strip on the way out (an SBC hides the network
#: behind it: capabilities and vendor headers go).
SBC_STRIPPED: tuple[str, ...] = OPTIONAL_HEADERS + ("allow:", "user-agent:", "cisco-guid:", "h323-conf-id:")


def trim_headers(st: Style, rng: random.Random, p: float = 0.3, optional: tuple[str, ...] = OPTIONAL_HEADERS) -> Style:
    """``st`` with each of its ``optional`` header lines switched off with probability ``p``."""
    kept = tuple(line for line in st.lines if not (line.lower().startswith(optional) and rng.random() < p))
    return replace(st, lines=kept)


@dataclass(frozen=True, slots=True)
class Installation:
    """One installation's configuration of a product: its style, User-Agent and path to us."""

    style: Style
    ua: str | None  #: None: the style's own; "": none sent
    max_forwards: int
    identity: str  #: "pai", "rpid", "ppi" or "" (which caller-identity header it sends)
    record_route: str | None  #: a Record-Route added by an edge proxy on the way, if any


def installation(
    st: Style,
    rng: random.Random,
    *,
    uas: tuple[str, ...] = (),
    hops: tuple[int, int] = (0, 0),
    identity: tuple[tuple[str, float], ...] = (("", 1.0),),
    trim: float = 0.25,
    codecs: float = 0.7,
    optional: tuple[str, ...] = OPTIONAL_HEADERS,
) -> Installation:
    """Draw one installation of ``st``: a version from ``uas`` (if any), the codec offer
    (changed with probability ``codecs``), optional headers switched off (``trim``), 0-3
    proxies on the way (``hops``: inclusive range; any hop may Record-Route), and which identity
    header it sends (weighted). ``optional`` are the header lines it may switch off
    (:data:`SBC_STRIPPED` for an SBC)."""
    varied = trim_headers(st, rng, trim, optional) if trim > 0 else st
    if varied.sdp and rng.random() < codecs:
        varied = replace(varied, sdp=vary_sdp(varied.sdp, rng))
    n = rng.randint(*hops)
    rr = None
    if n and rng.random() < 0.6:
        rr = f"<sip:10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)};lr>"
    kinds = [k for k, _ in identity]
    kind = rng.choices(kinds, [w for _, w in identity])[0]
    return Installation(varied, rng.choice(uas) if uas else None, 70 - n, kind, rr)


def identity_headers(
    inst: Installation, caller: str, host: str, display: str | None = None
) -> tuple[tuple[str, str], ...]:
    """The identity (and Record-Route) headers ``inst`` adds for ``caller`` at ``host``."""
    name = f'"{display}" ' if display else ""
    out: tuple[tuple[str, str], ...] = ()
    if inst.identity == "pai":
        out = (("P-Asserted-Identity", f"{name}<sip:{caller}@{host}>"),)
    elif inst.identity == "rpid":
        out = (("Remote-Party-ID", f"{name}<sip:{caller}@{host}>;party=calling;screen=yes;privacy=off"),)
    elif inst.identity == "ppi":
        out = (("P-Preferred-Identity", f"{name}<sip:{caller}@{host}>"),)
    if inst.record_route:
        out += (("Record-Route", inst.record_route),)
    return out
