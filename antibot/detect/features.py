"""The feature vector of one new INVITE: message-only features plus windowed counters (pure).

:data:`FEATURES` is the documentation and the order at once: each entry is the feature's
name and, in one line, why it separates bots from people. The model card lists
:data:`FEATURE_NAMES` in this order; append new features at the end of their group and retrain.
Values are floats (booleans 0.0/1.0), never NaN; heavy-tailed counts go through ``log1p``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Final

from ..sip.message import Request
from . import fingerprint, numbers
from .lists import NumberLists
from .numbers import Number
from .observation import EXTENSION_MAX, Counters, Observation, flow_of

#: (name, why it separates bots from people) - message-only features, then counter features.
STATIC_FEATURES: Final[tuple[tuple[str, str], ...]] = (
    # numbers (antibot.detect.numbers)
    ("from_numeric", "people call from phone numbers or extensions; tools send names like 'sipvicious'"),
    ("from_len", "real caller IDs have 3-5 (extension) or 9-15 digits; generated ones often do not"),
    ("from_e164", "spoofed caller IDs are often not valid numbers (1 E.164, 0.5 unverifiable, 0 no)"),
    ("from_anonymous", "robocallers hide their identity far more often than people do"),
    ("to_numeric", "scanners probe names and odd users; people dial numbers"),
    ("to_len", "extension scans use short ranges; toll fraud dials long international strings"),
    ("to_e164", "fraud tools dial malformed or over-long numbers while hunting for a route out"),
    ("to_international", "inbound callers reach DIDs/extensions; an inbound INVITE dialling abroad is toll fraud"),
    ("from_eq_to", "calling yourself is a spoofing trick of robocallers and scanners"),
    ("from_neighbour", "neighbour spoofing: caller ID copied from the callee's exchange to get answered"),
    ("to_premium", "premium/revenue-share destinations are how toll fraud makes money"),
    ("to_high_risk", "IRSF destinations (and those behind a dial-out prefix) are rarely called by people"),
    ("to_honeypot", "trap numbers are published nowhere, so only list-driven bots call them"),
    ("to_dialout_probe", "<tech prefix>00/011<E.164> is a tool testing which prefix routes a call abroad"),
    ("ruri_ne_to", "Request-URI and To disagree when tools template one and not the other"),
    ("from_high_risk", "a caller ID in premium/IRSF ranges is wangiri bait: the missed call is returned at a premium"),
    # message form (antibot.detect.fingerprint)
    ("ua_scanner", "the User-Agent names a known SIP scanner (friendly-scanner, sipcli, pplsip...)"),
    ("ua_dialer", "the User-Agent is an automation SDK's default string, not a product"),
    ("no_user_agent", "every phone sends a User-Agent; minimal tools and scripts often do not"),
    ("hdr_count", "tools send the bare minimum of headers; phones send 12-20"),
    ("hdr_compact", "compact header names are a bandwidth trick of tools (sipvicious -c), rare in phones"),
    ("hdr_odd_case", "header names in odd case (lower, UPPER, Call-Id) betray hand-written stacks"),
    ("hdr_odd_spacing", "no space or extra spaces around the colon betray hand-written stacks"),
    ("hdr_to_before_from", "sipvicious writes To before From; mainstream stacks write From first"),
    ("via_branch_rfc3261", "every RFC 3261 stack starts the branch with z9hG4bK; old tools do not"),
    ("via_branch_numeric", "a decimal-only branch suffix (pplsip, sipvicious; but also some phones)"),
    ("via_branch_dash_digits", "'z9hG4bK-' + decimal digits is exactly sipvicious' branch"),
    ("max_forwards", "UAs send 70; proxies decrement it; tools pick other values"),
    ("max_forwards_odd", "Max-Forwards missing or outside 20-70 is not a phone or a normal proxy path"),
    ("no_contact", "an INVITE without Contact cannot set up a dialog, so only probes send it"),
    ("no_allow", "phones advertise Allow; scanners do not bother"),
    ("no_supported", "phones advertise Supported (timer, replaces...); scanners do not"),
    ("body_no_content_type", "a body without Content-Type is a broken or fuzzing client"),
    ("to_tag", "a To tag on a new INVITE is a replayed or forged in-dialog request"),
    ("from_no_tag", "RFC 3261 requires a From tag; hand-written INVITEs forget it"),
    ("has_identity", "carrier calls carry P-Asserted-Identity/Remote-Party-ID; direct bots rarely do"),
    ("uri_password", "'user:5060@host' style userinfo comes from tools that mangle URIs"),
    ("from_host_ip", "phones put their domain in From; tools put an IP literal"),
    ("from_host_ip_mismatch", "a public IP in From that is not the sender (sipvicious' 1.1.1.1) is forged"),
    ("contact_ip_mismatch", "a public Contact IP that is not the sender means answers go elsewhere: forged"),
    ("from_host_is_callee", "From in the callee's own domain from an outside source is spoofing"),
    ("nat_private_addr", "private addresses in Via/Contact/SDP mean a phone behind NAT, i.e. a person"),
    ("sdp_present", "real calls offer media; scanners send INVITEs without SDP"),
    ("sdp_codecs", "phones offer several codecs; tools offer one or a fixed odd list"),
    ("sdp_telephone_event", "phones offer RFC 4733 DTMF; many tools do not"),
    ("sdp_generic_session", "a content-free s= line ('-', 'session') is common in generated SDP"),
    ("sdp_odd_origin", "o= usernames like 'root' or '-' are typical of scripts"),
    ("sdp_tool_name", "tools write their own name in s=/o= (pplsip, SIPp's user1)"),
    ("sdp_conn_mismatch", "media to a public address other than the sender: relay abuse or forged SDP"),
    ("sdp_conn_null", "c=0.0.0.0 or no c= line means the caller never meant to receive audio"),
)

COUNTER_FEATURES: Final[tuple[tuple[str, str], ...]] = (
    ("log_src_1s", "bursts: people do not place several calls per second"),
    ("log_src_10s", "short bursts of calls from one source are dialers"),
    ("log_src_60s", "a source placing many calls per minute is a dialer or a scanner"),
    ("log_src_1h", "sustained volume from one source is a dialer unless it is a known trunk"),
    ("log_from_60s", "one caller ID in many simultaneous calls is spoofed or a dialer"),
    ("log_from_1h", "one caller ID placing hundreds of calls an hour is not a person"),
    ("log_to_60s", "one number hammered within a minute is a flood (TDoS)"),
    ("log_to_1h", "one number called all hour is a flood or a harassment bot"),
    ("log_prefix_60s", "many calls into one number block per minute is a range sweep"),
    ("log_prefix_1h", "many calls into one number block per hour is a range sweep"),
    ("log_ua_60s", "a client fingerprint suddenly busy is a campaign starting"),
    ("log_ua_1h", "rare fingerprints (low counts) are unusual clients; huge ones are campaigns"),
    ("log_src_distinct_to_60s", "one source calling many different numbers per minute is a dialer"),
    ("log_src_distinct_to_1h", "one source calling hundreds of numbers an hour is a dialer"),
    ("log_from_distinct_to_60s", "one caller ID reaching many numbers per minute is a dialer"),
    ("log_from_distinct_to_1h", "one caller ID reaching many numbers per hour is a dialer"),
    ("log_from_distinct_src_1h", "one caller ID arriving from many IPs is spoofed by a botnet"),
    ("log_ua_distinct_src_1h", "one fingerprint on many IPs is a botnet or a scanner run"),
    ("src_to_diversity_60s", "distinct/(calls+1): dialers call a new number every time, people redial"),
    ("src_to_diversity_1h", "distinct/(calls+1) over the hour: the same, less noisy"),
    ("log_src_outcomes_1h", "how much outcome history the ratios below rest on"),
    ("src_fail_ratio", "dialers and scanners mostly fail (no answer, 404, 486); people mostly connect"),
    ("src_short_ratio", "robocalls are hung up within seconds; people talk"),
    ("seq_near", "recent To numbers within ±10 of this one: sequential dialling"),
    ("seq_run", "steps of the monotone run of To numbers ending here: a sweep"),
    ("seq_score", "max(seq_near, seq_run) over the recent numbers considered (at least 4)"),
)

FEATURES: Final[tuple[tuple[str, str], ...]] = STATIC_FEATURES + COUNTER_FEATURES
FEATURE_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in FEATURES)
STATIC_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in STATIC_FEATURES)
COUNTER_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in COUNTER_FEATURES)

#: Not a model feature: the callee number as a float (-1.0 when none), carried in the
#: ``static_features`` dict so that ``counter_features`` can score sequential dialling.
AUX_TO_VALUE: Final = "aux_to_value"

#: Bayesian priors of the outcome ratios: (failed + P*N) / (calls + N), so 0/0 is P, not 1.
PRIOR_CALLS: Final = 2.0
PRIOR_FAIL: Final = 0.2
PRIOR_SHORT: Final = 0.1
#: Digits of the callee number counted together as a number block.
PREFIX_DIGITS: Final = 6


def observation(req: Request, source_ip: str) -> Observation:
    """The entities this INVITE is counted under (empty strings: not applicable)."""
    both = numbers.parties(req)
    shape = fingerprint.header_shape(req)
    ua_fp = fingerprint.ua_fingerprint(req, shape.order_hash)
    stack_fp = fingerprint.stack_fingerprint(req, shape.stack_hash)
    return _observation(req, source_ip, both, ua_fp, stack_fp, numbers.is_neighbour(*both))


def _observation(
    req: Request, source_ip: str, both: tuple[Number, Number], ua_fp: str, stack_fp: str, neighbour: bool
) -> Observation:
    caller, callee = both
    from_user = "" if numbers.is_anonymous(req) else caller.text
    to = callee.text
    return Observation(
        source_ip,
        from_user,
        to,
        to[:PREFIX_DIGITS] if callee.numeric else "",
        ua_fp,
        flow_of(source_ip, stack_fp),
        to if len(to) <= EXTENSION_MAX else "",
        from_user if neighbour else "",
    )


def static_features(req: Request, source_ip: str, lists: NumberLists) -> dict[str, float]:
    """All message-only features (:data:`STATIC_NAMES`), plus :data:`AUX_TO_VALUE`."""
    return invite_features(req, source_ip, lists)[0]


def invite_features(
    req: Request, source_ip: str, lists: NumberLists
) -> tuple[dict[str, float], Observation, tuple[Number, Number]]:
    """:func:`static_features`, :func:`observation` and the caller and callee numbers at once,
    parsing what they share (the numbers, the header shape) once."""
    both = numbers.parties(req)
    shape = fingerprint.header_shape(req)
    out = numbers.number_features(req, lists, both)
    out.update(fingerprint.message_features(req, source_ip, shape))
    out[AUX_TO_VALUE] = numbers.to_value(both[1])
    ua_fp = fingerprint.ua_fingerprint(req, shape.order_hash)
    stack_fp = fingerprint.stack_fingerprint(req, shape.stack_hash)
    return out, _observation(req, source_ip, both, ua_fp, stack_fp, out["from_neighbour"] > 0.0), both


def _count(value: float) -> float:
    return value if math.isfinite(value) and value > 0.0 else 0.0


def _log(value: float) -> float:
    return math.log1p(_count(value))


def _ratio(part: float, whole: float, prior: float) -> float:
    return min(1.0, (_count(part) + prior * PRIOR_CALLS) / (_count(whole) + PRIOR_CALLS))


def counter_features(counters: Counters, static: dict[str, float] | None = None) -> dict[str, float]:
    """Counter features (:data:`COUNTER_NAMES`).

    ``static`` (the :func:`static_features` dict) supplies the current callee number for the
    sequential-dialling features; without it they compare the source's recent numbers among
    themselves.
    """
    c = counters
    anchor: int | None = None
    if static is not None:
        value = static.get(AUX_TO_VALUE, -1.0)
        anchor = int(value) if math.isfinite(value) and value >= 0.0 else None
    near, run, considered = numbers.sweep(anchor, c.src_recent_to)
    if static is not None and anchor is None:
        near = run = considered = 0  # the current callee is not a number: no sweep through it
    return {
        "log_src_1s": _log(c.src_1s),
        "log_src_10s": _log(c.src_10s),
        "log_src_60s": _log(c.src_60s),
        "log_src_1h": _log(c.src_1h),
        "log_from_60s": _log(c.from_60s),
        "log_from_1h": _log(c.from_1h),
        "log_to_60s": _log(c.to_60s),
        "log_to_1h": _log(c.to_1h),
        "log_prefix_60s": _log(c.prefix_60s),
        "log_prefix_1h": _log(c.prefix_1h),
        "log_ua_60s": _log(c.ua_60s),
        "log_ua_1h": _log(c.ua_1h),
        "log_src_distinct_to_60s": _log(c.src_distinct_to_60s),
        "log_src_distinct_to_1h": _log(c.src_distinct_to_1h),
        "log_from_distinct_to_60s": _log(c.from_distinct_to_60s),
        "log_from_distinct_to_1h": _log(c.from_distinct_to_1h),
        "log_from_distinct_src_1h": _log(c.from_distinct_src_1h),
        "log_ua_distinct_src_1h": _log(c.ua_distinct_src_1h),
        "src_to_diversity_60s": min(1.0, _count(c.src_distinct_to_60s) / (_count(c.src_60s) + 1.0)),
        "src_to_diversity_1h": min(1.0, _count(c.src_distinct_to_1h) / (_count(c.src_1h) + 1.0)),
        "log_src_outcomes_1h": _log(c.src_calls_1h),
        "src_fail_ratio": _ratio(c.src_failed_1h, c.src_calls_1h, PRIOR_FAIL),
        "src_short_ratio": _ratio(c.src_short_1h, c.src_calls_1h, PRIOR_SHORT),
        "seq_near": float(near),
        "seq_run": float(run),
        "seq_score": numbers.sweep_score(near, run, considered),
    }


def feature_vector(static: dict[str, float], counters: Counters) -> tuple[dict[str, float], Sequence[float]]:
    """Every feature of one INVITE from its :func:`static_features` (or :func:`invite_features`)
    and its ``counters``: the values by name (what the rules and the explanations read) and the
    vector in :data:`FEATURE_NAMES` order (what the model reads). The one way a feature vector
    is built, for the proxy's verdicts, training and evaluation alike."""
    values = dict(static)
    values.update(counter_features(counters, static))
    try:
        vector: Sequence[float] = _VECTOR(values)
    except KeyError:  # a feature the feature code did not produce: 0.0, as the model was trained
        vector = [values.get(name, 0.0) for name in FEATURE_NAMES]
    return values, vector


_VECTOR: Final[Callable[[dict[str, float]], Sequence[float]]] = operator.itemgetter(*FEATURE_NAMES)
