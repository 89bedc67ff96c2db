"""UnscoredRules: the config's policy without scores (`antibot run --no-detect`), on real messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from antibot.config import load
from antibot.detect.policy_doc import default_doc, ruleset_from_doc
from antibot.detect.unscored import UnscoredRules
from antibot.proxy.decision import Action
from antibot.run.policy import build_rules, seed_doc
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram

from ._sip import addr


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
    v = rules.decide(invite(ua="friendly-scanner"), addr("198.51.100.7"), 0.0)
    assert (v.action, v.rule, v.status, v.phrase) == (Action.REJECT, "deny-list:ua", 603, "Go Away")
    assert v.reason_header() == 'SIP;cause=603;text="antibot: scanner user-agent"'
    assert rules.decide(invite(), addr("198.51.100.7"), 0.0).action is Action.RELAY
    assert not rules.rules.reads_numbers  # the default policy parses no caller number


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
    assert rules.decide(invite(), addr("203.0.113.9"), 0.0).action is Action.RELAY  # allow list first
    assert rules.decide(invite(frm="999"), addr("203.0.113.9"), 0.0).action is Action.DROP
    assert rules.decide(invite(frm="999", to="5351234567"), addr("198.51.100.7"), 0.0).rule == "deny-list:callee"
    suspect = rules.decide(invite(frm="999", ua="MicroSIP/3.21"), addr("198.51.100.7"), 0.0)
    assert suspect.action is Action.SUSPECT and suspect.headers == (("X-Antibot-Verdict", "suspect"),)
    # no score, no features: rules on them, and the thresholds (even at their lowest), never apply
    assert rules.decide(invite(frm="999"), addr("198.51.100.7"), 0.0).action is Action.RELAY


def test_monitor_mode_relays_a_denied_call_with_the_verdict_header() -> None:
    rules = unscored(mode="monitor", lists={"deny": {"user_agents": ["sipcli"]}})
    v = rules.decide(invite(ua="sipcli/v1.8"), addr("198.51.100.7"), 0.0)
    assert v.action is Action.RELAY and v.headers == (("X-Antibot-Verdict", "reject"),)


def request(method: str, to: str, ruri: str | None = None) -> Request:
    target = ruri if ruri is not None else to
    msg = parse_datagram(
        (
            f"{method} sip:{target}@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK2\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:14155550123@198.51.100.7>;tag=a\r\nTo: <sip:{to}@192.0.2.10>\r\n"
            f"Call-ID: c2\r\nCSeq: 1 {method}\r\nContact: <sip:14155550123@198.51.100.7>\r\n"
            "User-Agent: Yealink SIP-T46S 66.85.0.5\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(msg, Request)
    return msg


def test_no_detect_refuses_listed_destinations_in_every_dialling_form() -> None:
    """``--no-detect`` applies the config's destination policy: a call from outside to an
    international premium or IRSF range is refused (stateless, with its reason) in every form."""
    rules = UnscoredRules(build_rules(seed_doc(load(None, {"upstream": ["sip:192.0.2.10"]}))))
    assert rules.rules.reads_destinations
    for to in ("00882161234567", "+882161234567", "011882161234567", "%2B882-16-1234567", "9011882161234567"):
        v = rules.decide(invite(to=to), addr("198.51.100.7"), 0.0)
        assert (v.action, v.rule, v.status, v.stateless) == (Action.REJECT, "deny-destination:premium", 603, True), to
        assert v.reason_header() == 'SIP;cause=603;text="antibot: premium-rate destination"'
    irsf = rules.decide(invite(to="+252612345678"), addr("198.51.100.7"), 0.0)
    assert (irsf.rule, irsf.reason_text) == ("deny-destination:high-risk", "antibot: high-risk (IRSF) destination")
    hidden = rules.decide(request("INVITE", "2000", ruri="00882161234567"), addr("198.51.100.7"), 0.0)
    assert hidden.rule == "deny-destination:premium"  # the Request-URI is what the PBX routes on
    for to in ("2000", "02079460123", "+442079460123", "0912345678"):
        assert rules.decide(invite(to=to), addr("198.51.100.7"), 0.0).action is Action.RELAY, to
    # the destination policy is about calls
    for method in ("OPTIONS", "REGISTER", "MESSAGE"):
        assert rules.decide(request(method, "+882161234567"), addr("198.51.100.7"), 0.0).action is Action.RELAY


def test_no_detect_destination_policy_off_or_excepted(tmp_path: Path) -> None:
    path = tmp_path / "antibot.toml"
    path.write_text('[[upstream]]\nuri = "sip:192.0.2.10"\n[rules]\ndestination_exceptions = ["+882 16"]\n')
    rules = UnscoredRules(build_rules(seed_doc(load(str(path), {}))))
    assert rules.decide(invite(to="+882161234567"), addr("198.51.100.7"), 0.0).action is Action.RELAY
    assert rules.decide(invite(to="+882171234567"), addr("198.51.100.7"), 0.0).action is Action.REJECT
    path.write_text('[[upstream]]\nuri = "sip:192.0.2.10"\n[rules]\ndeny_destinations = false\n')
    rules = UnscoredRules(build_rules(seed_doc(load(str(path), {}))))
    assert rules.decide(invite(to="+882171234567"), addr("198.51.100.7"), 0.0).action is Action.RELAY
