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


def ruleset_from_doc(doc: Mapping[str, Any]) -> RuleSet:
    """Compile a policy document; raises :class:`RuleError` with a precise message if it is bad."""
    try:
        lists = doc.get("lists", {})
        specs = list_rules(lists, str(doc.get("deny_action", "reject")), int(doc.get("reject_status", 603)))
        specs.extend(RuleSpec.from_dict(r) for r in doc.get("rules", []))
        return RuleSet(
            specs,
            suspect_threshold=float(doc.get("suspect_threshold", 0.5)),
            reject_threshold=float(doc.get("reject_threshold", 0.9)),
            reject_status=int(doc.get("reject_status", 603)),
            mode=str(doc.get("mode", "enforce")),
            corroboration=float(doc.get("corroboration", DEFAULT_SHARE)),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RuleError):
            raise
        raise RuleError(f"bad policy document: {exc}") from None
