"""Reasons an operator can read: a sentence per feature that agrees with its value, short codes
that are SIP tokens, and the proxy writing codes (not feature names) in X-Antibot-Reasons."""

from __future__ import annotations

import json
import math
import re

import pytest

from antibot.detect.engine import Detector
from antibot.detect.explain import COUNTS, FLAGS, MARKERS, NUMBERS, reason_code, sentence, why
from antibot.detect.features import COUNTER_NAMES, FEATURE_NAMES
from antibot.detect.model import FORMAT, Model
from antibot.detect.rules import RuleSet
from antibot.proxy.decision import Action

from ._sip import ANON_SRC, ANONYMOUS, CARRIER_SDP, PHONE, PHONE_SDP, PHONE_SRC, SCANNER, SCANNER_SRC, addr, parse

#: RFC 3261 §25.1 token characters, less the ones that would read badly in a list ("," is not one).
CODE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CALL = {"from": "4420794600", "to": "1001", "ua": "friendly-scanner"}


def test_every_feature_has_its_own_sentence_and_codes() -> None:
    tables = (FLAGS, COUNTS, NUMBERS)
    for name in FEATURE_NAMES:
        assert sum(name in t for t in tables) == 1, f"{name}: add it to exactly one table in explain.py"
        for value in (0.0, 1.0):
            text, code = sentence(name, value, CALL), reason_code(name, value)
            assert text and name not in text and "{" not in text, (name, text)
            assert CODE.match(code) and "_" not in code, (name, code)
    assert not (set(FLAGS) | set(COUNTS) | set(NUMBERS)) - set(FEATURE_NAMES)


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_a_flag_absent_and_present_read_differently(name: str) -> None:
    absent, present = sentence(name, 0.0), sentence(name, 1.0)
    assert absent != present
    assert reason_code(name, 0.0) != reason_code(name, 1.0)


def test_sentences_agree_with_their_values() -> None:
    assert sentence("has_identity", 0.0).startswith("no P-Asserted-Identity")
    assert reason_code("has_identity", 0.0) == "no-identity" and reason_code("has_identity", 1.0) == "identity"
    assert not sentence("has_identity", 1.0).startswith("no ")
    assert sentence("no_user_agent", 1.0) == "no User-Agent header"
    assert sentence("no_user_agent", 0.0, CALL) == "User-Agent present (friendly-scanner)"
    assert sentence("ua_scanner", 1.0, CALL) == "User-Agent names a known scanner (friendly-scanner)"
    assert sentence("ua_scanner", 0.0, CALL).startswith("User-Agent is not a known scanner")
    assert sentence("to_premium", 1.0, {"to": "00882123"}) == "called a premium-rate destination (00882123)"
    assert sentence("max_forwards", 16.0) == "Max-Forwards 16 (phones send 70)"
    assert sentence("max_forwards", -1.0).startswith("no Max-Forwards")
    assert sentence("from_e164", 1.0).startswith("caller ID is a valid")
    assert "cannot be checked" in sentence("from_e164", 0.5) and "not a valid" in sentence("from_e164", 0.0)
    assert reason_code("from_e164", 0.5) == reason_code("from_e164", 0.0) == "caller-not-e164"
    assert sentence("src_fail_ratio", 0.734) == "73% of this source's calls failed in the last hour (smoothed)"
    # what a caller sends is shortened and kept on one line
    long_ua = {"ua": "x" * 100 + "\r\nInjected: 1"}
    assert len(sentence("ua_scanner", 1.0, long_ua)) < 110 and "\n" not in sentence("ua_scanner", 1.0, long_ua)


def test_counters_are_shown_as_counts() -> None:
    assert sentence("log_src_distinct_to_60s", math.log1p(87)) == "87 distinct callees in 60 s from this source"
    assert sentence("log_src_60s", math.log1p(1)) == "1 call in 60 s from this source"
    assert sentence("log_ua_distinct_src_1h", math.log1p(5.0000004)).startswith("this client fingerprint came from 5 ")
    for name in COUNTER_NAMES:
        if name in COUNTS:
            assert "42" in sentence(name, math.log1p(42)), name
            assert "0 " in sentence(name, 0.0) and sentence(name, float("nan")) == sentence(name, 0.0)


def test_why_puts_the_rule_first_and_skips_feature_names_of_older_entries() -> None:
    top = [("has_identity", 1.18), ("log_src_60s", -0.4)]
    values = {"has_identity": 0.0, "log_src_60s": math.log1p(3)}
    got = why(top, values, ["deny-list:ua", "no-identity", "src-calls-60s", "store-unavailable"], rule="deny-list:ua")
    assert got == [
        {"code": "deny-list:ua", "text": MARKERS["deny-list:ua"], "weight": None},
        {"code": "no-identity", "text": "no P-Asserted-Identity or Remote-Party-ID", "weight": 1.18},
        {"code": "src-calls-60s", "text": "3 calls in 60 s from this source", "weight": -0.4},
        {"code": "store-unavailable", "text": MARKERS["store-unavailable"], "weight": None},
    ]
    old = why(top, values, ["has_identity", "log_src_60s"])
    assert [r["code"] for r in old] == ["no-identity", "src-calls-60s"]
    assert why(top, None)[0] == {"code": "has-identity", "text": "has_identity (value not recorded)", "weight": 1.18}
    sweep = "12 distinct extensions in 60 s from this flow"
    assert why([], {}, ["sweep"], rule="sweep", rule_text=sweep)[0]["text"] == sweep
    premium = why([], {}, ["deny-destination:premium"], rule="deny-destination:premium", context={"to": "00882123"})
    assert premium[0]["text"] == "called a premium-rate destination (00882123) (destination policy)"
    assert why([], {}, ["vip"], rule="vip", rule_text="our VIPs") == [
        {"code": "vip", "text": "rule vip: our VIPs", "weight": None}
    ]


def _model_on(feature: str, low: float, high: float) -> Model:
    """One tree: log-odds ``high`` when ``feature`` > 0.5, ``low`` below."""
    tree = {
        "feature": [FEATURE_NAMES.index(feature), -1, -1],
        "threshold": [0.5, 0.0, 0.0],
        "left": [1, -1, -1],
        "right": [2, -1, -1],
        "value": [0.0, low, high],
    }
    return Model.from_dict(
        {"format": FORMAT, "features": list(FEATURE_NAMES), "base": 0.0, "rate": 1.0, "trees": [tree]}
    )


class Log:
    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    def submit(self, entry: dict[str, str]) -> bool:
        self.entries.append(entry)
        return True


def test_the_proxy_writes_codes_that_agree_with_the_call() -> None:
    """A phone without an identity header: ``no-identity``, not ``has_identity`` (which read
    as if it had one); a carrier call with P-Asserted-Identity: ``identity``."""
    log = Log()
    model = _model_on("has_identity", 1.0, -1.0)  # the explanation lists what pushed towards "bot"
    d = Detector(rules=RuleSet(), model=model, counters=None, calllog=log, clock=lambda: 1e9)
    phone = d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
    assert phone.action is Action.SUSPECT and phone.reasons == ("score-suspect", "no-identity")
    assert dict(phone.headers)["X-Antibot-Reasons"] == "score-suspect,no-identity"
    entry = log.entries[0]
    assert entry["reasons"] == "score-suspect,no-identity"
    assert json.loads(entry["explanation"])[0][0] == "has_identity"  # the feature itself, for the API
    d.model = _model_on("has_identity", -1.0, 1.0)
    carrier = d.decide(parse(ANONYMOUS, CARRIER_SDP), addr(ANON_SRC), 0.0)
    assert carrier.action is Action.SUSPECT and carrier.reasons == ("score-suspect", "identity")

    d.model = _model_on("ua_scanner", -3.0, 3.0)
    scanner = d.decide(parse(SCANNER), addr(SCANNER_SRC), 0.0)
    header = dict(scanner.headers)["X-Antibot-Reasons"]
    assert header == "score-reject,scanner-ua" and all(CODE.match(c) for c in header.split(",")[1:])
