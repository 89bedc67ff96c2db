"""The policy the config file describes, as a document and as compiled rules (pure).

With detection, this document seeds Redis the first time (the admin API owns it afterwards);
with ``--no-detect`` it is the whole policy, applied by :class:`antibot.detect.unscored.UnscoredRules`.
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError, Settings
from .detect.lists import NumberLists
from .detect.policy import default_doc, international_only, ruleset_from_doc
from .detect.rules import RuleError, RuleSet

__all__ = ["build_rules", "seed_doc"]


def seed_doc(s: Settings) -> dict[str, Any]:
    """The policy document the config file describes (used when Redis holds none yet)."""
    doc = default_doc()
    doc.update(
        mode=s.mode,
        suspect_threshold=s.suspect_threshold,
        reject_threshold=s.reject_threshold,
        corroboration=s.corroboration,
        isolated_verdict=s.isolated_verdict,
        reject_status=int(s.reject_status),
        deny_action=s.reject_action,
    )
    doc["lists"]["deny"]["user_agents"] = list(s.deny_user_agents)
    # the destination policy: the international entries of [detect] premium/high_risk_prefixes
    defaults = NumberLists()
    premium = defaults.premium_prefixes if s.premium_prefixes is None else s.premium_prefixes
    high_risk = defaults.high_risk_prefixes if s.high_risk_prefixes is None else s.high_risk_prefixes
    doc["destinations"] = {
        "enabled": s.deny_destinations,
        "premium_prefixes": international_only(premium),
        "high_risk_prefixes": international_only(high_risk),
        "exceptions": list(s.destination_exceptions),
    }
    doc["rules"] = list(s.rules)
    return doc


def build_rules(doc: dict[str, Any]) -> RuleSet:
    try:
        return ruleset_from_doc(doc)
    except RuleError as exc:
        raise ConfigError(f"rules: {exc}") from None
