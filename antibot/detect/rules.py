"""Operator rules: allow lists first, then deny lists, then thresholds (pure, no I/O).

Rules match on the source CIDR, From/To number prefixes, international destinations (the
number as dialled, in any international form: see :func:`dialled`), a User-Agent pattern (RE2:
linear time, so an operator's pattern cannot backtrack catastrophically), the transport the
call came over and what its TLS handshake said (the server name asked for, RFC 6066 §3; a client
certificate), the model score and any feature/counter value. Every matcher given on a rule must
hold (AND). The first rule that matches decides; with none, the score thresholds do.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import re2

from ..proxy.decision import Action
from ..proxy.effects import TlsFacts
from ..sip.message import Request
from .corroboration import SweepPolicy
from .numbers import Number, dialout_probe, parties, ruri_number

PHASES: Final = ("allow", "deny", "threshold")
#: The decision's rule when a high score was not acted on for want of support (:mod:`.corroboration`).
ISOLATED: Final = "score-isolated"
#: How a high score that is not corroborated is relayed (the policy's ``isolated_verdict``):
#: always ``pass``, always ``suspect``, or ``suspect`` from the reject threshold up and ``pass`` below.
ISOLATED_VERDICTS: Final = ("pass", "suspect", "suspect-above-reject")
DEFAULT_ISOLATED: Final = "suspect-above-reject"
ACTIONS: Final = ("relay", "suspect", "reject", "drop")
#: Lowest score threshold (default thresholds and a rule's ``min_score``): below it a threshold
#: acts on essentially every call (``6e-27`` rejected them all), so it is refused.
MIN_THRESHOLD: Final = 0.05
#: SIP final error statuses a reject may answer with (RFC 3261 §21.4-21.6).
MIN_STATUS: Final = 400
MAX_STATUS: Final = 699
#: Largest magnitude of a rule's ``feature_min``.
MAX_FEATURE_MIN: Final = 1e9
#: The transports a rule's ``transports`` may name.
TRANSPORTS: Final = ("udp", "tcp", "tls", "ws", "wss")
#: A rule's ``tls_sni``: the client sent no server name, or sent one (any), or else that name.
SNI_ABSENT: Final = "absent"
SNI_PRESENT: Final = "present"
#: A server name a rule may ask for: a DNS name (letters, digits, ``-``, ``.``; 253 at most).
SNI_NAME: Final = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


def check_sni(value: str) -> str:
    """A rule's ``tls_sni`` normalised (lower case), or :class:`RuleError`."""
    name = value.strip().lower()
    if name in (SNI_ABSENT, SNI_PRESENT) or SNI_NAME.match(name):
        return name
    raise RuleError(f"tls_sni must be {SNI_ABSENT!r}, {SNI_PRESENT!r} or a server name, not {value!r}")


class RuleError(ValueError):
    """A rule that cannot be compiled; the message names the rule and the field."""


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise :class:`RuleError` naming ``name`` unless ``low <= value <= high`` (NaN and ±inf never are)."""
    if not (math.isfinite(value) and low <= value <= high):
        raise RuleError(f"{name} must be between {low:g} and {high:g}, not {value!r}")


def check_status(name: str, value: int) -> None:
    if not MIN_STATUS <= value <= MAX_STATUS:
        raise RuleError(f"{name} must be between {MIN_STATUS} and {MAX_STATUS}, not {value!r}")


def check_knobs(suspect_threshold: float, reject_threshold: float, corroboration: float, reject_status: int) -> None:
    """The bounds of the policy's global knobs, one place for the config file, the admin API
    and a document read back from Redis: thresholds in [:data:`MIN_THRESHOLD`, 1] with
    suspect <= reject, corroboration in [0, 1], reject_status 400-699."""
    check_range("suspect_threshold", suspect_threshold, MIN_THRESHOLD, 1.0)
    check_range("reject_threshold", reject_threshold, MIN_THRESHOLD, 1.0)
    if suspect_threshold > reject_threshold:
        raise RuleError(
            f"need suspect_threshold <= reject_threshold (not {suspect_threshold!r} > {reject_threshold!r})"
        )
    check_range("corroboration", corroboration, 0.0, 1.0)
    check_status("reject_status", reject_status)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One operator rule as stored (TOML config or the admin API)."""

    id: str
    phase: str = "deny"
    action: str = "reject"
    cidrs: tuple[str, ...] = ()
    from_prefixes: tuple[str, ...] = ()
    to_prefixes: tuple[str, ...] = ()
    ua_pattern: str | None = None
    min_score: float | None = None
    feature: str | None = None
    feature_min: float | None = None
    #: International destination prefixes (``+882``): match the number as dialled (:func:`dialled`).
    dest_prefixes: tuple[str, ...] = ()
    #: International numbers or prefixes that ``dest_prefixes`` never match (allowed anyway).
    dest_exceptions: tuple[str, ...] = ()
    #: The transports the call must have come over (:data:`TRANSPORTS`); empty: any.
    transports: tuple[str, ...] = ()
    #: Over TLS only: the server name the client asked for, :data:`SNI_ABSENT` or :data:`SNI_PRESENT`.
    tls_sni: str | None = None
    #: Over TLS only: the client presented a certificate (True) or did not (False).
    tls_client_cert: bool | None = None
    status: int = 603
    reason: str = ""
    enabled: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSpec:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        rid = str(data.get("id", "?"))
        if unknown:
            raise RuleError(f"rule {rid}: unknown field(s) {', '.join(sorted(unknown))}")
        values = dict(data)
        for key in ("cidrs", "from_prefixes", "to_prefixes", "dest_prefixes", "dest_exceptions", "transports"):
            if key in values:
                values[key] = tuple(str(v) for v in values[key])
        for key in ("min_score", "feature_min"):
            value = values.get(key)
            if value is not None:
                if not _is_number(value):
                    raise RuleError(f"rule {rid}: {key} must be a number, not {value!r}")
                values[key] = float(value)
        if "status" in values and (isinstance(values["status"], bool) or not isinstance(values["status"], int)):
            raise RuleError(f"rule {rid}: status must be an integer, not {values['status']!r}")
        sni = values.get("tls_sni")
        if sni is not None and not isinstance(sni, str):
            raise RuleError(f"rule {rid}: tls_sni must be a string, not {sni!r}")
        cert = values.get("tls_client_cert")
        if cert is not None and not isinstance(cert, bool):
            raise RuleError(f"rule {rid}: tls_client_cert must be true or false, not {cert!r}")
        return cls(**values)


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Facts:
    """What a rule can look at for one INVITE."""

    source_ip: str
    from_number: str
    to_number: str
    user_agent: str
    score: float
    features: Mapping[str, float]
    #: How far the caller's recent calls back a high score (:mod:`.corroboration`); 1.0: fully.
    support: float
    #: The international numbers the call is addressed to, as digits (:func:`dialled`).
    dialled: tuple[str, ...]
    #: The transport the call came over (:data:`TRANSPORTS`) and, over TLS, what its handshake said.
    transport: str
    tls: TlsFacts | None

    def __init__(
        self,
        source_ip: str,
        from_number: str,
        to_number: str,
        user_agent: str,
        score: float,
        features: Mapping[str, float] | None = None,
        support: float = 1.0,
        dialled: tuple[str, ...] = (),
        transport: str = "udp",
        tls: TlsFacts | None = None,
    ) -> None:
        self.source_ip = source_ip
        self.from_number = from_number
        self.to_number = to_number
        self.user_agent = user_agent
        self.score = score
        self.features = {} if features is None else features
        self.support = support
        self.dialled = dialled
        self.transport = transport
        self.tls = tls


def dialled(req: Request, callee: Number | None = None) -> tuple[str, ...]:
    """The international numbers an INVITE is addressed to, as digits without ``+``: the callee
    (To, or the Request-URI when To has no user) and the Request-URI's user, each when written
    internationally in any form (``+``, ``00``, ``011``, ``tel:+``, visual separators, E.164
    digits without ``+``) or behind a dial-out prefix (``9`` + ``00``...). ``callee``: the To
    number when the caller already has it."""
    to = parties(req)[1] if callee is None else callee
    out: list[str] = []
    for n in (to, ruri_number(req)):
        if n.intl_like and n.text not in out:
            out.append(n.text)
        probe = dialout_probe(n)
        if probe is not None and probe.text not in out:
            out.append(probe.text)
    return tuple(out)


class _Cidrs:
    """CIDR membership in O(number of distinct prefix lengths)."""

    def __init__(self, cidrs: Iterable[str], rid: str) -> None:
        self.by_len: dict[tuple[int, int], set[int]] = {}
        for text in cidrs:
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise RuleError(f"rule {rid}: bad CIDR {text!r}") from None
            bits = net.max_prefixlen
            key = (net.version, net.prefixlen)
            self.by_len.setdefault(key, set()).add(int(net.network_address) >> (bits - net.prefixlen))

    def __contains__(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        value = int(addr)
        bits = addr.max_prefixlen
        return any(
            value >> (bits - plen) in nets for (version, plen), nets in self.by_len.items() if version == addr.version
        )


def _prefix_match(number: str, prefixes: frozenset[str]) -> bool:
    return any(number[:n] in prefixes for n in range(1, min(len(number), 16) + 1))


#: User-Agent strings whose pattern result a rule remembers (emptied when full).
UA_MEMO: Final = 4096


def _normalise_prefix(prefix: str) -> str:
    p = prefix.strip().lstrip("+")
    return p[2:] if p.startswith("00") else p


_VISUAL: Final = str.maketrans("", "", "-.() ")


def international_prefix(prefix: str) -> str | None:
    """The digits of a prefix written internationally (``+882``, ``00 882``, ``+44-9``), else
    None (a national prefix such as ``09``, or not digits)."""
    p = prefix.strip().translate(_VISUAL)
    if p.startswith("+"):
        p = p[1:]
    elif p.startswith("00"):
        p = p[2:]
    else:
        return None
    return p if 0 < len(p) <= 15 and p.isascii() and p.isdigit() else None


def _destinations(prefixes: Iterable[str], rid: str, key: str) -> frozenset[str]:
    out: set[str] = set()
    for text in prefixes:
        digits = international_prefix(text)
        if digits is None:
            raise RuleError(f"rule {rid}: {key} entries are international (+ and 1-15 digits, e.g. +882), not {text!r}")
        out.add(digits)
    return frozenset(out)


class CompiledRule:
    def __init__(self, spec: RuleSpec) -> None:
        rid = spec.id
        if spec.phase not in PHASES:
            raise RuleError(f"rule {rid}: phase must be one of {', '.join(PHASES)}")
        if spec.action not in ACTIONS:
            raise RuleError(f"rule {rid}: action must be one of {', '.join(ACTIONS)}")
        try:
            if spec.action == "reject":
                check_status("status", spec.status)
            if spec.min_score is not None:
                check_range("min_score", spec.min_score, MIN_THRESHOLD, 1.0)
            if spec.feature_min is not None:
                check_range("feature_min", spec.feature_min, -MAX_FEATURE_MIN, MAX_FEATURE_MIN)
        except RuleError as bad:  # not "exc": mypyc types a name once per function (re2.error below)
            raise RuleError(f"rule {rid}: {bad}") from None
        if (spec.feature is None) != (spec.feature_min is None):
            raise RuleError(f"rule {rid}: feature and feature_min go together")
        odd = [t for t in spec.transports if t not in TRANSPORTS]
        if odd:
            raise RuleError(f"rule {rid}: transports must be among {', '.join(TRANSPORTS)}, not {odd[0]!r}")
        self.transports = frozenset(spec.transports)
        try:
            self.sni = None if spec.tls_sni is None else check_sni(spec.tls_sni)
        except RuleError as bad:
            raise RuleError(f"rule {rid}: {bad}") from None
        self.spec = spec
        self.action = Action(spec.action)
        self.cidrs = _Cidrs(spec.cidrs, rid) if spec.cidrs else None
        self.from_prefixes = frozenset(_normalise_prefix(p) for p in spec.from_prefixes)
        self.to_prefixes = frozenset(_normalise_prefix(p) for p in spec.to_prefixes)
        self.dest_prefixes = _destinations(spec.dest_prefixes, rid, "dest_prefixes")
        self.dest_exceptions = _destinations(spec.dest_exceptions, rid, "dest_exceptions")
        self.ua = None
        self._ua_seen: dict[str, bool] = {}
        if spec.ua_pattern:
            options = re2.Options()
            options.case_sensitive = False
            options.max_mem = 1 << 20
            try:
                self.ua = re2.compile(spec.ua_pattern, options)
            except re2.error as exc:
                detail = exc.args[0] if exc.args else exc
                if isinstance(detail, bytes):
                    detail = detail.decode("utf-8", "replace")
                raise RuleError(f"rule {rid}: bad ua_pattern: {detail}") from None
        if not any(
            (
                self.cidrs,
                self.from_prefixes,
                self.to_prefixes,
                self.dest_prefixes,
                self.ua,
                self.transports,
                self.sni is not None,
                spec.tls_client_cert is not None,
                spec.min_score is not None,
                spec.feature is not None,
            )
        ):
            raise RuleError(f"rule {rid}: needs at least one matcher")

    def _ua_matches(self, ua: str) -> bool:
        """The UA pattern against ``ua``, remembered per User-Agent string (few distinct ones
        send most calls; RE2 through its Python wrapper costs microseconds). Bounded."""
        known = self._ua_seen.get(ua)
        if known is None:
            assert self.ua is not None
            known = self.ua.search(ua) is not None
            if len(self._ua_seen) >= UA_MEMO:
                self._ua_seen.clear()
            self._ua_seen[ua] = known
        return known

    def _dest_matches(self, numbers: tuple[str, ...]) -> bool:
        """Whether one of the dialled international numbers is in ``dest_prefixes`` and not
        in ``dest_exceptions``."""
        for n in numbers:
            if _prefix_match(n, self.dest_prefixes) and not (
                self.dest_exceptions and _prefix_match(n, self.dest_exceptions)
            ):
                return True
        return False

    def _tls_matches(self, tls: TlsFacts | None) -> bool:
        """The TLS matchers (``tls_sni``, ``tls_client_cert``): never met by a call not over TLS."""
        if tls is None:
            return False
        sni = self.sni
        if sni == SNI_ABSENT:
            if tls.sni:
                return False
        elif sni == SNI_PRESENT:
            if not tls.sni:
                return False
        elif sni is not None and sni != tls.sni:
            return False
        want = self.spec.tls_client_cert
        return want is None or want == tls.client_cert

    def matches(self, f: Facts) -> bool:
        s = self.spec
        if self.cidrs is not None and f.source_ip not in self.cidrs:
            return False
        if self.transports and f.transport not in self.transports:
            return False
        if (self.sni is not None or s.tls_client_cert is not None) and not self._tls_matches(f.tls):
            return False
        if self.from_prefixes and not _prefix_match(f.from_number, self.from_prefixes):
            return False
        if self.to_prefixes and not _prefix_match(f.to_number, self.to_prefixes):
            return False
        if self.dest_prefixes and not self._dest_matches(f.dialled):
            return False
        if self.ua is not None and not self._ua_matches(f.user_agent):
            return False
        if s.min_score is not None and f.score < s.min_score:
            return False
        return not (s.feature is not None and f.features.get(s.feature, 0.0) < (s.feature_min or 0.0))


# Explicit __init__ (init=False): mypyc compiles it, a dataclass's generated one stays interpreted. Never mutated.
@dataclass(init=False, unsafe_hash=True, slots=True)
class Decision:
    action: Action
    rule: str | None
    status: int
    reason: str
    #: A deny-phase rule (deny lists, scanners) decided: answered statelessly (see Verdict.stateless).
    stateless: bool

    def __init__(
        self, action: Action, rule: str | None, status: int = 603, reason: str = "", stateless: bool = False
    ) -> None:
        self.action = action
        self.rule = rule
        self.status = status
        self.reason = reason
        self.stateless = stateless


class RuleSet:
    """Compiled, ordered rules plus the default score thresholds and the global mode.

    ``corroboration``: the support (:mod:`.corroboration`) a call needs before the default
    thresholds act on its score (0: act on the score alone); operator rules are never held back.
    ``sweep``: when a flow counts as sweeping (:class:`~.corroboration.SweepPolicy`, default: on).
    """

    def __init__(
        self,
        specs: Sequence[RuleSpec] = (),
        *,
        suspect_threshold: float = 0.5,
        reject_threshold: float = 0.9,
        reject_status: int = 603,
        mode: str = "enforce",
        corroboration: float = 0.0,
        sweep: SweepPolicy | None = None,
        isolated_verdict: str = DEFAULT_ISOLATED,
    ) -> None:
        if mode not in ("enforce", "monitor"):
            raise RuleError("mode must be 'enforce' or 'monitor'")
        if isolated_verdict not in ISOLATED_VERDICTS:
            raise RuleError("isolated_verdict must be 'pass', 'suspect' or 'suspect-above-reject'")
        check_knobs(suspect_threshold, reject_threshold, corroboration, reject_status)
        ids = [s.id for s in specs]
        if len(set(ids)) != len(ids):
            raise RuleError("rule ids must be unique")
        compiled = [CompiledRule(s) for s in specs if s.enabled]
        self.rules = sorted(compiled, key=lambda r: PHASES.index(r.spec.phase))  # stable: keeps operator order
        self.unscored = [r for r in self.rules if r.spec.min_score is None and r.spec.feature is None]
        #: Whether any rule reads the caller or callee number (else they need not be parsed).
        self.reads_numbers = any(r.from_prefixes or r.to_prefixes for r in self.rules)
        #: Whether any rule reads the dialled international numbers (:func:`dialled`).
        self.reads_destinations = any(r.dest_prefixes for r in self.rules)
        self.specs = tuple(specs)
        self.suspect_threshold = suspect_threshold
        self.reject_threshold = reject_threshold
        self.reject_status = reject_status
        self.mode = mode
        self.corroboration = corroboration
        self.sweep = sweep if sweep is not None else SweepPolicy()
        #: How a high score its flow does not back is relayed: ``pass`` or ``suspect``.
        self.isolated_verdict = isolated_verdict
        self._isolated = Decision(Action.SUSPECT if isolated_verdict == "suspect" else Action.RELAY, ISOLATED)
        #: An isolated score at or above the reject threshold.
        self._isolated_top = Decision(Action.RELAY if isolated_verdict == "pass" else Action.SUSPECT, ISOLATED)

    def decide(self, f: Facts, *, scored: bool = True) -> Decision:
        """The first rule that matches, else the score thresholds. Without a score
        (``scored=False``: ``--no-detect``), rules on the score or on a feature never match and
        the thresholds do not apply."""
        for rule in self.rules if scored else self.unscored:
            if rule.matches(f):
                s = rule.spec
                return Decision(rule.action, s.id, s.status, s.reason or f"rule {s.id}", s.phase == "deny")
        if not scored:
            return Decision(Action.RELAY, None)
        if f.score >= self.suspect_threshold and f.support < self.corroboration:
            # not corroborated: never rejected on the score alone; relayed with score-isolated
            # first in the reasons, as pass or suspect (the policy's isolated_verdict)
            return self._isolated_top if f.score >= self.reject_threshold else self._isolated
        if f.score >= self.reject_threshold:
            return Decision(Action.REJECT, "score-reject", self.reject_status, "bot score")
        if f.score >= self.suspect_threshold:
            return Decision(Action.SUSPECT, "score-suspect")
        return Decision(Action.RELAY, None)
