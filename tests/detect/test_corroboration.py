"""Corroboration: a high score acts when the caller's recent calls back it."""

from __future__ import annotations

import pytest

from antibot.detect.corroboration import PRIOR, SPREAD, costly, replay_support, support, supports
from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import FORMAT, Model
from antibot.detect.observation import Counters, Observation
from antibot.detect.rules import Facts, RuleError, RuleSet, RuleSpec
from antibot.detect.verdict import Action

from ._sip import PHONE, PHONE_SRC, parse

T0 = 1_700_000_000.0


def _always_high() -> Model:
    """A model that scores every call 0.982 (one leaf, log-odds +4)."""
    always = {"feature": [-1], "threshold": [0.0], "left": [-1], "right": [-1], "value": [4.0]}
    return Model.from_dict(
        {"format": FORMAT, "features": list(FEATURE_NAMES), "base": 0.0, "rate": 1.0, "trees": [always]}
    )


def test_support_from_the_source() -> None:
    assert support(Counters(src_1h=1.0)) == pytest.approx(1 / (1 + PRIOR))  # a first call: 1/3
    assert support(Counters(src_1h=2.0, src_high_1h=1.0)) == pytest.approx(0.5)  # a second high one
    assert support(Counters(src_1h=50.0, src_high_1h=2.0)) == pytest.approx(3 / 52)  # an isolated one
    assert support(Counters()) == 1.0  # nothing counted (no counters): the score alone


def test_a_fingerprint_backs_only_when_spread_over_addresses() -> None:
    swarm = Counters(src_1h=1.0, ua_1h=40.0, ua_high_1h=39.0, ua_distinct_src_1h=SPREAD)
    assert support(swarm) == pytest.approx(40 / 42)
    narrow = Counters(src_1h=1.0, ua_1h=40.0, ua_high_1h=39.0, ua_distinct_src_1h=SPREAD - 1)
    assert support(narrow) == pytest.approx(1 / 3)  # its own addresses judge it
    busy_source = Counters(src_1h=10.0, src_high_1h=9.0, ua_1h=100.0, ua_high_1h=1.0, ua_distinct_src_1h=30.0)
    assert support(busy_source) == pytest.approx(10 / 12)  # the larger share


def test_thresholds_wait_for_support_but_operator_rules_do_not() -> None:
    rules = RuleSet([], corroboration=0.5)
    isolated = rules.decide(Facts("192.0.2.1", "", "", "", 0.97, {}, support=0.3))
    assert (isolated.action, isolated.rule) == (Action.RELAY, "score-isolated")
    assert rules.decide(Facts("192.0.2.1", "", "", "", 0.97, {}, support=0.5)).action is Action.REJECT
    assert rules.decide(Facts("192.0.2.1", "", "", "", 0.6, {}, support=0.5)).action is Action.SUSPECT
    low = rules.decide(Facts("192.0.2.1", "", "", "", 0.2, {}, support=0.0))
    assert (low.action, low.rule) == (Action.RELAY, None)
    assert RuleSet([]).decide(Facts("192.0.2.1", "", "", "", 0.97, {}, support=0.0)).action is Action.REJECT
    hard = RuleSet([RuleSpec("hard", phase="threshold", action="drop", min_score=0.95)], corroboration=1.0)
    assert hard.decide(Facts("192.0.2.1", "", "", "", 0.97, {}, support=0.0)).rule == "hard"
    with pytest.raises(RuleError, match="corroboration"):
        RuleSet([], corroboration=1.5)


def test_high_counts_for_the_source_and_the_fingerprint() -> None:
    local = LocalCounters()
    a = Observation("192.0.2.1", "alice", "100", "1", "fp1")
    local.observe(a, T0)
    local.high(a, T0)
    c = local.observe(Observation("192.0.2.1", "bob", "101", "1", "fp2"), T0 + 1)
    assert (c.src_1h, c.src_high_1h, c.ua_high_1h) == (2.0, 1.0, 0.0)  # fp2 never scored high
    c = local.observe(Observation("198.51.100.9", "carol", "102", "1", "fp1"), T0 + 2)
    assert (c.src_high_1h, c.ua_high_1h) == (0.0, 1.0)
    c = local.observe(a, T0 + 2 * 3600 + 1)
    assert (c.src_high_1h, c.ua_high_1h) == (0.0, 0.0)  # out of the window


def test_replay_a_sweep_among_people() -> None:
    """A bot address calling every 10 s scores high; a busy trunk's calls score low but one.
    The bot is acted on from its second call; the trunk's odd call stays isolated."""
    rows = []
    for k in range(30):
        rows.append((T0 + 10 * k, "203.0.113.66", "dialer", 0.97))
        rows.append((T0 + 10 * k + 1, "192.0.2.10", "pbx", 0.99 if k == 20 else 0.05))
    backing = replay_support(rows, 0.5)
    bot = [s for (_, src, _, _), s in zip(rows, backing, strict=True) if src == "203.0.113.66"]
    assert bot[0] == pytest.approx(1 / 3) and all(s >= 0.5 for s in bot[1:])
    assert backing[41] == pytest.approx(1 / 23)  # the trunk's 21st call, its first high one
    # columns in any order give the same answer per row
    order = list(reversed(range(len(rows))))
    cols = supports(
        [rows[i][0] for i in order],
        [rows[i][1] for i in order],
        [rows[i][2] for i in order],
        [rows[i][3] for i in order],
        0.5,
    )
    assert cols == [backing[i] for i in order]


def test_the_detector_counts_high_scores_and_waits_for_a_second_one() -> None:
    """A model that scores every call 0.98: a new source's first call is relayed as isolated
    (the reason says so), its second is rejected; the first call counted as high."""
    model = _always_high()
    local = LocalCounters()
    d = Detector(rules=RuleSet([], corroboration=0.5), model=model, counters=local, clock=lambda: T0)
    first = d.decide(parse(PHONE), PHONE_SRC, 0.0)
    assert first.action is Action.RELAY and first.reasons[0] == "score-isolated"
    assert dict(first.headers)["X-Antibot-Reasons"].startswith("score-isolated")
    second = d.decide(parse(PHONE), PHONE_SRC, 0.0)
    assert second.action is Action.REJECT and second.rule == "score-reject"
    assert d.stats.isolated == 1  # exported as antibot_score_isolated_total
    without = Detector(rules=RuleSet([], corroboration=0.5), model=model, counters=None, clock=lambda: T0)
    assert without.decide(parse(PHONE), PHONE_SRC, 0.0).action is Action.REJECT  # no counters: the score alone


def test_a_listed_costly_number_needs_no_backing() -> None:
    """A high score on a call to a premium number acts on the first call: one such call is the loss."""
    assert costly({"to_premium": 1.0}) and costly({"from_high_risk": 1.0}) and not costly({"to_len": 11.0})
    model = _always_high()
    d = Detector(rules=RuleSet([], corroboration=0.5), model=model, counters=LocalCounters(), clock=lambda: T0)
    premium = PHONE.replace("02079460123", "+19005550123")
    first = d.decide(parse(premium), PHONE_SRC, 0.0)
    assert first.action is Action.REJECT and first.rule == "score-reject"
