"""The policy document compiles into ordered rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from antibot.config import ConfigError, Settings, load
from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.policy_doc import default_doc, ruleset_from_doc
from antibot.detect.rules import RuleError, dialled
from antibot.proxy.decision import Action
from antibot.run.policy import build_rules, seed_doc
from antibot.sip.message import Request

from ._sip import addr, parse
from .test_rules import facts


def test_lists_become_rules_with_allow_first() -> None:
    doc = default_doc()
    doc["lists"]["deny"]["user_agents"] = ["friendly-scanner", "sip.cli(x)"]
    doc["lists"]["deny"]["numbers"] = ["+53"]
    doc["lists"]["allow"]["numbers"] = ["33123456789"]
    doc["rules"] = [{"id": "late-allow", "phase": "allow", "action": "relay", "cidrs": ["10.0.0.0/8"]}]
    rules = ruleset_from_doc(doc)
    ids = [r.spec.id for r in rules.rules]
    assert ids == [
        "allow-list:caller",
        "late-allow",
        "deny-list:caller",
        "deny-list:callee",
        "deny-list:ua",
        "deny-destination:premium",
        "deny-destination:high-risk",
    ]
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


def invite(to: str, ruri: str | None = None) -> Request:
    """An ordinary desk phone's INVITE from outside; ``ruri``: the Request-URI's user (default: ``to``)."""
    return parse(
        f"INVITE sip:{ruri if ruri is not None else to}@192.0.2.10 SIP/2.0\n"
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK77\nMax-Forwards: 70\n"
        "From: <sip:14155550123@198.51.100.7>;tag=a\n"
        f"To: <{to if to.startswith('tel:') else 'sip:' + to + '@192.0.2.10'}>\n"
        "Call-ID: d1\nCSeq: 1 INVITE\nContact: <sip:14155550123@198.51.100.7>\nUser-Agent: Yealink SIP-T46S 66.85.0.5"
    )


@pytest.mark.parametrize(
    ("to", "ruri", "expected"),
    [
        ("+882161234567", None, ("882161234567",)),
        ("00882161234567", None, ("882161234567",)),
        ("011882161234567", None, ("882161234567",)),
        ("%2B882-16-123-4567", None, ("882161234567",)),
        ("(00882)%2016.1234567", None, ("882161234567",)),
        ("tel:+882-16-1234567", "882161234567", ("882161234567",)),
        ("882161234567", None, ("882161234567",)),  # E.164 digits without +
        ("9011882161234567", None, ("9011882161234567", "882161234567")),  # a dial-out prefix
        ("900882161234567", None, ("900882161234567", "882161234567")),
        ("2000", "00882161234567", ("882161234567",)),  # the Request-URI is dialled too
        ("2000", None, ()),
        ("0912345678", None, ()),
        ("alice", None, ()),
    ],
)
def test_dialled_numbers_in_every_form(to: str, ruri: str | None, expected: tuple[str, ...]) -> None:
    assert dialled(invite(to, ruri)) == expected


def _config(tmp_path: Path, text: str = "") -> Settings:
    path = tmp_path / "antibot.toml"
    path.write_text(f'[[upstream]]\nuri = "sip:127.0.0.1:5080"\n{text}\n')
    return load(str(path), {})


def test_the_destination_policy_is_on_out_of_the_box() -> None:
    """A call to an international premium or IRSF range is refused by its own rule, with its own
    reason, statelessly, with the deny action and status; a document stored before the section
    existed gets it too."""
    doc = default_doc()
    assert doc["destinations"]["enabled"] and "+882" in doc["destinations"]["premium_prefixes"]
    assert "09" not in doc["destinations"]["premium_prefixes"]  # national forms mean other things elsewhere
    for source in (doc, {k: v for k, v in doc.items() if k != "destinations"}):
        rules = ruleset_from_doc(source)
        d = rules.decide(facts(dialled=("882161234567",)))
        assert (d.action, d.rule, d.status, d.reason, d.stateless) == (
            Action.REJECT,
            "deny-destination:premium",
            603,
            "premium-rate destination",
            True,
        )
        irsf = rules.decide(facts(dialled=("53512345678",), score=0.0))
        assert (irsf.rule, irsf.reason) == ("deny-destination:high-risk", "high-risk (IRSF) destination")
        assert rules.decide(facts(dialled=("442071234567",))).rule is None
    doc.update(deny_action="drop", reject_status=607)
    d = ruleset_from_doc(doc).decide(facts(dialled=("882161234567",)))
    assert (d.action, d.status) == (Action.DROP, 607)


def test_the_destination_policy_can_be_turned_off_or_excepted() -> None:
    doc = default_doc()
    doc["destinations"]["exceptions"] = ["+88216", "+53 5 1234 5678"]
    rules = ruleset_from_doc(doc)
    assert rules.decide(facts(dialled=("882161234567",))).rule is None
    assert rules.decide(facts(dialled=("53512345678",))).rule is None
    assert rules.decide(facts(dialled=("53512345679",))).rule == "deny-destination:high-risk"
    assert rules.decide(facts(dialled=("882171234567",))).rule == "deny-destination:premium"
    doc["destinations"]["enabled"] = False
    rules = ruleset_from_doc(doc)
    assert not rules.reads_destinations
    assert rules.decide(facts(dialled=("882171234567",))).rule is None
    # an allow list still comes first
    doc["destinations"]["enabled"] = True
    doc["lists"]["allow"]["cidrs"] = ["198.51.100.0/24"]
    assert ruleset_from_doc(doc).decide(facts(dialled=("882171234567",))).rule == "allow-list:cidr"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("nope", "destinations must be an object"),
        ({"enabled": "yes"}, "destinations.enabled must be true or false, not 'yes'"),
        ({"premium_prefixes": "+882"}, "destinations.premium_prefixes must be a list of strings"),
        ({"high_risk_prefixes": ["09"]}, "destinations.high_risk_prefixes entries are international"),
        ({"exceptions": [882]}, "destinations.exceptions must be a list of strings"),
        ({"enabled": False, "exceptions": ["0882"]}, "destinations.exceptions entries are international"),
        ({"exceptions": ["+1"] * 1001}, "destinations.exceptions has more than 1000 entries"),
        ({"allowed": []}, "destinations: unknown field(s) allowed"),
    ],
)
def test_bad_destination_sections_are_refused(section: object, message: str) -> None:
    doc = default_doc()
    doc["destinations"] = section if not isinstance(section, dict) else {**doc["destinations"], **section}
    with pytest.raises(RuleError, match=re.escape(message)):
        ruleset_from_doc(doc)


def test_the_config_file_seeds_the_destination_policy(tmp_path: Path) -> None:
    s = _config(tmp_path)
    assert seed_doc(s)["destinations"] == default_doc()["destinations"]
    s = _config(
        tmp_path,
        '[rules]\ndestination_exceptions = ["+88216"]\n'
        '[detect]\npremium_prefixes = ["0900", "+49 900", "00882"]\nhigh_risk_prefixes = []\n',
    )
    dest = seed_doc(s)["destinations"]
    assert dest == {
        "enabled": True,
        "premium_prefixes": ["+49900", "+882"],  # the national entry feeds the features only
        "high_risk_prefixes": [],
        "exceptions": ["+88216"],
    }
    rules = build_rules(seed_doc(s))
    assert [r.spec.id for r in rules.rules if r.spec.id.startswith("deny-destination")] == ["deny-destination:premium"]
    assert rules.decide(facts(dialled=("882171234567",))).rule == "deny-destination:premium"
    assert rules.decide(facts(dialled=("882161234567",))).rule is None
    off = build_rules(seed_doc(_config(tmp_path, "[rules]\ndeny_destinations = false\n")))
    assert not off.reads_destinations
    with pytest.raises(ConfigError, match=r"rules\.deny_destinations:? must be true or false"):
        _config(tmp_path, '[rules]\ndeny_destinations = "no"\n')
    with pytest.raises(ConfigError, match=r"rules\.destination_exceptions:? must be a list"):
        _config(tmp_path, '[rules]\ndestination_exceptions = "+88216"\n')
    with pytest.raises(ConfigError, match=re.escape("rules: bad policy document: destinations.exceptions entries")):
        build_rules(seed_doc(_config(tmp_path, '[rules]\ndestination_exceptions = ["88216"]\n')))


def test_the_detector_rejects_a_listed_destination_statelessly() -> None:
    """With detection, the destination rule decides whatever the score: its own rule id and
    reason, a reject sent once (stateless)."""
    d = Detector(rules=ruleset_from_doc(default_doc()), model=None, counters=LocalCounters(), clock=lambda: 0.0)
    for to in ("00882161234567", "+882161234567", "011882161234567"):
        v = d.decide(invite(to), addr("198.51.100.7"), 0.0)
        assert (v.action, v.rule, v.status, v.stateless) == (Action.REJECT, "deny-destination:premium", 603, True)
        assert v.reasons[0] == "deny-destination:premium"
        assert v.reason_header() == 'SIP;cause=603;text="antibot: premium-rate destination"'
    assert d.decide(invite("02079460123"), addr("198.51.100.7"), 0.0).action is Action.RELAY
