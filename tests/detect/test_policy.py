"""The policy document compiles into ordered rules."""

from __future__ import annotations

import pytest

from antibot.detect.policy import default_doc, ruleset_from_doc
from antibot.detect.rules import RuleError
from antibot.detect.verdict import Action

from .test_rules import facts


def test_lists_become_rules_with_allow_first() -> None:
    doc = default_doc()
    doc["lists"]["deny"]["user_agents"] = ["friendly-scanner", "sip.cli(x)"]
    doc["lists"]["deny"]["numbers"] = ["+53"]
    doc["lists"]["allow"]["numbers"] = ["33123456789"]
    doc["rules"] = [{"id": "late-allow", "phase": "allow", "action": "relay", "cidrs": ["10.0.0.0/8"]}]
    rules = ruleset_from_doc(doc)
    ids = [r.spec.id for r in rules.rules]
    assert ids == ["allow-list:caller", "late-allow", "deny-list:caller", "deny-list:callee", "deny-list:ua"]
    # the allowlisted caller passes even with a scanner UA
    assert rules.decide(facts(user_agent="friendly-scanner")).action is Action.RELAY
    d = rules.decide(facts(user_agent="friendly-scanner", from_number="999"))
    assert (d.action, d.rule, d.reason) == (Action.REJECT, "deny-list:ua", "scanner user-agent")
    # UA entries are literal text, not patterns
    assert rules.decide(facts(user_agent="sip.cli(x)", from_number="1")).action is Action.REJECT
    assert rules.decide(facts(user_agent="sipXcli(x)", from_number="1")).action is Action.RELAY
    assert rules.decide(facts(to_number="5351234567", from_number="1")).rule == "deny-list:callee"


def test_deny_action_mode_and_thresholds() -> None:
    doc = default_doc()
    doc.update(mode="monitor", deny_action="drop", suspect_threshold=0.3, reject_threshold=0.8)
    doc["lists"]["deny"]["cidrs"] = ["203.0.113.0/24"]
    rules = ruleset_from_doc(doc)
    assert rules.mode == "monitor"
    assert rules.decide(facts(source_ip="203.0.113.4")).action is Action.DROP
    assert rules.decide(facts(score=0.35)).action is Action.SUSPECT


def test_bad_documents_are_refused() -> None:
    doc = default_doc()
    doc["rules"] = [{"id": "x", "cidrs": ["nope"]}]
    with pytest.raises(RuleError, match="bad CIDR"):
        ruleset_from_doc(doc)
    with pytest.raises(RuleError, match="bad policy document"):
        ruleset_from_doc({"suspect_threshold": "high"})
