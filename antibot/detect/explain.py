"""Reasons an operator can read: what was seen, with its value, and a short code per reason.

A verdict's explanation is the model's top features with their log-odds contributions
(:meth:`antibot.detect.model.Model.explain`). A feature name with a signed weight
(``has_identity +1.18``) says neither what the call carried nor which way it pushed. Here each
feature of :data:`~antibot.detect.features.FEATURES` gets

* a **code**: short, stable, a SIP token (RFC 3261 §25.1: letters, digits and ``-``; no spaces
  or commas), chosen by the value for flags (``has_identity`` 0 is ``no-identity``, 1 is
  ``identity``). The proxy writes codes, never texts: ``X-Antibot-Reasons`` (at most 4,
  comma-separated, a rule id first), the call log's ``reasons``, and the API's ``reason`` filter.
* a **sentence** of what was seen, built from the value and never contradicting it: counters
  are ``log1p`` of a count, shown as the count (``expm1``, rounded); flags say present or absent
  by their value; numbers keep their unit ("Max-Forwards 16 (phones send 70)").

Sentences are built only when read (:func:`why`, by the admin API from a call-log entry's
features), so the hot path pays a dict lookup per reason (:func:`reason_codes`). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypedDict

from .features import FEATURES

Context = Mapping[str, str]

#: Flags: name -> (code when absent, code when present, text when absent, text when present).
#: ``{ua}``, ``{from}``, ``{to}`` become `` (value)`` from the call when known, else nothing.
FLAGS: Final[dict[str, tuple[str, str, str, str]]] = {
    "from_numeric": (
        "caller-not-numeric",
        "caller-numeric",
        "caller ID is not a number{from}",
        "caller ID is a number{from}",
    ),
    "from_anonymous": (
        "caller-shown",
        "anonymous-caller",
        "caller ID shown (not anonymous)",
        "caller ID withheld (anonymous)",
    ),
    "to_numeric": ("callee-not-numeric", "callee-numeric", "dialled a name, not a number{to}", "dialled a number{to}"),
    "to_international": (
        "local-callee",
        "intl-callee",
        "dialled a national or local number{to}",
        "dialled an international number{to}",
    ),
    "from_eq_to": (
        "not-self-call",
        "self-call",
        "caller ID differs from the callee",
        "caller ID is the callee's own number{to}",
    ),
    "from_neighbour": (
        "not-neighbour",
        "neighbour-caller",
        "caller ID not from the callee's exchange",
        "caller ID copies the callee's exchange (neighbour spoofing){from}",
    ),
    "to_premium": (
        "not-premium",
        "premium-callee",
        "callee is not a premium-rate number",
        "called a premium-rate destination{to}",
    ),
    "to_high_risk": (
        "not-irsf",
        "irsf-callee",
        "callee is not on the high-risk (IRSF) list",
        "called a high-risk (IRSF) destination{to}",
    ),
    "to_honeypot": (
        "not-honeypot",
        "honeypot-callee",
        "callee is not a trap number",
        "called a trap number published nowhere{to}",
    ),
    "to_dialout_probe": (
        "no-dialout-probe",
        "dialout-probe",
        "no dial-out prefix probe",
        "dialled a prefix then 00/011: testing a route abroad{to}",
    ),
    "ruri_ne_to": ("ruri-eq-to", "ruri-ne-to", "Request-URI and To agree", "Request-URI and To name different users"),
    "from_high_risk": (
        "not-irsf-caller",
        "irsf-caller",
        "caller ID not in a premium/IRSF range",
        "caller ID in a premium/IRSF range (wangiri bait){from}",
    ),
    "ua_scanner": (
        "not-scanner-ua",
        "scanner-ua",
        "User-Agent is not a known scanner{ua}",
        "User-Agent names a known scanner{ua}",
    ),
    "ua_dialer": (
        "not-dialer-ua",
        "dialer-ua",
        "User-Agent is not an automation SDK default{ua}",
        "User-Agent is an automation SDK's default{ua}",
    ),
    "no_user_agent": ("user-agent", "no-user-agent", "User-Agent present{ua}", "no User-Agent header"),
    "hdr_compact": ("full-headers", "compact-headers", "full header names", "compact header names (v:, f:, t:...)"),
    "hdr_odd_case": (
        "usual-header-case",
        "odd-header-case",
        "header names in the usual case",
        "header names in odd case (lower, UPPER, Call-Id)",
    ),
    "hdr_odd_spacing": (
        "usual-header-spacing",
        "odd-header-spacing",
        "usual spacing around header colons",
        "odd spacing around header colons",
    ),
    "hdr_to_before_from": (
        "from-before-to",
        "to-before-from",
        "From written before To",
        "To written before From (sipvicious' order)",
    ),
    "via_branch_rfc3261": (
        "old-branch",
        "rfc3261-branch",
        "Via branch lacks the RFC 3261 z9hG4bK prefix",
        "Via branch starts with z9hG4bK (RFC 3261)",
    ),
    "via_branch_numeric": (
        "mixed-branch",
        "numeric-branch",
        "Via branch suffix is not digits only",
        "Via branch suffix is digits only",
    ),
    "via_branch_dash_digits": (
        "not-sipvicious-branch",
        "sipvicious-branch",
        "Via branch is not sipvicious' form",
        "Via branch is 'z9hG4bK-' + digits (sipvicious)",
    ),
    "max_forwards_odd": (
        "usual-max-forwards",
        "odd-max-forwards",
        "Max-Forwards within 20-70",
        "Max-Forwards missing or outside 20-70",
    ),
    "no_contact": ("contact", "no-contact", "Contact header present", "no Contact header (cannot set up a dialog)"),
    "no_allow": ("allow", "no-allow", "Allow header present", "no Allow header"),
    "no_supported": ("supported", "no-supported", "Supported header present", "no Supported header"),
    "body_no_content_type": (
        "content-type-ok",
        "body-no-content-type",
        "no body, or a body with a Content-Type",
        "a body without Content-Type",
    ),
    "to_tag": ("no-to-tag", "to-tag", "no To tag (a new call)", "a To tag on a new INVITE (replayed or forged)"),
    "from_no_tag": ("from-tag", "no-from-tag", "From tag present", "no From tag (RFC 3261 requires one)"),
    "has_identity": (
        "no-identity",
        "identity",
        "no P-Asserted-Identity or Remote-Party-ID",
        "P-Asserted-Identity or Remote-Party-ID present",
    ),
    "uri_password": (
        "no-uri-password",
        "uri-password",
        "no password in the URIs",
        "a password in a URI ('user:pw@host')",
    ),
    "from_host_ip": (
        "from-domain",
        "from-ip-host",
        "From host is a domain name",
        "From host is an IP address, not a domain",
    ),
    "from_host_ip_mismatch": (
        "from-ip-ok",
        "forged-from-ip",
        "From IP is the sender's, or not public",
        "From names a public IP that is not the sender",
    ),
    "contact_ip_mismatch": (
        "contact-ip-ok",
        "forged-contact-ip",
        "Contact IP is the sender's, or not public",
        "Contact names a public IP that is not the sender",
    ),
    "from_host_is_callee": (
        "from-other-domain",
        "from-callee-domain",
        "From is not in the callee's domain",
        "From claims the callee's own domain, from outside",
    ),
    "nat_private_addr": (
        "no-nat",
        "behind-nat",
        "no private addresses in Via/Contact/SDP",
        "private addresses in Via/Contact/SDP (a phone behind NAT)",
    ),
    "sdp_present": ("no-sdp", "sdp", "no SDP: no media offered", "media offered (SDP)"),
    "sdp_telephone_event": ("no-dtmf", "dtmf", "no DTMF (telephone-event) offered", "DTMF (telephone-event) offered"),
    "sdp_generic_session": (
        "named-sdp-session",
        "generic-sdp-session",
        "SDP session name is not generic",
        "generic SDP session name (s=- or 'session')",
    ),
    "sdp_odd_origin": (
        "usual-sdp-origin",
        "odd-sdp-origin",
        "usual SDP origin user",
        "odd SDP origin user ('root', '-')",
    ),
    "sdp_tool_name": ("no-tool-sdp", "tool-sdp", "SDP names no known tool", "SDP names a tool (pplsip, SIPp)"),
    "sdp_conn_mismatch": (
        "sdp-addr-ok",
        "sdp-elsewhere",
        "media address is the sender's, or not public",
        "media to a public address other than the sender",
    ),
    "sdp_conn_null": ("media-addr", "null-media", "a usable media address", "c=0.0.0.0 or no c= line: no audio wanted"),
}

#: Counters (``log1p`` of a count): name -> (code, text with ``{n}`` the count, ``{s}`` its plural).
COUNTS: Final[dict[str, tuple[str, str]]] = {
    "log_src_1s": ("src-calls-1s", "{n} call{s} in 1 s from this source"),
    "log_src_10s": ("src-calls-10s", "{n} call{s} in 10 s from this source"),
    "log_src_60s": ("src-calls-60s", "{n} call{s} in 60 s from this source"),
    "log_src_1h": ("src-calls-1h", "{n} call{s} in the last hour from this source"),
    "log_from_60s": ("caller-calls-60s", "{n} call{s} in 60 s with this caller ID{from}"),
    "log_from_1h": ("caller-calls-1h", "{n} call{s} in the last hour with this caller ID{from}"),
    "log_to_60s": ("callee-calls-60s", "{n} call{s} in 60 s to this callee{to}"),
    "log_to_1h": ("callee-calls-1h", "{n} call{s} in the last hour to this callee{to}"),
    "log_prefix_60s": ("block-calls-60s", "{n} call{s} in 60 s into this number block{block}"),
    "log_prefix_1h": ("block-calls-1h", "{n} call{s} in the last hour into this number block{block}"),
    "log_ua_60s": ("ua-calls-60s", "{n} call{s} in 60 s with this client fingerprint"),
    "log_ua_1h": ("ua-calls-1h", "{n} call{s} in the last hour with this client fingerprint"),
    "log_src_distinct_to_60s": ("src-callees-60s", "{n} distinct callee{s} in 60 s from this source"),
    "log_src_distinct_to_1h": ("src-callees-1h", "{n} distinct callee{s} in the last hour from this source"),
    "log_from_distinct_to_60s": ("caller-callees-60s", "{n} distinct callee{s} in 60 s from this caller ID"),
    "log_from_distinct_to_1h": ("caller-callees-1h", "{n} distinct callee{s} in the last hour from this caller ID"),
    "log_from_distinct_src_1h": ("caller-sources-1h", "this caller ID came from {n} address{es} in the last hour"),
    "log_ua_distinct_src_1h": ("ua-sources-1h", "this client fingerprint came from {n} address{es} in the last hour"),
    "log_src_outcomes_1h": ("src-outcomes-1h", "{n} finished call{s} from this source in the last hour"),
}


def _plural(n: int, text: str) -> str:
    return text.replace("{n}", str(n)).replace("{s}", "" if n == 1 else "s").replace("{es}", "" if n == 1 else "es")


def _count(value: float) -> int:
    """The count behind a ``log1p`` feature (0 for a negative or non-finite value)."""
    return round(math.expm1(value)) if math.isfinite(value) and value > 0.0 else 0


def _int(value: float) -> int:
    return round(value) if math.isfinite(value) else 0


def _pct(value: float) -> str:
    return f"{round(100 * value) if math.isfinite(value) else 0}%"


def _ratio(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "unknown"


def _e164(who: str, key: str) -> Callable[[float], str]:
    def text(value: float) -> str:
        if value >= 1.0:
            return f"{who} is a valid E.164 number{{{key}}}"
        if value >= 0.5:
            return f"{who} cannot be checked as E.164 (no country code){{{key}}}"
        return f"{who} is not a valid phone number{{{key}}}"

    return text


def _length(who: str, key: str) -> Callable[[float], str]:
    def text(value: float) -> str:
        n = _int(value)
        return f"{who} is empty" if n <= 0 else _plural(n, f"{who} has {{n}} character{{s}}{{{key}}}")

    return text


def _max_forwards(value: float) -> str:
    if value < 0.0:
        return "no Max-Forwards header (phones send 70)"
    return f"Max-Forwards {_int(value)} (phones send 70)"


def _codecs(value: float) -> str:
    n = _int(value)
    return "no codecs offered" if n <= 0 else _plural(n, "{n} codec{s} offered (phones offer several)")


#: Other numbers: name -> (code when low, code when high, threshold, text of the value).
NUMBERS: Final[dict[str, tuple[str, str, float, Callable[[float], str]]]] = {
    "from_len": ("caller-length", "caller-length", 0.0, _length("caller ID", "from")),
    "from_e164": ("caller-not-e164", "caller-e164", 1.0, _e164("caller ID", "from")),
    "to_len": ("callee-length", "callee-length", 0.0, _length("dialled number", "to")),
    "to_e164": ("callee-not-e164", "callee-e164", 1.0, _e164("dialled number", "to")),
    "hdr_count": ("header-count", "header-count", 0.0, lambda v: _plural(_int(v), "{n} header{s} (phones send 12-20)")),
    "max_forwards": ("max-forwards", "max-forwards", 0.0, _max_forwards),
    "sdp_codecs": ("codec-count", "codec-count", 0.0, _codecs),
    "src_to_diversity_60s": (
        "src-diversity-60s",
        "src-diversity-60s",
        0.0,
        lambda v: f"callee diversity {_ratio(v)} in 60 s from this source (1: a new number every call)",
    ),
    "src_to_diversity_1h": (
        "src-diversity-1h",
        "src-diversity-1h",
        0.0,
        lambda v: f"callee diversity {_ratio(v)} in the last hour from this source (1: a new number every call)",
    ),
    "src_fail_ratio": (
        "src-fail-rate",
        "src-fail-rate",
        0.0,
        lambda v: f"{_pct(v)} of this source's calls failed in the last hour (smoothed)",
    ),
    "src_short_ratio": (
        "src-short-rate",
        "src-short-rate",
        0.0,
        lambda v: f"{_pct(v)} of this source's calls hung up within seconds in the last hour (smoothed)",
    ),
    "seq_near": (
        "seq-near",
        "seq-near",
        0.0,
        lambda v: _plural(_int(v), "{n} recent callee{s} within ±10 of this one{to}"),
    ),
    "seq_run": (
        "seq-run",
        "seq-run",
        0.0,
        lambda v: _plural(_int(v), "this callee ends a run of {n} sequential step{s}{to}"),
    ),
    "seq_score": (
        "seq-score",
        "seq-score",
        0.0,
        lambda v: f"sequential dialling: {_pct(v)} of the recent callees are near or in a run with this one",
    ),
}

#: Reasons that are not features: rule ids and markers the proxy adds, in words.
MARKERS: Final[dict[str, str]] = {
    "score-isolated": "a high score not yet backed by other calls of the same flow or campaign",
    "score-suspect": "score at or above the suspect threshold",
    "score-reject": "score at or above the reject threshold",
    "store-unavailable": "shared counters unreachable: counted on this node only",
    "internal-error": "deciding failed inside: only the lists and rules were applied",
    "allow-list:cidr": "source address on the allow list",
    "allow-list:number": "caller or callee number on the allow list",
    "allow-list:ua": "User-Agent on the allow list",
    "deny-list:cidr": "source address on the deny list",
    "deny-list:number": "caller number on the deny list",
    "deny-list:callee": "callee number on the deny list",
    "deny-list:ua": "User-Agent on the deny list",
    "deny-destination:premium": "called a premium-rate destination{to} (destination policy)",
    "deny-destination:high-risk": "called a high-risk (IRSF) destination{to} (destination policy)",
}
#: Built-in rules whose logged reason text is already what was seen (the sweep's
#: "12 distinct extensions in 60 s from this flow").
OWN_TEXT: Final = frozenset({"sweep"})

#: Every feature's codes and threshold, for :func:`reason_code` (flags: present at 0.5).
_CODES: Final[dict[str, tuple[str, str, float]]] = {
    **{name: (spec[0], spec[1], 0.5) for name, spec in FLAGS.items()},
    **{name: (spec[0], spec[0], 0.0) for name, spec in COUNTS.items()},
    **{name: (spec[0], spec[1], spec[2]) for name, spec in NUMBERS.items()},
}
_RATIONALE: Final[dict[str, str]] = dict(FEATURES)
#: Every code a feature can have.
FEATURE_CODES: Final[frozenset[str]] = frozenset(c for spec in _CODES.values() for c in spec[:2])


def reason_code(name: str, value: float) -> str:
    """The short code of feature ``name`` at ``value`` (a feature without one: its name, with
    ``-`` for ``_``). A dict lookup: the proxy calls it for each top reason of every INVITE."""
    spec = _CODES.get(name)
    if spec is None:
        return name.replace("_", "-")
    return spec[1] if value >= spec[2] else spec[0]


def reason_codes(top: Sequence[tuple[str, float]], values: Mapping[str, float]) -> list[str]:
    """The codes of the model's top features (``values``: every feature's value by name)."""
    return [reason_code(name, values.get(name, 0.0)) for name, _ in top]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f" ({text[:60]}…)" if len(text) > 60 else f" ({text})" if text else ""


def _fill(template: str, context: Context) -> str:
    """Put the call's own values (quoted, shortened) where the template names them."""
    if "{" not in template:
        return template
    to = context.get("to", "")
    parts = {
        "{ua}": _quote(context.get("ua", "")),
        "{from}": _quote(context.get("from", "")),
        "{to}": _quote(to),
        "{block}": _quote(to[:6] + "…" if len(to) > 6 and to.isdigit() else ""),
    }
    for key, value in parts.items():
        template = template.replace(key, value)
    return template


def sentence(name: str, value: float, context: Context | None = None) -> str:
    """What feature ``name`` at ``value`` says about the call, in words; ``context`` (the call's
    ``from``, ``to``, ``ua``) adds the call's own values where they help."""
    ctx: Context = context or {}
    flag = FLAGS.get(name)
    if flag is not None:
        return _fill(flag[3] if value >= 0.5 else flag[2], ctx)
    counter = COUNTS.get(name)
    if counter is not None:
        return _fill(_plural(_count(value), counter[1]), ctx)
    number = NUMBERS.get(name)
    if number is not None:
        return _fill(number[3](value), ctx)
    rationale = _RATIONALE.get(name)
    shown = f"{value:.4g}" if math.isfinite(value) else "unknown"
    return f"{name} = {shown}" + (f" ({rationale})" if rationale else "")


class Reason(TypedDict):
    """One reason as an operator reads it; ``weight`` is the log-odds contribution to the score
    (> 0 towards bot), None for a rule or marker."""

    code: str
    text: str
    weight: float | None


def why(
    top: Sequence[tuple[str, float]],
    values: Mapping[str, float] | None,
    reasons: Sequence[str] = (),
    *,
    rule: str | None = None,
    rule_text: str = "",
    context: Context | None = None,
) -> list[Reason]:
    """A decision's reasons in words: the deciding rule, the model's top features (``top``,
    with ``values`` of every feature, None when not recorded), then other markers in
    ``reasons`` (the logged codes; feature names logged by older builds are skipped)."""
    out: list[Reason] = []
    ctx: Context = context or {}
    if rule:
        if rule in OWN_TEXT and rule_text:
            text = rule_text
        elif rule in MARKERS:
            text = _fill(MARKERS[rule], ctx)
        else:
            text = f"rule {rule}: {rule_text}" if rule_text else f"rule {rule}"
        out.append({"code": rule, "text": text, "weight": None})
    seen = {rule}
    for name, weight in top:
        if values is not None and name in values:
            value = values[name]
            code, text = reason_code(name, value), sentence(name, value, ctx)
        else:
            code, text = name.replace("_", "-"), f"{name} (value not recorded)"
        seen.add(code)
        out.append({"code": code, "text": text, "weight": weight})
    for code in reasons:
        if code in seen or code in _RATIONALE:
            continue
        seen.add(code)
        out.append({"code": code, "text": _fill(MARKERS.get(code, code), ctx), "weight": None})
    return out
