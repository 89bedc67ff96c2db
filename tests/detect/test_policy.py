"""The policy document compiles into ordered rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from antibot.config import ConfigError, load
from antibot.detect.policy import default_doc, ruleset_from_doc
from antibot.detect.rules import RuleError
from antibot.detect.verdict import Action
from antibot.policy_setup import build_rules, seed_doc

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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"suspect_threshold": 6e-27}, "suspect_threshold must be between 0.05 and 1, not 6e-27"),
        ({"suspect_threshold": 0.0}, "suspect_threshold must be between 0.05 and 1"),
        ({"reject_threshold": 0.01, "suspect_threshold": 0.01}, "suspect_threshold must be between 0.05 and 1"),
        ({"reject_threshold": 1.5}, "reject_threshold must be between 0.05 and 1"),
        ({"suspect_threshold": float("nan")}, "suspect_threshold must be between 0.05 and 1, not nan"),
        ({"reject_threshold": float("inf")}, "reject_threshold must be between 0.05 and 1, not inf"),
        ({"suspect_threshold": 0.95}, "need suspect_threshold <= reject_threshold"),
        ({"corroboration": float("nan")}, "corroboration must be between 0 and 1, not nan"),
        ({"corroboration": -0.1}, "corroboration must be between 0 and 1"),
        ({"reject_status": 200}, "reject_status must be between 400 and 699, not 200"),
        ({"reject_status": 603.5}, "reject_status must be an integer, not 603.5"),
        ({"reject_status": True}, "reject_status must be an integer, not True"),
        ({"suspect_threshold": True}, "suspect_threshold must be a number, not True"),
        ({"suspect_threshold": "0.5"}, "suspect_threshold must be a number, not '0.5'"),
        ({"corroboration": None}, "corroboration must be a number, not None"),
        ({"rules": [{"id": "all", "min_score": 6e-27}]}, "rule all: min_score must be between 0.05 and 1, not 6e-27"),
        ({"rules": [{"id": "all", "min_score": 0.0}]}, "rule all: min_score must be between 0.05 and 1"),
        ({"rules": [{"id": "n", "min_score": float("nan")}]}, "rule n: min_score must be between 0.05 and 1"),
        ({"rules": [{"id": "s", "min_score": "0.5"}]}, "rule s: min_score must be a number, not '0.5'"),
        ({"rules": [{"id": "f", "feature": "to_len", "feature_min": float("nan")}]}, "rule f: feature_min must be"),
        ({"rules": [{"id": "f", "feature": "to_len", "feature_min": float("-inf")}]}, "rule f: feature_min must be"),
        ({"rules": [{"id": "f", "feature": "to_len", "feature_min": True}]}, "rule f: feature_min must be a number"),
        ({"rules": [{"id": "r", "cidrs": ["10.0.0.0/8"], "status": 99}]}, "rule r: status must be between 400 and 699"),
        ({"rules": [{"id": "r", "cidrs": ["10.0.0.0/8"], "status": "603"}]}, "rule r: status must be an integer"),
    ],
)
def test_knobs_out_of_range_are_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    """a threshold of 6e-27 acted on every call. The compiler every path goes
    through (config file, admin API, a document read back from Redis) refuses it by name."""
    doc = default_doc()
    doc.update(change)
    with pytest.raises(RuleError, match=re.escape(message)):
        ruleset_from_doc(doc)


def test_knobs_at_their_bounds_compile() -> None:
    doc = default_doc()
    doc.update(suspect_threshold=0.05, reject_threshold=1.0, corroboration=1.0, reject_status=699)
    doc["rules"] = [
        {"id": "low", "phase": "threshold", "action": "suspect", "min_score": 0.05},
        {"id": "high", "phase": "threshold", "action": "reject", "min_score": 1, "status": 400},
        {"id": "feat", "phase": "threshold", "action": "suspect", "feature": "to_len", "feature_min": -5},
    ]
    rules = ruleset_from_doc(doc)
    assert (rules.suspect_threshold, rules.reject_threshold, rules.reject_status) == (0.05, 1.0, 699)
    assert rules.decide(facts(score=0.04, features={"to_len": -6.0})).action is Action.RELAY  # below every one
    doc.update(suspect_threshold=1.0, corroboration=0, reject_status=400)
    assert ruleset_from_doc(doc).corroboration == 0.0


@pytest.mark.parametrize(
    ("detect", "message"),
    [
        ("suspect_threshold = 6e-27", "detect: suspect_threshold must be between 0.05 and 1, not 6e-27"),
        ("reject_threshold = nan", "detect: reject_threshold must be between 0.05 and 1, not nan"),
        ("corroboration = inf", "detect: corroboration must be between 0 and 1, not inf"),
    ],
)
def test_the_config_file_path_is_bounded_alike(tmp_path: Path, detect: str, message: str) -> None:
    """``[detect]`` in the config file seeds the policy: the same bounds, named the same way."""
    path = tmp_path / "antibot.toml"
    path.write_text(f'[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[detect]\n{detect}\n')
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(str(path), {})
    path.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[[rule]]\nid = "all"\nmin_score = 0.0\n')
    with pytest.raises(ConfigError, match=re.escape("rules: rule all: min_score must be between 0.05 and 1")):
        build_rules(seed_doc(load(str(path), {})))
