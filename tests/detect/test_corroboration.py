"""Corroboration: a high score acts when the caller's recent calls back it."""

from __future__ import annotations

import random

import pytest

from antibot.detect.corroboration import (
    CAMPAIGN_EXTENSIONS,
    CAMPAIGN_RUN,
    NEW_FLOW_CALLS,
    PRIOR,
    RISING_MAX,
    SPREAD,
    SweepPolicy,
    answered,
    callee_value,
    campaign,
    costly,
    replay_campaigns,
    replay_support,
    rising_run,
    self_burst,
    sequential_run,
    support,
    supports,
    sweep_policy,
    sweep_reason,
    unproven,
)
from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector, with_sweep
from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import FORMAT, Model
from antibot.detect.observation import Counters, Observation
from antibot.detect.policy_doc import default_doc, ruleset_from_doc
from antibot.detect.rules import Decision, Facts, RuleError, RuleSet, RuleSpec
from antibot.proxy.decision import Action, Verdict

from ._sip import PHONE, PHONE_SRC, addr, parse

T0 = 1_700_000_000.0


def _always_high() -> Model:
    """A model that scores every call 0.982 (one leaf, log-odds +4)."""
    always = {"feature": [-1], "threshold": [0.0], "left": [-1], "right": [-1], "value": [4.0]}
    return Model.from_dict(
        {"format": FORMAT, "features": list(FEATURE_NAMES), "base": 0.0, "rate": 1.0, "trees": [always]}
    )


#: One call of the flow refused (its first outcome): from then on its own share counts.
REFUSED = {"flow_calls_1h": 1.0, "flow_failed_1h": 1.0, "flow_calls_24h": 1.0, "flow_failed_24h": 1.0}


def test_support_from_the_flow() -> None:
    assert support(Counters(src_1h=1.0, flow_1h=1.0, **REFUSED)) == pytest.approx(1 / (1 + PRIOR))  # 1/3
    assert support(Counters(src_1h=2.0, flow_1h=2.0, flow_high_1h=1.0, **REFUSED)) == pytest.approx(0.5)  # 2nd high
    assert support(Counters(src_1h=50.0, flow_1h=50.0, flow_high_1h=2.0)) == pytest.approx(3 / 52)  # isolated
    assert support(Counters()) == 1.0  # nothing counted (no counters): the score alone
    assert support(Counters(src_1h=2.0, src_high_1h=1.0)) == pytest.approx(0.5)  # no flow counted: the address


def test_the_address_neither_shelters_nor_backs_a_flow() -> None:
    """Bots and people behind one NAT: the scanner's high scores on the address do not back a
    phone's call (its own flow scores low), and the phones' history does not shelter the bot."""
    phone_behind_scanning_nat = Counters(src_1h=200.0, src_high_1h=190.0, flow_1h=20.0, flow_high_1h=0.0, **REFUSED)
    assert support(phone_behind_scanning_nat) == pytest.approx(1 / 22)
    bot_behind_busy_nat = Counters(src_1h=200.0, src_high_1h=5.0, flow_1h=5.0, flow_high_1h=4.0, **REFUSED)
    assert support(bot_behind_busy_nat) == pytest.approx(5 / 7)


def test_a_fingerprint_backs_only_when_spread_over_addresses() -> None:
    swarm = Counters(src_1h=1.0, flow_1h=1.0, ua_1h=40.0, ua_high_1h=39.0, ua_distinct_src_1h=SPREAD)
    assert support(swarm) == pytest.approx(40 / 42)
    narrow = Counters(src_1h=1.0, flow_1h=1.0, ua_1h=40.0, ua_high_1h=39.0, ua_distinct_src_1h=SPREAD - 1, **REFUSED)
    assert support(narrow) == pytest.approx(1 / 3)  # its own flow judges it
    busy_flow = Counters(
        src_1h=10.0, flow_1h=10.0, flow_high_1h=9.0, ua_1h=100.0, ua_high_1h=1.0, ua_distinct_src_1h=30.0, **REFUSED
    )
    assert support(busy_flow) == pytest.approx(10 / 12)  # the larger share


def test_thresholds_wait_for_support_but_operator_rules_do_not() -> None:
    rules = RuleSet([], corroboration=0.5, isolated_verdict="pass")
    isolated = rules.decide(Facts("192.0.2.1", "", "", "", 0.97, {}, support=0.3))
    # not acted on (never rejected for want of support): relayed, score-isolated its rule
    assert (isolated.action, isolated.rule, isolated.stateless) == (Action.RELAY, "score-isolated", False)
    marked = RuleSet([], corroboration=0.5, isolated_verdict="suspect")
    assert marked.decide(Facts("192.0.2.1", "", "", "", 0.97, {}, support=0.3)).action is Action.SUSPECT
    assert marked.decide(Facts("192.0.2.1", "", "", "", 0.6, {}, support=0.3)).action is Action.SUSPECT
    # the default: an isolated score that would have been rejected is never passed silently
    default = RuleSet([], corroboration=0.5)
    top = default.decide(Facts("192.0.2.1", "", "", "", 0.97, {}, support=0.3))
    assert (top.action, top.rule) == (Action.SUSPECT, "score-isolated")
    mid = default.decide(Facts("192.0.2.1", "", "", "", 0.6, {}, support=0.3))
    assert (mid.action, mid.rule) == (Action.RELAY, "score-isolated")
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
    """A bot address calling every 10 s scores high, its calls refused at once; a busy trunk's
    calls score low but one. The bot is acted on from its second call; the trunk's odd call
    stays isolated. Without any outcome, the bot's own share counts from its 21st call."""
    rows = []
    for k in range(30):
        rows.append((T0 + 10 * k, "203.0.113.66", "dialer", 0.97, "", "", False))
        rows.append((T0 + 10 * k + 1, "192.0.2.10", "pbx", 0.99 if k == 20 else 0.05, "", "", False))
    ends = [(t + 0.5, ("calls", "failed") if src == "203.0.113.66" else ("calls",)) for t, src, *_ in rows]
    backing = replay_campaigns(rows, 0.5, outcomes=ends)[0]
    bot = [s for (_, src, *_), s in zip(rows, backing, strict=True) if src == "203.0.113.66"]
    assert bot[0] == 0.0 and all(s >= 0.5 for s in bot[1:])  # the first: no outcome yet
    assert backing[41] == 0.0  # the trunk's 21st call, its first high one: people answer the trunk
    bare = [(t, src, fp, score) for t, src, fp, score, *_ in rows]
    unheard = replay_support(bare, 0.5)
    new = int(NEW_FLOW_CALLS)
    bot = [s for (_, src, *_), s in zip(rows, unheard, strict=True) if src == "203.0.113.66"]
    assert bot[:new] == [0.0] * new and min(bot[new:]) >= 0.5
    assert unheard[41] == pytest.approx(1 / 23)  # the trunk's own share, past its first 20 calls
    # columns in any order give the same answer per row
    order = list(reversed(range(len(bare))))
    cols = supports(
        [bare[i][0] for i in order],
        [bare[i][1] for i in order],
        [bare[i][2] for i in order],
        [bare[i][3] for i in order],
        0.5,
    )
    assert cols == [unheard[i] for i in order]


def test_the_detector_counts_high_scores_and_waits_for_a_second_one() -> None:
    """A model that scores every call 0.98: a new source's first call is relayed (as suspect
    with isolated_verdict "suspect"), isolated (the reason says so), its second is rejected; the
    first call counted as high."""
    model = _always_high()
    local = LocalCounters()
    rules = RuleSet([], corroboration=0.5, isolated_verdict="suspect")
    d = Detector(rules=rules, model=model, counters=local, clock=lambda: T0)
    first = d.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
    assert first.action is Action.SUSPECT and first.reasons[0] == "score-isolated"
    assert dict(first.headers)["X-Antibot-Verdict"] == "suspect"  # never "pass"
    assert dict(first.headers)["X-Antibot-Reasons"].startswith("score-isolated")
    d.outcome(first.call_ref, PHONE_SRC, 404, None)  # its first outcome: the flow's share counts
    second = d.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
    assert second.action is Action.REJECT and second.rule == "score-reject"
    assert d.stats.isolated == 1  # exported as antibot_score_isolated_total
    without = Detector(rules=RuleSet([], corroboration=0.5), model=model, counters=None, clock=lambda: T0)
    assert without.decide(parse(PHONE), addr(PHONE_SRC), 0.0).action is Action.REJECT  # no counters: the score alone


def test_a_flow_whose_calls_people_answer_backs_no_high_score() -> None:
    """A carrier SBC the model scores high on every call: once 5 of its calls in the hour ended,
    answered and talked through (40 % or more), its high scores are isolated (relayed, never
    rejected on the score); a dialler whose calls are cancelled or refused stays backed, and a
    campaign signal backs a score whatever the answers."""
    assert (
        support(Counters(src_1h=30.0, flow_1h=30.0, flow_high_1h=29.0, flow_calls_1h=10.0, flow_failed_1h=5.0)) == 0.0
    )
    assert support(
        Counters(src_1h=30.0, flow_1h=30.0, flow_high_1h=29.0, flow_calls_1h=10.0, flow_failed_1h=7.0)
    ) == pytest.approx(30 / 32)
    few = Counters(src_1h=30.0, flow_1h=30.0, flow_high_1h=29.0, flow_calls_1h=4.0, flow_failed_1h=3.0)
    assert support(few) == pytest.approx(30 / 32)
    assert support(Counters(src_1h=30.0, flow_1h=30.0, flow_calls_1h=10.0), signal=True) == 1.0
    assert answered(Counters(flow_calls_1h=10.0, flow_failed_1h=6.0)) and not answered(Counters(flow_calls_1h=0.0))
    assert not answered(Counters(flow_calls_1h=10.0, flow_failed_1h=3.0, flow_short_1h=4.0))  # an IVR answering bots
    t = [T0]
    cases = (
        (200, 120.0, Action.SUSPECT),
        (200, 2.0, Action.REJECT),
        (487, None, Action.REJECT),
        (404, None, Action.REJECT),
    )
    for status, talk, expected in cases:
        d = Detector(
            rules=RuleSet([], corroboration=0.5), model=_always_high(), counters=LocalCounters(), clock=lambda: t[0]
        )
        for k in range(12):
            t[0] = T0 + 30 * k
            v = d.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
            d.outcome(v.call_ref, PHONE_SRC, status, talk)
        t[0] += 30
        last = d.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
        assert last.action is expected, status
        if expected is Action.SUSPECT:  # isolated: relayed, above the reject threshold marked suspect for the PBX
            assert last.reasons[0] == "score-isolated"


def test_a_new_flow_whose_first_call_was_talked_through_backs_no_high_score() -> None:
    """Before five outcomes are in (a trunk's first minutes, a quiet night), a new flow (too few
    outcomes over the day to say) with a call connected and no more failures than answers is
    people answering; a hang-up, a failure, or one answer among three failures is not."""
    assert answered(Counters(flow_calls_1h=1.0))
    assert answered(Counters(flow_calls_1h=2.0, flow_failed_1h=1.0))
    assert not answered(Counters(flow_calls_1h=1.0, flow_short_1h=1.0))  # short is no answer
    assert not answered(Counters(flow_calls_1h=1.0, flow_failed_1h=1.0))
    assert not answered(Counters(flow_calls_1h=3.0, flow_failed_1h=2.0))
    assert not answered(Counters(flow_calls_1h=4.0, flow_failed_1h=2.0, flow_short_1h=1.0))
    assert not answered(Counters(flow_calls_1h=5.0, flow_failed_1h=3.0, flow_short_1h=1.0))
    # before five outcomes, hang-ups at once count neither way; from five on, against
    assert answered(Counters(flow_calls_1h=4.0, flow_short_1h=3.0))
    assert not answered(Counters(flow_calls_1h=5.0, flow_short_1h=4.0))
    backed = Counters(src_1h=3.0, flow_1h=3.0, flow_high_1h=2.0, flow_calls_1h=2.0)
    assert support(backed) == 0.0 and support(backed, signal=True) == 1.0


def test_a_new_flow_backs_nothing_before_its_first_telling_outcome() -> None:
    """A busy office comes online behind one NAT: 2 calls/s, each answered and talked through,
    every one scored high (on its rate alone). Before the first has talked past a hang-up
    (6 s: 12 calls), the flow's own high scores back none of them; then people answer it. A
    dialler whose first call is refused is backed from its second call, one whose calls never
    end from its 21st, and a fingerprint spread over addresses or a campaign signal at once."""
    t = [T0]

    def detector() -> Detector:
        return Detector(
            rules=RuleSet([], corroboration=0.5), model=_always_high(), counters=LocalCounters(), clock=lambda: t[0]
        )

    office = detector()
    rules = []
    for k in range(30):
        t[0] = T0 + 0.5 * k
        call = office.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
        office.answered(call.call_ref)
        rules.append(call.rule)
    assert rules == ["score-isolated"] * 30
    # the same office when three of its first four calls are hung up within 6 s (voicemail, a
    # wrong number): known as they end, before any call has talked 6 s, they tell nothing yet
    office = detector()
    held = {0: 5.4, 1: 4.9, 3: 3.9}  # seconds; every other call talks for minutes
    events = sorted([(0.5 * k, 0, k) for k in range(30)] + [(0.5 * k + s, 1, k) for k, s in held.items()])
    refs: dict[int, str] = {}
    rules = []
    for at, kind, k in events:
        t[0] = T0 + at
        if kind == 0:
            call = office.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
            office.answered(call.call_ref)
            refs[k] = call.call_ref
            rules.append(call.rule)
        else:
            office.outcome(refs[k], PHONE_SRC, 200, held[k])
    assert rules == ["score-isolated"] * 30
    dialler = detector()
    first = dialler.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
    dialler.outcome(first.call_ref, PHONE_SRC, 486, None)
    assert first.rule == "score-isolated" and dialler.decide(parse(PHONE), addr(PHONE_SRC), 0.0).rule == "score-reject"
    unheard = detector()
    rules = [unheard.decide(parse(PHONE), addr(PHONE_SRC), 0.0).rule for _ in range(22)]
    new = int(NEW_FLOW_CALLS)
    assert rules == ["score-isolated"] * new + ["score-reject"] * (22 - new)
    assert unproven(Counters(flow_1h=NEW_FLOW_CALLS)) and not unproven(Counters(flow_1h=NEW_FLOW_CALLS + 1))
    assert not unproven(Counters(flow_1h=2.0, flow_calls_24h=1.0))  # a call talked through, even yesterday
    assert not unproven(Counters(flow_1h=2.0, flow_calls_24h=1.0, flow_failed_24h=1.0))  # or refused
    assert unproven(Counters(flow_1h=9.0, flow_calls_24h=4.0, flow_short_24h=4.0))  # hung up at once
    assert not unproven(Counters(flow_1h=9.0, flow_calls_24h=5.0, flow_short_24h=5.0))  # five of them
    pending = Counters(src_1h=5.0, flow_1h=5.0, flow_high_1h=4.0)
    assert support(pending) == 0.0 and support(pending, signal=True) == 1.0
    spread = Counters(src_1h=1.0, flow_1h=1.0, ua_1h=40.0, ua_high_1h=39.0, ua_distinct_src_1h=SPREAD)
    assert support(spread) == pytest.approx(40 / 42)


def test_a_new_flow_call_still_talking_counts_as_answered_before_it_ends() -> None:
    """A carrier's first calls of the night, all scored high: the first is answered and still
    talking when the second fails at once. People talk for minutes while a failure comes back
    in a second: the talking call counts as connected as soon as it has outlasted a hang-up
    (``short_call_seconds``), so the third call finds one answer against one failure and its
    high score is isolated; with the first call hung up at once (a robocall's IVR), it is
    backed and rejected."""
    t = [T0]
    for hang_up, expected in ((None, "score-isolated"), (3.0, "score-reject")):
        t[0] = T0
        d = Detector(
            rules=RuleSet([], corroboration=0.5), model=_always_high(), counters=LocalCounters(), clock=lambda: t[0]
        )
        first = d.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
        t[0] = T0 + 5.0
        d.answered(first.call_ref)
        if hang_up is not None:
            t[0] += hang_up
            d.outcome(first.call_ref, PHONE_SRC, 200, hang_up)
        t[0] = T0 + 30.0
        second = d.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
        t[0] = T0 + 31.0
        d.outcome(second.call_ref, PHONE_SRC, 486, None)
        t[0] = T0 + 60.0
        third = d.decide(parse(PHONE), addr(PHONE_SRC), 0.0)
        assert third.rule == expected, hang_up
        assert third.action is (Action.SUSPECT if hang_up is None else Action.REJECT)


def test_one_answer_in_the_hour_does_not_outweigh_a_day_of_refused_calls() -> None:
    """The first-minutes rule is for new flows: a flow with a day of outcomes, most of them
    failed, is not vouched for by one call talked through in the hour (an attacker's one long
    call before the campaign resumes)."""
    refused = {"flow_calls_24h": 60.0, "flow_failed_24h": 40.0, "flow_short_24h": 2.0}
    quiet = Counters(src_1h=3.0, flow_1h=3.0, flow_high_1h=2.0, flow_calls_1h=1.0, **refused)
    assert not answered(quiet)
    assert support(quiet) == pytest.approx(3 / 5)
    assert answered(Counters(flow_calls_1h=1.0, flow_calls_24h=19.0, flow_failed_24h=15.0))  # still new


def test_a_flow_people_answered_over_the_day_backs_no_high_score_in_a_quiet_or_unlucky_hour() -> None:
    """A carrier SBC with 60 outcomes in 24 h, two thirds connected: in a quiet hour (2 outcomes,
    one failed) or an unlucky one (10 outcomes, 3.5 connected) its high scores back nothing; a
    failure burst (10 outcomes, 1 connected) or a campaign signal backs them again, and a day of
    unanswered calls backs nothing."""
    day = {"flow_calls_24h": 60.0, "flow_failed_24h": 18.0, "flow_short_24h": 2.0}
    quiet = Counters(src_1h=4.0, flow_1h=4.0, flow_high_1h=3.0, flow_calls_1h=2.0, flow_failed_1h=1.0, **day)
    unlucky = Counters(src_1h=12.0, flow_1h=12.0, flow_high_1h=8.0, flow_calls_1h=10.0, flow_failed_1h=6.5, **day)
    burst = Counters(src_1h=12.0, flow_1h=12.0, flow_high_1h=8.0, flow_calls_1h=10.0, flow_failed_1h=9.0, **day)
    assert answered(quiet) and support(quiet) == 0.0
    assert answered(unlucky) and support(unlucky) == 0.0
    assert not answered(burst) and support(burst) == pytest.approx(9 / 14)
    assert support(quiet, signal=True) == 1.0
    refused = {"flow_calls_24h": 60.0, "flow_failed_24h": 40.0, "flow_short_24h": 2.0}
    assert not answered(Counters(flow_calls_1h=2.0, flow_failed_1h=1.0, **refused))
    assert not answered(Counters(flow_calls_1h=3.0, flow_failed_1h=2.0, flow_calls_24h=19.0))  # too few to say
    # a call centre's trunk: 40-45 % of its calls connect, over the day as over the hour
    centre = {"flow_calls_24h": 400.0, "flow_failed_24h": 225.0, "flow_short_24h": 5.0}
    assert answered(Counters(flow_calls_1h=3.0, flow_failed_1h=3.0, **centre))
    dialler = {"flow_calls_24h": 400.0, "flow_failed_24h": 330.0, "flow_short_24h": 10.0}
    assert not answered(Counters(flow_calls_1h=3.0, flow_failed_1h=3.0, **dialler))


def test_the_replay_feeds_outcomes_back_when_they_are_due() -> None:
    """The evaluation's replay learns each call's outcome at its time, as the proxy does: a
    high-scoring flow whose calls are answered loses its backing only after the answers came."""
    rows = [
        (T0 + 10 * k, "198.51.100.7", "sbc", 0.95, f"1415555{k * 7919 % 10000:04d}", f"1212555{k:04d}", False)
        for k in range(40)
    ]
    answered_late = [(T0 + 10 * k + 1000.0, ("calls",)) for k in range(40)]
    answered_soon = [(T0 + 10 * k + 5.0, ("calls",)) for k in range(40)]
    refused = [(T0 + 10 * k + 0.5, ("calls", "failed")) for k in range(40)]
    late = replay_campaigns(rows, 0.5, outcomes=answered_late)[0]
    soon = replay_campaigns(rows, 0.5, outcomes=answered_soon)[0]
    failed = replay_campaigns(rows, 0.5, outcomes=refused)[0]
    new = int(NEW_FLOW_CALLS)  # no outcome yet: the flow's share waits for its first calls
    assert late[:new] == [0.0] * new and min(late[new:]) > 0.5 and min(failed[5:]) > 0.5
    assert soon == [0.0] * 40  # each call answered and talked before the next INVITE


def test_the_replay_keys_flows_as_the_proxy_does() -> None:
    """An SBC whose calls alternate between two header layouts (identity asserted or not) is
    one flow when the proxy keys it so (``flows``): the answered calls of one layout take the
    backing from the other's high scores; keyed by the fingerprint, they do not."""
    rows = [
        (
            T0 + 10 * k,
            "198.51.100.7",
            "pai" if k % 2 else "bare",
            0.95 if k % 2 == 0 else 0.1,
            f"1415555{k * 7919 % 10000:04d}",
            "",
            False,
        )
        for k in range(40)
    ]
    outcomes = [(T0 + 10 * k + 5.0, ("calls",) if k % 2 else ("calls", "failed")) for k in range(40)]
    apart = replay_campaigns(rows, 0.5, outcomes=outcomes)[0]
    one = replay_campaigns(rows, 0.5, outcomes=outcomes, flows=["198.51.100.7|sbc"] * 40)[0]
    assert min(apart[10::2]) > 0.5  # the bare layout's calls back each other
    assert one[10::2] == [0.0] * 15  # one stack, half of its calls talked through


def test_a_listed_costly_number_needs_no_backing() -> None:
    """A high score on a call to a premium number acts on the first call: one such call is the loss."""
    assert costly({"to_premium": 1.0}) and costly({"from_high_risk": 1.0}) and not costly({"to_len": 11.0})
    model = _always_high()
    d = Detector(rules=RuleSet([], corroboration=0.5), model=model, counters=LocalCounters(), clock=lambda: T0)
    premium = PHONE.replace("02079460123", "+19005550123")
    first = d.decide(parse(premium), addr(PHONE_SRC), 0.0)
    assert first.action is Action.REJECT and first.rule == "score-reject"


# --- campaigns: evidence per flow (source + fingerprint), never sheltered by the address ---

SHARED = "192.0.2.10"


def _low() -> Model:
    """A model that scores every call 0.018 (one leaf, log-odds -4): only the flow rules act."""
    never = {"feature": [-1], "threshold": [0.0], "left": [-1], "right": [-1], "value": [-4.0]}
    return Model.from_dict(
        {"format": FORMAT, "features": list(FEATURE_NAMES), "base": 0.0, "rate": 1.0, "trees": [never]}
    )


def _call(to: str, ua: str = "Yealink SIP-T46S 66.86.0.15", frm: str = "1001") -> str:
    """PHONE dialling ``to`` from ``frm`` with User-Agent ``ua``."""
    return (
        PHONE.replace("02079460123", to).replace("Yealink SIP-T46S 66.86.0.15", ua).replace("sip:1001@", f"sip:{frm}@")
    )


def test_an_address_history_does_not_shelter_a_new_flow() -> None:
    """60 ordinary low-scoring calls from a shared address, then a dialler's flow from it: its
    second high score is backed by its own flow (2/4), whatever the address did before."""
    rows = [(T0 + 10 * k, SHARED, "desk-phone", 0.05, "", "", False) for k in range(60)]
    rows += [(T0 + 700 + k, SHARED, "dialler", 0.8, "", "", False) for k in range(5)]
    ends = [(t + 0.5, ("calls", "failed")) for t, *_ in rows]  # every call refused at once
    backing = replay_campaigns(rows, 0.5, outcomes=ends)[0]
    assert backing[60] == 0.0  # the flow's first call: isolated, no outcome yet
    assert backing[61:] == pytest.approx([2 / 4, 3 / 5, 4 / 6, 5 / 7])
    # and an ordinary flow's odd high score stays isolated on an address a dialler shares
    rows = [(T0 + k, SHARED, "desk-phone", 0.05) for k in range(40)] + [(T0 + 50, SHARED, "desk-phone", 0.9)]
    assert replay_support(rows, 0.5)[-1] == pytest.approx(1 / 43)


def test_campaign_signals_back_a_high_score() -> None:
    busy = Counters(src_1h=200.0, flow_1h=2.0, **REFUSED)
    assert support(busy) == pytest.approx(1 / 4)
    assert support(busy, signal=True) == 1.0
    assert campaign(Counters(flow_1h=3.0), CAMPAIGN_RUN)  # callees in sequence
    assert campaign(Counters(flow_1h=9.0, flow_distinct_ext_60s=CAMPAIGN_EXTENSIONS), 0)  # many extensions
    assert campaign(Counters(flow_1h=9.0, flow_distinct_nbr_1h=3.0), 0)  # rotating neighbour-spoofed caller IDs
    assert not campaign(Counters(flow_1h=90.0, flow_distinct_nbr_1h=3.0), 0)  # a trunk's few local callers
    assert not campaign(Counters(flow_1h=9.0, flow_distinct_ext_60s=2.0), 1)


def test_sequential_runs_need_small_steps_in_one_direction() -> None:
    assert sequential_run(405, ("404", "403", "402", "401", "77"), 10) == 4
    assert sequential_run(405, ("403", "401", "399"), 10) == 3  # a sparse sweep
    assert sequential_run(405, ("404", "406"), 10) == 1  # direction changed
    assert sequential_run(405, ("405", "404"), 10) == 0  # a redial is no step
    assert sequential_run(405, ("300",), 10) == 0
    assert sequential_run(405, ("404", "alice", "403"), 10) == 1
    assert callee_value("0044") == 44 and callee_value("+44") == -1 and callee_value("") == -1


def test_rising_runs_skip_the_calls_in_between() -> None:
    # newest first: the dialler's 2008, 2005, 2003 between a carrier's other calls
    recent = ("14159990000", "14158012008", "alice", "14158012009", "14158012005", "1415801", "14158012003")
    assert rising_run("14158012010", recent, 10) == 3
    assert sequential_run(14158012010, recent, 10) == 0  # the carrier's call breaks the plain run
    assert rising_run("14158012010", recent, 2) == 1  # steps above ``step`` end it
    assert rising_run("14158012002", recent, 10) == 0  # only lower numbers lead up to the callee
    assert rising_run("0405", ("0403", "0990", "0401", "399"), 10) == 2  # same width, leading zeros kept
    assert rising_run("bob", recent, 10) == 0 and rising_run("405", (), 10) == 0
    many = tuple(str(2000 - k) for k in range(1, 40))
    assert rising_run("2000", many, 1) == RISING_MAX  # looked for up to RISING_MAX steps


def test_a_dialler_behind_a_carriers_sbcs_is_a_sweep_between_the_carriers_calls() -> None:
    """A carrier's two SBCs (one fingerprint) deliver calls to random DIDs of a block; a
    robodialer's calls to the block's DIDs in rising order are mixed in, three carrier calls
    between two of its own, dealt over both SBCs. Its callees never follow each other on one
    address, yet it is flagged within a handful (``suspect`` by default, ``rising_action``),
    and none of the carrier's calls is touched."""
    for rising_action, flagged in (("suspect", Action.SUSPECT), ("reject", Action.REJECT)):
        robo, people = _carrier_with_a_dialler(rising_action)
        assert all(v.action is Action.RELAY and v.rule is None for v in people)
        assert [v.action for v in robo[:4]] == [Action.RELAY] * 4
        assert all(v.action is flagged and v.rule == "sweep" for v in robo[4:])
        assert robo[4].reason_text.endswith(
            "5 callees in rising order from this User-Agent's addresses, between their other calls"
        )


def _carrier_with_a_dialler(rising_action: str) -> tuple[list[Verdict], list[Verdict]]:
    doc = default_doc()
    doc["sweep"] = {"rising_action": rising_action}
    rules = ruleset_from_doc(doc)
    d = Detector(rules=rules, model=_low(), counters=LocalCounters(), clock=lambda: T0)
    rng = random.Random(3)
    t = [T0]
    d.clock = lambda: t[0]
    sbcs = ("198.51.100.40", "198.51.100.41")
    robo: list[Verdict] = []
    people: list[Verdict] = []
    for k in range(40):
        for j in range(3):
            t[0] += 2.0
            to = f"44207946{rng.randrange(1000):04d}"
            frm = f"447{rng.randrange(10**9):09d}"
            people.append(d.decide(parse(_call(to, "Sonus SBC", frm=frm)), addr(sbcs[(k + j) % 2]), 0.0))
        t[0] += 2.0
        to = f"44207946{100 + 2 * k:04d}"
        robo.append(
            d.decide(parse(_call(to, "Sonus SBC", frm=f"44207946{rng.randrange(10**4):04d}")), addr(sbcs[k % 2]), 0.0)
        )
    return robo, people


def test_a_sweep_overrides_the_thresholds_but_never_softens_them_or_an_operator_rule() -> None:
    rejected = Decision(Action.REJECT, "score-reject", 603, "score 0.97")
    assert with_sweep(rejected, "5 callees in rising order", "suspect", 603) is rejected
    swept = with_sweep(Decision(Action.RELAY, None), "5 callees in rising order", "suspect", 603)
    assert (swept.action, swept.rule, swept.reason) == (Action.SUSPECT, "sweep", "5 callees in rising order")
    isolated = with_sweep(Decision(Action.SUSPECT, "score-isolated"), "12 distinct extensions", "reject", 403)
    assert (isolated.action, isolated.status) == (Action.REJECT, 403)
    allowed = Decision(Action.RELAY, "allow-cidr")
    assert with_sweep(allowed, "12 distinct extensions", "reject", 603) is allowed
    assert with_sweep(rejected, "", "reject", 603) is rejected


def test_rising_callees_of_phones_are_not_a_sweep() -> None:
    """Only long numbers of a fingerprint spread over several addresses are searched for a
    rising run between other calls: an office's desk phones and a home worker's (one model, two
    addresses) calling extensions, and one address's phones calling numbers, rise by chance."""
    d = _detector(_low())
    t = [T0]
    d.clock = lambda: t[0]
    home = "203.0.113.80"
    for k in range(40):
        t[0] += 30.0
        to = str(200 + 2 * k) if k % 2 else str(300 + (k * 37) % 60)
        assert d.decide(parse(_call(to)), addr(SHARED if k % 4 else home), 0.0).rule is None
    for k in range(40):
        t[0] += 30.0
        to = f"02079460{200 + 2 * k:03d}" if k % 2 else f"0207946{(k * 7919) % 10000:04d}"
        assert d.decide(parse(_call(to, "Fanvil X4U 2.12.1")), addr(SHARED), 0.0).rule is None


def test_sweep_reasons_are_readable_and_follow_the_policy() -> None:
    p = SweepPolicy()
    assert sweep_reason(Counters(flow_1h=12.0, flow_distinct_ext_60s=10.0), 0, p) == (
        "10 distinct extensions in 60 s from this flow"
    )
    assert sweep_reason(Counters(flow_1h=5.0), 4, p) == "5 callees dialled in sequence by this flow or its User-Agent"
    failing = Counters(flow_1h=8.0, flow_distinct_ext_60s=5.0, flow_calls_1h=6.0, flow_failed_1h=5.0)
    assert sweep_reason(failing, 0, p).endswith("5 of its 6 calls failed")
    answered = Counters(flow_1h=60.0, flow_distinct_ext_60s=5.0, flow_calls_1h=59.0, flow_failed_1h=5.0)
    assert sweep_reason(answered, 0, p) == ""  # a busy flow whose calls mostly connect
    assert sweep_reason(Counters(flow_1h=5.0), 3, p) == ""
    assert sweep_reason(Counters(flow_1h=5.0), 4, SweepPolicy(enabled=False)) == ""
    assert sweep_policy({"sequential": 6}).sequential == 6
    bad_docs = ({"sequential": 1}, {"extensions": "10"}, {"action": "relay"}, {"rising_action": "pass"})
    for bad in (*bad_docs, {"status": 200}, {"nope": 1}):
        with pytest.raises(ValueError, match="sweep"):
            sweep_policy(bad)


def _detector(model: Model) -> Detector:
    return Detector(rules=ruleset_from_doc(default_doc()), model=model, counters=LocalCounters(), clock=lambda: T0)


def test_a_sweep_with_a_softphone_user_agent_from_a_busy_address_is_stopped_within_a_handful() -> None:
    """60 ordinary calls from an address, then extensions 400-419 in order with Zoiper's
    User-Agent from it: whatever the model says, at most 4 reach the PBX."""
    d = _detector(_low())
    ordinary = [d.decide(parse(_call(f"0207946{(k * 7919) % 10000:04d}")), addr(SHARED), 0.0) for k in range(60)]
    assert all(v.action is Action.RELAY and v.rule is None for v in ordinary)
    zoiper = "Zoiper rv2.10.20.2"
    sweep = [d.decide(parse(_call(str(400 + k), zoiper)), addr(SHARED), 0.0) for k in range(20)]
    passed = [v for v in sweep if v.action is Action.RELAY]
    assert len(passed) <= 4 and all(v.action is Action.REJECT for v in sweep[4:])
    assert sweep[4].rule == "sweep" and sweep[4].reason_text.endswith(
        "5 callees dialled in sequence by this flow or its User-Agent"
    )
    assert sweep[-1].reason_text.endswith("20 distinct extensions in 60 s from this flow")
    assert d.stats.sweeps == 16
    assert d.decide(parse(_call("02079460001")), addr(SHARED), 0.0).action is Action.RELAY  # the desk phone passes


def test_svwar_calling_extensions_as_themselves_is_stopped_at_its_second_invite() -> None:
    """svwar's habit (From == To, an extension) copied onto a desk phone's User-Agent, from an
    address with ordinary calls: its second INVITE, next in sequence and within the second,
    is a sweep. A phone calling itself (voicemail) now and then, or two phones each calling
    itself within one second but not in sequence, are not."""
    d = _detector(_low())
    t = [T0]
    d.clock = lambda: t[0]
    for k in range(60):
        t[0] = T0 + 5 * k
        assert d.decide(parse(_call(f"0207946{(k * 7919) % 10000:04d}")), addr(SHARED), 0.0).rule is None
    t[0] = T0 + 400
    first = d.decide(parse(_call("401", frm="401")), addr(SHARED), 0.0)
    t[0] += 0.05
    second = d.decide(parse(_call("402", frm="402")), addr(SHARED), 0.0)
    assert first.action is Action.RELAY and second.action is Action.REJECT and second.rule == "sweep"
    assert "extension 402 called as itself" in second.reason_text
    people = _detector(_low())
    people.clock = lambda: t[0]
    for k in range(30):  # voicemail checks: phones calling themselves, some neighbours, a minute apart
        t[0] = T0 + 1000 + 60 * k
        ext = str(200 + (k * 13) % 30)
        assert people.decide(parse(_call(ext, frm=ext)), addr(SHARED), 0.0).rule is None
    t[0] += 60
    for ext in ("240", "517"):  # two at once, far apart
        assert people.decide(parse(_call(ext, frm=ext)), addr(SHARED), 0.0).rule is None
    assert people.stats.sweeps == 0


def test_self_burst_needs_each_of_its_signs() -> None:
    p = SweepPolicy()
    burst = Counters(flow_1h=2.0, src_1s=2.0)
    assert self_burst(burst, "401", "401", 1, p).startswith("extension 401 called as itself")
    assert self_burst(burst, "401", "401", 0, p) == ""  # not next to the flow's last callee
    assert self_burst(burst, "1001", "401", 1, p) == ""  # an ordinary caller
    assert self_burst(Counters(flow_1h=2.0, src_1s=1.0), "401", "401", 1, p) == ""  # alone in its second
    assert self_burst(Counters(flow_1h=2.0, src_1s=2.0), "4015551234", "4015551234", 1, p) == ""  # not an extension
    assert self_burst(burst, "401", "401", 1, SweepPolicy(self_calls=False)) == ""
    assert self_burst(burst, "401", "401", 1, SweepPolicy(enabled=False)) == ""
    assert sweep_policy({"self_calls": False}).self_calls is False
    with pytest.raises(ValueError, match="self_calls"):
        sweep_policy({"self_calls": 1})


def test_a_shuffled_extension_sweep_is_stopped_by_its_failures() -> None:
    """Extensions in random order (no run), each answered 404 by the PBX: the failures fed back
    per flow stop it after a handful; an address's answered calls do not dilute them."""
    d = _detector(_low())
    for k in range(60):
        v = d.decide(parse(_call(f"0207946{(k * 7919) % 10000:04d}")), addr(SHARED), 0.0)
        d.outcome(v.call_ref, SHARED, 200, 60.0)
    verdicts = []
    for ext in (517, 402, 466, 589, 431, 550, 409, 478, 523, 444, 501, 415):
        v = d.decide(parse(_call(str(ext), "Zoiper rv2.10.20.2")), addr(SHARED), 0.0)
        verdicts.append(v)
        d.outcome(v.call_ref, SHARED, 404, None)
    assert [v.action for v in verdicts[:5]] == [Action.RELAY] * 5
    assert all(v.action is Action.REJECT and v.rule == "sweep" for v in verdicts[5:])
    assert "of its" in verdicts[5].reason_text and len(d._flows) == 60 + 12 - 72  # outcomes consumed the refs


def test_ordinary_traffic_is_never_a_sweep() -> None:
    """A receptionist's softphone calling 20 extensions in an hour (some unanswered), a call
    centre's trunk dialling 900 unrelated numbers an hour (60 % failing) and a carrier's SBC
    delivering 2000 calls to a block of 1000 DIDs: no sweep."""
    d = _detector(_low())
    rng = random.Random(7)
    t = [T0]
    d.clock = lambda: t[0]
    for k in range(20):
        t[0] = T0 + 180 * k
        v = d.decide(parse(_call(str(rng.randrange(200, 260)), "Zoiper rv2.10.20.2")), addr("198.51.100.20"), 0.0)
        d.outcome(v.call_ref, "198.51.100.20", 480 if k % 3 == 0 else 200, 30.0)
    for k in range(900):
        t[0] = T0 + 4 * k
        v = d.decide(parse(_call(f"1312{rng.randrange(10**7):07d}", "Asterisk PBX 20.5.0")), addr("198.51.100.30"), 0.0)
        d.outcome(v.call_ref, "198.51.100.30", 486 if rng.random() < 0.6 else 200, 90.0)
    for k in range(2000):
        t[0] = T0 + 1.5 * k
        to = f"44207946{rng.randrange(1000):04d}"
        v = d.decide(parse(_call(to, "Sonus SBC", frm=f"447{rng.randrange(10**9):09d}")), addr("198.51.100.40"), 0.0)
        d.outcome(v.call_ref, "198.51.100.40", 486 if rng.random() < 0.3 else 200, 60.0)
    assert d.stats.sweeps == 0 and d.stats.by_action == {"relay": 2920}
    assert len(d._flows) == 0
