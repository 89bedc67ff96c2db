"""The operator policy document: rules, allow/deny lists, thresholds and mode (pure).

One JSON document holds everything an operator tunes. The admin API edits it (versioned,
audited, published on change) and every proxy builds its :class:`RuleSet` from it, so the
API's dry-run and the proxies evaluate exactly the same thing.

Lists become rules: allow lists first (``allow-list:*``), then deny lists (``deny-list:*``),
then the destination policy (``deny-destination:*``), then the operator's own rules in their
order (allow rules of theirs still come first).

The destination policy is on out of the box: a call from outside to an international premium,
IRSF or international-network range (the ``premium`` and ``high_risk`` prefixes, international
entries of :class:`~.lists.NumberLists`) is refused with the deny lists' action and status,
whatever form the number is dialled in (``+``, ``00``, ``011``, separators, a dial-out prefix:
:func:`~.rules.dialled`). ``enabled`` turns it off; ``exceptions`` (international numbers or
prefixes) are allowed anyway. A stored document without the section gets the defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .corroboration import DEFAULT_SHARE, DEFAULT_SWEEP, sweep_policy
from .lists import NumberLists
from .rules import DEFAULT_ISOLATED, RuleError, RuleSet, RuleSpec, international_prefix

LIST_KINDS = ("cidrs", "numbers", "user_agents")
#: The destination policy's lists and their rules' ids and reason texts.
DESTINATION_LISTS: dict[str, tuple[str, str]] = {
    "premium_prefixes": ("deny-destination:premium", "premium-rate destination"),
    "high_risk_prefixes": ("deny-destination:high-risk", "high-risk (IRSF) destination"),
}
#: Most entries in one destination list.
MAX_DESTINATIONS = 1000


def international_only(prefixes: Sequence[str]) -> list[str]:
    """The entries of ``prefixes`` written internationally, as ``+digits`` (national ones such
    as the UK's ``09`` are left out: they mean other things in other countries)."""
    out: list[str] = []
    for p in prefixes:
        digits = international_prefix(p)
        if digits is not None and "+" + digits not in out:
            out.append("+" + digits)
    return out


_LISTS = NumberLists()
DEFAULT_DOC: dict[str, Any] = {
    "version": 0,
    "mode": "enforce",
    "suspect_threshold": 0.5,
    "reject_threshold": 0.9,
    "corroboration": DEFAULT_SHARE,
    "isolated_verdict": DEFAULT_ISOLATED,
    "reject_status": 603,
    "deny_action": "reject",
    "lists": {
        "allow": {"cidrs": [], "numbers": [], "user_agents": []},
        "deny": {"cidrs": [], "numbers": [], "user_agents": []},
    },
    "destinations": {
        "enabled": True,
        "premium_prefixes": international_only(_LISTS.premium_prefixes),
        "high_risk_prefixes": international_only(_LISTS.high_risk_prefixes),
        "exceptions": [],
    },
    "sweep": dict(DEFAULT_SWEEP),
    "rules": [],
}


def default_doc() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_DOC)


def _escape(text: str) -> str:
    """Literal RE2 pattern for a User-Agent substring."""
    return "".join(ch if ch.isalnum() or ch in " -_" else "\\" + ch for ch in text)


def list_rules(
    lists: Mapping[str, Mapping[str, Sequence[str]]], deny_action: str, reject_status: int
) -> list[RuleSpec]:
    out: list[RuleSpec] = []
    for phase in ("allow", "deny"):
        entries = lists.get(phase, {})
        action = "relay" if phase == "allow" else deny_action
        reason = "" if phase == "allow" else "deny list"
        cidrs = tuple(entries.get("cidrs", ()))
        numbers = tuple(entries.get("numbers", ()))
        uas = tuple(entries.get("user_agents", ()))
        if cidrs:
            out.append(
                RuleSpec(
                    f"{phase}-list:cidr", phase=phase, action=action, cidrs=cidrs, status=reject_status, reason=reason
                )
            )
        if numbers:
            # A listed number matches the caller; for deny lists also the callee (premium ranges).
            out.append(
                RuleSpec(
                    f"{phase}-list:caller",
                    phase=phase,
                    action=action,
                    from_prefixes=numbers,
                    status=reject_status,
                    reason=reason,
                )
            )
            if phase == "deny":
                out.append(
                    RuleSpec(
                        "deny-list:callee",
                        phase=phase,
                        action=action,
                        to_prefixes=numbers,
                        status=reject_status,
                        reason=reason,
                    )
                )
        if uas:
            out.append(
                RuleSpec(
                    f"{phase}-list:ua",
                    phase=phase,
                    action=action,
                    ua_pattern="|".join(_escape(u) for u in uas),
                    status=reject_status,
                    reason="scanner user-agent" if phase == "deny" else "",
                )
            )
    return out


def destination_rules(section: Any, deny_action: str, reject_status: int) -> list[RuleSpec]:
    """The destination policy's rules (none when it is off); raises :class:`RuleError` naming
    the field when the section is malformed, even when it is off (turning it on must not fail)."""
    if not isinstance(section, Mapping):
        raise RuleError("bad policy document: destinations must be an object")
    unknown = set(section) - {"enabled", *DESTINATION_LISTS, "exceptions"}
    if unknown:
        raise RuleError(f"bad policy document: destinations: unknown field(s) {', '.join(sorted(unknown))}")
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"bad policy document: destinations.enabled must be true or false, not {enabled!r}")
    exceptions = _strings(section, "exceptions")
    out: list[RuleSpec] = []
    for key, (rid, reason) in DESTINATION_LISTS.items():
        prefixes = _strings(section, key)
        if enabled and prefixes:
            out.append(
                RuleSpec(
                    rid,
                    phase="deny",
                    action=deny_action,
                    dest_prefixes=prefixes,
                    dest_exceptions=exceptions,
                    status=reject_status,
                    reason=reason,
                )
            )
    return out


def _strings(section: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A destination list: international entries (``+`` or ``00``, then 1-15 digits)."""
    values = section.get(key, [])
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise RuleError(f"bad policy document: destinations.{key} must be a list of strings")
    if len(values) > MAX_DESTINATIONS:
        raise RuleError(f"bad policy document: destinations.{key} has more than {MAX_DESTINATIONS} entries")
    for text in values:
        if international_prefix(text) is None:
            raise RuleError(
                f"bad policy document: destinations.{key} entries are international"
                f" (+ and 1-15 digits, e.g. +882), not {text!r}"
            )
    return tuple(values)


def _number(doc: Mapping[str, Any], key: str) -> float:
    value = doc.get(key, DEFAULT_DOC[key])
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"bad policy document: {key} must be a number, not {value!r}")
    return float(value)


def _integer(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key, DEFAULT_DOC[key])
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(f"bad policy document: {key} must be an integer, not {value!r}")
    return value


def ruleset_from_doc(doc: Mapping[str, Any]) -> RuleSet:
    """Compile a policy document; raises :class:`RuleError` with a precise message if it is bad.

    Every path into the policy (config file, admin API, a document read back from Redis) comes
    through here: values must have the right type (no ``"0.5"``, ``true`` or null), and
    :class:`RuleSet` checks their ranges (:func:`~.rules.check_knobs`)."""
    try:
        reject_status = _integer(doc, "reject_status")
        thresholds = {k: _number(doc, k) for k in ("suspect_threshold", "reject_threshold", "corroboration")}
        lists = doc.get("lists", {})
        deny_action = str(doc.get("deny_action", "reject"))
        specs = list_rules(lists, deny_action, reject_status)
        specs.extend(
            destination_rules(doc.get("destinations", DEFAULT_DOC["destinations"]), deny_action, reject_status)
        )
        specs.extend(RuleSpec.from_dict(r) for r in doc.get("rules", []))
        return RuleSet(
            specs,
            suspect_threshold=thresholds["suspect_threshold"],
            reject_threshold=thresholds["reject_threshold"],
            reject_status=reject_status,
            mode=str(doc.get("mode", "enforce")),
            corroboration=thresholds["corroboration"],
            sweep=sweep_policy(doc.get("sweep")),
            isolated_verdict=str(doc.get("isolated_verdict", DEFAULT_ISOLATED)),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RuleError):
            raise
        raise RuleError(f"bad policy document: {exc}") from None
