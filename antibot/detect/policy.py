"""The operator policy document: rules, allow/deny lists, thresholds and mode (pure).

One JSON document holds everything an operator tunes. The admin API edits it (versioned,
audited, published on change) and every proxy builds its :class:`RuleSet` from it, so the
API's dry-run and the proxies evaluate exactly the same thing.

Lists become rules: allow lists first (``allow-list:*``), then deny lists (``deny-list:*``),
then the operator's own rules in their order (allow rules of theirs still come first).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .corroboration import DEFAULT_SHARE
from .rules import RuleError, RuleSet, RuleSpec

LIST_KINDS = ("cidrs", "numbers", "user_agents")
DEFAULT_DOC: dict[str, Any] = {
    "version": 0,
    "mode": "enforce",
    "suspect_threshold": 0.5,
    "reject_threshold": 0.9,
    "corroboration": DEFAULT_SHARE,
    "reject_status": 603,
    "deny_action": "reject",
    "lists": {
        "allow": {"cidrs": [], "numbers": [], "user_agents": []},
        "deny": {"cidrs": [], "numbers": [], "user_agents": []},
    },
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
        specs = list_rules(lists, str(doc.get("deny_action", "reject")), reject_status)
        specs.extend(RuleSpec.from_dict(r) for r in doc.get("rules", []))
        return RuleSet(
            specs,
            suspect_threshold=thresholds["suspect_threshold"],
            reject_threshold=thresholds["reject_threshold"],
            reject_status=reject_status,
            mode=str(doc.get("mode", "enforce")),
            corroboration=thresholds["corroboration"],
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RuleError):
            raise
        raise RuleError(f"bad policy document: {exc}") from None
