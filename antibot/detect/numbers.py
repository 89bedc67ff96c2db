"""Caller and callee numbers: normalisation and number-only features (pure).

A From/To user part becomes a :class:`Number`: visual separators (RFC 3966 ``-`` ``.``
``(`` ``)`` and spaces), a leading ``+`` or ``00`` international prefix (or the NANP
international access code ``011`` before a plausible E.164 number, see :data:`NANP_IDD`) and
``tel:`` / ``user=phone`` parameters are removed; what is left is either all ASCII digits (``numeric``)
or the user part kept as received (``numeric=False``, e.g. ``alice`` or ``sipvicious``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from ..sip.message import Request, sip_uri_or_none, uri_user
from ..sip.uri import SipUri
from .lists import ANONYMOUS_DISPLAY, NumberLists

#: Longest user part kept (a number or a name); longer ones are cut so that a hostile caller
#: cannot make counter keys arbitrarily long.
MAX_USER: Final = 64
#: A sweep neighbour: a recent To number within this distance of the current one.
SWEEP_NEAR: Final = 10
#: Largest step between consecutive numbers of a monotone dialling run.
SWEEP_STEP: Final = 100
#: The sweep score divides by at least this many recent numbers (a prior: one close
#: number out of one recent call is weak evidence).
SWEEP_PRIOR: Final = 4

#: The North American international access code (``011 44 20 ...`` = ``+44 20 ...``). Unlike
#: ``00`` it can begin a national number elsewhere (UK ``0114`` Sheffield, ``0118`` Reading), so
#: it counts as international only when what follows is a plausible E.164 number.
NANP_IDD: Final = "011"

_SEPARATORS: Final = str.maketrans("", "", "-.() ")
_PRIVACY_HIDDEN: Final = frozenset({"id", "user", "header"})
_PRIVACY_SPLIT: Final = re.compile(r"[;,\s]+")

# E.164 country codes -> (min, max) total digits including the code. Compact on purpose: the
# common ones plus the IRSF examples of lists.py; unknown codes score 0.5, not 0.
_CC_TEXT: Final = """
1:11 7:11 20:10-12 27:11 30:12 31:11 32:10-11 33:11 34:11 36:10-11 39:8-13 40:11 41:11
43:8-15 44:11-12 45:10 46:9-12 47:10 48:11 49:8-15 51:10-11 52:12-13 53:8-10 54:12-13
55:12-13 56:11 57:10-12 58:12 60:10-12 61:11 62:9-14 63:10-12 64:10-12 65:10 66:10-11
81:11-12 82:10-12 84:11-12 86:12-13 90:12 91:12 92:11-12 93:11 94:11 95:9-12 98:12
212:12 213:11-12 216:11 218:11-12 221:12 225:13 233:12 234:11-13 237:12 251:12
252:10-12 254:12 255:12 256:12 260:12 263:11-13 351:12 352:9-14 353:10-12 354:10
355:11-12 357:11 358:8-15 359:11-12 370:11 371:11 372:10-11 373:11 374:11 375:12 380:12
381:11-12 385:11-12 386:11 420:12 421:12 593:11-12 598:11 675:10-11 677:8-10 678:8-10
682:8 686:8-11 688:8-9 690:7-8 852:11 853:11 855:11-12 880:11-13 881:11-12 882:10-15
883:10-15 886:11-12 960:10 961:10-11 962:11-12 963:11-12 964:11-13 965:11 966:12
967:11-12 968:11 970:12 971:11-12 972:11-12 973:11 974:11 977:11-13 992:12 994:12
995:12 996:12 998:12
"""


def _cc_table(text: str) -> dict[str, tuple[int, int]]:
    table: dict[str, tuple[int, int]] = {}
    for item in text.split():
        cc, _, span = item.partition(":")
        lo, _, hi = span.partition("-")
        table[cc] = (int(lo), int(hi or lo))
    return table


COUNTRY_LENGTHS: Final[dict[str, tuple[int, int]]] = _cc_table(_CC_TEXT)


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Number:
    """A normalised user part: ``text`` is the digits when ``numeric``, else the user as sent."""

    text: str
    numeric: bool
    #: Written in international form: ``+``, leading ``00`` or a global ``tel:+`` number.
    international: bool

    def __init__(self, text: str, numeric: bool, international: bool) -> None:
        self.text = text
        self.numeric = numeric
        self.international = international

    @property
    def intl_like(self) -> bool:
        """International form, or 11+ digits without a national ``0`` (E.164 sent without ``+``)."""
        return self.numeric and (self.international or (len(self.text) >= 11 and self.text[0] != "0"))


EMPTY: Final = Number("", False, False)


def split_uri(uri: str) -> tuple[str, str, bool]:
    """``(user, host, has_password)`` of a sip:/sips:/tel: URI; ``("", "", False)`` if unusable.

    Tolerant on purpose (features must never raise): a SIP URI that does not parse
    (:func:`antibot.sip.uri.parse_uri`) has neither user nor host. ``host`` is lower-case
    without brackets or port; a tel: URI has no host.
    """
    text = uri.strip()
    return uri_parts(text, sip_uri_or_none(text))


def uri_parts(uri: str, parsed: SipUri | None) -> tuple[str, str, bool]:
    """:func:`split_uri` of ``uri`` already parsed (``parsed``: None when not a SIP URI), as a
    message keeps its Request-URI, From and To."""
    if parsed is None:
        return uri_user(uri, None), "", False
    user = parsed.user
    return uri_user(uri, parsed), parsed.host.host, user is not None and ":" in user


def normalise(user: str) -> Number:
    """Turn a user part (or a tel: number) into a :class:`Number` (see the module docstring)."""
    if not user:
        return EMPTY
    text = unquote(user) if "%" in user else user
    semi = text.find(";")  # telephone-subscriber parameters: ;isub= ;phone-context= ;ext=
    if semi >= 0:
        text = text[:semi]
    digits = text.translate(_SEPARATORS)
    international = False
    if digits.startswith("+"):
        international = True
        digits = digits[1:]
    elif digits.startswith("00"):
        international = True
        digits = digits[2:]
    if digits and digits.isascii() and digits.isdigit():
        if not international and digits.startswith(NANP_IDD):
            rest = Number(digits[len(NANP_IDD) :], True, True)
            if e164_score(rest) == 1.0:
                return rest
        return Number(digits, True, international)
    return Number(user[:MAX_USER], False, False)


def number_of(uri: str) -> Number:
    """The normalised user part of a URI."""
    return normalise(split_uri(uri)[0])


def parties(req: Request) -> tuple[Number, Number]:
    """The caller (From) and callee (To, or the Request-URI when To has no user) numbers, from
    the user parts the request parsed once (:attr:`Request.parties`)."""
    caller, callee = req.parties
    return normalise(caller), normalise(callee)


def ruri_number(req: Request) -> Number:
    """The normalised user part of the Request-URI (parsed with the request line)."""
    return normalise(uri_user(req.uri, req.parsed_uri))


def country_code(digits: str) -> str:
    """The country code of international digits found in :data:`COUNTRY_LENGTHS`, or ``""``."""
    for size in (1, 2, 3):
        cc = digits[:size]
        if cc in COUNTRY_LENGTHS:
            return cc
    return ""


def e164_score(n: Number) -> float:
    """1.0: plausible E.164 (known code, right length); 0.5: plausible but unverifiable (an
    unknown code, or a national number of 7-13 digits); 0.0: anything else."""
    if not n.numeric:
        return 0.0
    digits = n.text
    size = len(digits)
    if n.intl_like:
        if digits[0] == "0" or not 7 <= size <= 15:
            return 0.0
        cc = country_code(digits)
        if not cc:
            return 0.5 if size >= 8 else 0.0
        lo, hi = COUNTRY_LENGTHS[cc]
        return 1.0 if lo <= size <= hi else 0.0
    return 0.5 if 7 <= size <= 13 else 0.0


def national_part(n: Number) -> str:
    """The national significant number: without country code, or without the trunk ``0``."""
    if n.intl_like:
        return n.text[len(country_code(n.text)) :]
    return n.text[1:] if n.text.startswith("0") else n.text


def is_anonymous(req: Request) -> bool:
    """Caller withheld: anonymous@anonymous.invalid (RFC 3323), ``Privacy: id``/``user``/``header``,
    an "Anonymous"/"Restricted"/"Unknown" display name, or no user part at all."""
    user, host, _ = uri_parts(req.from_.uri, req.from_uri)
    if not user or user.lower() == "anonymous" or host == "anonymous.invalid":
        return True
    display = req.from_.display
    if display and display.strip('"').strip().lower() in ANONYMOUS_DISPLAY:
        return True
    privacy = req.header("privacy")
    if not privacy:
        return False
    return not _PRIVACY_HIDDEN.isdisjoint(_PRIVACY_SPLIT.split(privacy.lower()))


def is_neighbour(caller: Number, callee: Number) -> bool:
    """Neighbour spoofing: same country and same exchange, different number.

    The national significant numbers have the same length (7+ digits) and differ only in
    their last four digits (at least the first six shared): NANP NPA-NXX, UK area + exchange.
    """
    if not (caller.numeric and callee.numeric) or caller.text == callee.text:
        return False
    if caller.intl_like and callee.intl_like and country_code(caller.text) != country_code(callee.text):
        return False
    a, b = national_part(caller), national_part(callee)
    if len(a) != len(b) or len(a) < 7 or a == b:
        return False
    shared = 0
    for x, y in zip(a, b, strict=True):
        if x != y:
            break
        shared += 1
    return shared >= max(6, len(a) - 4)


#: _split_prefixes' answers per configured list (a handful); bounded, cleared when full.
_PREFIXES: Final[dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]]] = {}


def _split_prefixes(prefixes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    known = _PREFIXES.get(prefixes)
    if known is None:
        intl = tuple(p[1:] for p in prefixes if p.startswith("+") and len(p) > 1)
        national = tuple(p for p in prefixes if p and not p.startswith("+"))
        known = (intl, national)
        if len(_PREFIXES) >= 64:
            _PREFIXES.clear()
        _PREFIXES[prefixes] = known
    return known


def matches_prefix(n: Number, prefixes: tuple[str, ...]) -> bool:
    """Whether ``n`` starts with one of ``prefixes`` (``+`` entries: international form only)."""
    if not n.numeric:
        return False
    intl, national = _split_prefixes(prefixes)
    if intl and n.intl_like and n.text.startswith(intl):
        return True
    return bool(national) and not n.international and n.text.startswith(national)


def dialout_probe(n: Number) -> Number | None:
    """An international number hidden behind a short dial-out/tech prefix (``9`` + ``00``...).

    Toll-fraud tools try ``<1-6 digits>00<E.164>`` (or ``011`` for NANP, e.g. ``9011``) until
    the PBX routes one abroad. Returns the embedded international number when the rest is a
    plausible E.164 number of 9+ digits.
    """
    if not n.numeric or n.international:
        return None
    digits = n.text
    for i in range(1, min(7, len(digits) - 10)):
        for idd in ("00", NANP_IDD):
            if digits.startswith(idd, i):
                inner = Number(digits[i + len(idd) :], True, True)
                if e164_score(inner) == 1.0:
                    return inner
    return None


def to_value(n: Number) -> float:
    """The callee number as a float for :func:`sweep` (-1.0 when not a number of <= 15 digits)."""
    return float(int(n.text)) if n.numeric and len(n.text) <= 15 else -1.0


def sweep(anchor: int | None, recent: Sequence[str]) -> tuple[int, int, int]:
    """Sequential dialling: ``(near, run, considered)`` for a source's recent To numbers.

    ``recent`` is newest first (Counters.src_recent_to); non-numeric entries are skipped.
    ``near`` counts recent numbers within ±:data:`SWEEP_NEAR` of ``anchor`` (the current To);
    ``run`` counts the steps of the monotone run ending at ``anchor`` (each step non-zero and
    at most :data:`SWEEP_STEP`, all in one direction). Without an anchor the newest recent
    number stands in for it.
    """
    values = [int(r) for r in recent if r and len(r) <= 18 and r.isascii() and r.isdigit()]
    if anchor is None:
        if not values:
            return 0, 0, 0
        anchor, values = values[0], values[1:]
    near = sum(1 for v in values if 0 < abs(v - anchor) <= SWEEP_NEAR)
    run = 0
    sign = 0
    prev = anchor
    for v in values:
        step = prev - v
        if step == 0 or abs(step) > SWEEP_STEP or (sign and (step > 0) != (sign > 0)):
            break
        sign = 1 if step > 0 else -1
        run += 1
        prev = v
    return near, run, len(values)


def sweep_score(near: int, run: int, considered: int) -> float:
    """``max(near, run)`` over the recent numbers considered (at least :data:`SWEEP_PRIOR`)."""
    return min(1.0, max(near, run) / max(considered, SWEEP_PRIOR))


def number_features(req: Request, lists: NumberLists, both: tuple[Number, Number] | None = None) -> dict[str, float]:
    """The number-only features of :mod:`antibot.detect.features` (see its table).

    ``both`` is :func:`parties` of ``req`` when the caller already has it.
    """
    caller, callee = parties(req) if both is None else both
    probe = dialout_probe(callee)
    ruri = ruri_number(req)
    anonymous = is_anonymous(req)
    return {
        "from_numeric": float(caller.numeric),
        "from_len": float(len(caller.text)),
        "from_e164": e164_score(caller),
        "from_anonymous": float(anonymous),
        "to_numeric": float(callee.numeric),
        "to_len": float(len(callee.text)),
        "to_e164": e164_score(callee),
        "to_international": float(callee.intl_like),
        "from_eq_to": float(bool(caller.text) and caller.text == callee.text),
        "from_neighbour": float(is_neighbour(caller, callee)),
        "to_premium": float(matches_prefix(callee, lists.premium_prefixes)),
        "to_high_risk": float(
            matches_prefix(callee, lists.high_risk_prefixes)
            or (probe is not None and matches_prefix(probe, lists.high_risk_prefixes))
        ),
        "to_honeypot": float(callee.numeric and callee.text in lists.honeypot_numbers),
        "to_dialout_probe": float(probe is not None),
        "ruri_ne_to": float(bool(ruri.text) and bool(callee.text) and ruri.text != callee.text),
        "from_high_risk": float(
            not anonymous
            and (matches_prefix(caller, lists.premium_prefixes) or matches_prefix(caller, lists.high_risk_prefixes))
        ),
    }
