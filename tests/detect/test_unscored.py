"""UnscoredRules: the config's policy without scores (`antibot run --no-detect`), on real messages."""

from __future__ import annotations

from typing import Any

from antibot.config import load
from antibot.detect.policy import default_doc, ruleset_from_doc
from antibot.detect.unscored import UnscoredRules
from antibot.detect.verdict import Action
from antibot.policy_setup import build_rules, seed_doc
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram


def invite(ua: str = "Yealink SIP-T46S", frm: str = "14155550123", to: str = "2000") -> Request:
    msg = parse_datagram(
        (
            f"INVITE sip:{to}@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{frm}@198.51.100.7>;tag=a\r\nTo: <sip:{to}@192.0.2.10>\r\n"
            f"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:{frm}@198.51.100.7>\r\nUser-Agent: {ua}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(msg, Request)
    return msg


def unscored(**doc: Any) -> UnscoredRules:
    base = default_doc()
    base.update(doc)
    return UnscoredRules(ruleset_from_doc(base))


def test_the_configs_scanner_list_rejects_with_a_reason() -> None:
    rules = UnscoredRules(build_rules(seed_doc(load(None, {"upstream": ["sip:192.0.2.10"]}))), reject_phrase="Go Away")
    v = rules.decide(invite(ua="friendly-scanner"), "198.51.100.7", 0.0)
    assert (v.action, v.rule, v.status, v.phrase) == (Action.REJECT, "deny-list:ua", 603, "Go Away")
    assert v.reason_header() == 'SIP;cause=603;text="antibot: scanner user-agent"'
    assert rules.decide(invite(), "198.51.100.7", 0.0).action is Action.RELAY
    assert not rules.rules.reads_numbers  # the default policy never parses the numbers


def test_lists_rules_and_actions_without_a_score() -> None:
    rules = unscored(
        deny_action="drop",
        lists={"allow": {"numbers": ["14155550123"]}, "deny": {"cidrs": ["203.0.113.0/24"], "numbers": ["+53"]}},
        rules=[
            {"id": "watch", "phase": "threshold", "action": "suspect", "ua_pattern": "^MicroSIP"},
            {"id": "on-score", "phase": "threshold", "action": "reject", "min_score": 0.05},
            {"id": "on-feature", "phase": "threshold", "action": "reject", "feature": "to_len", "feature_min": 0.0},
        ],
        suspect_threshold=0.05,
    )
    assert rules.rules.reads_numbers
    assert rules.decide(invite(), "203.0.113.9", 0.0).action is Action.RELAY  # allow list first
    assert rules.decide(invite(frm="999"), "203.0.113.9", 0.0).action is Action.DROP
    assert rules.decide(invite(frm="999", to="5351234567"), "198.51.100.7", 0.0).rule == "deny-list:callee"
    suspect = rules.decide(invite(frm="999", ua="MicroSIP/3.21"), "198.51.100.7", 0.0)
    assert suspect.action is Action.SUSPECT and suspect.headers == (("X-Antibot-Verdict", "suspect"),)
    # no score, no features: rules on them, and the thresholds (even at their lowest), never apply
    assert rules.decide(invite(frm="999"), "198.51.100.7", 0.0).action is Action.RELAY


def test_monitor_mode_relays_a_denied_call_with_the_verdict_header() -> None:
    rules = unscored(mode="monitor", lists={"deny": {"user_agents": ["sipcli"]}})
    v = rules.decide(invite(ua="sipcli/v1.8"), "198.51.100.7", 0.0)
    assert v.action is Action.RELAY and v.headers == (("X-Antibot-Verdict", "reject"),)
