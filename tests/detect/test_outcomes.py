"""The proxy's call outcomes fed to the detector: answered calls are timed here, from the
answer to the BYE, and failed calls go through at once."""

from __future__ import annotations

from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.observation import Observation
from antibot.detect.outcomes import OutcomeFeed
from antibot.detect.rules import RuleSet
from antibot.proxy.effects import Addr, CallOutcome

CALLER = Addr("udp", "203.0.113.50", 5062)
T0 = 472_222 * 3600.0  # wall clock of the counters: a multiple of every window


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int, float | None]] = []
        self.answers: list[str] = []

    def answered(self, call_ref: str) -> None:
        self.answers.append(call_ref)

    def outcome(self, call_ref: str, source_ip: str, status: int, duration: float | None) -> None:
        self.seen.append((call_ref, source_ip, status, duration))


def test_an_answered_call_is_timed_from_its_answer_to_its_bye() -> None:
    rec = Recorder()
    feed = OutcomeFeed(rec)
    feed(CallOutcome("ref-1", CALLER, 200, 1000.0, ended=False))
    assert rec.seen == [] and rec.answers == ["ref-1"]  # answered: told at once, counted as it goes on
    feed(CallOutcome("ref-1", CALLER, 200, 1042.5))
    assert rec.seen == [("ref-1", "203.0.113.50", 200, 42.5)]
    assert feed.answered == {}  # forgotten once over


def test_a_failed_call_goes_through_at_once_without_a_duration() -> None:
    rec = Recorder()
    feed = OutcomeFeed(rec)
    feed(CallOutcome("ref-2", CALLER, 486, 1000.0))
    assert rec.seen == [("ref-2", "203.0.113.50", 486, None)]


def test_answer_times_are_bounded_and_a_forgotten_one_ends_with_no_duration() -> None:
    rec = Recorder()
    feed = OutcomeFeed(rec, limit=2)
    for n in range(3):
        feed(CallOutcome(f"ref-{n}", CALLER, 200, 1000.0 + n, ended=False))
    assert list(feed.answered) == ["ref-1", "ref-2"]  # the oldest was forgotten
    feed(CallOutcome("ref-0", CALLER, 200, 1010.0))
    feed(CallOutcome("ref-2", CALLER, 200, 1010.0))
    assert rec.seen == [("ref-0", "203.0.113.50", 200, None), ("ref-2", "203.0.113.50", 200, 8.0)]


def test_a_short_answered_call_counts_as_short_for_its_source() -> None:
    """Through the real detector: a call answered and hung up 3 s later is a short call."""
    counters = LocalCounters()
    detector = Detector(rules=RuleSet([]), model=None, counters=counters, clock=lambda: T0)
    feed = OutcomeFeed(detector)
    feed(CallOutcome("ref-1", CALLER, 200, 50.0, ended=False))
    feed(CallOutcome("ref-1", CALLER, 200, 53.0))
    feed(CallOutcome("ref-2", CALLER, 200, 60.0, ended=False))
    feed(CallOutcome("ref-2", CALLER, 200, 120.0))
    got = counters.observe(Observation("203.0.113.50", "alice", "442079460011", "44207", "ua1"), T0 + 1)
    assert (got.src_calls_1h, got.src_failed_1h, got.src_short_1h) == (2, 0, 1)


def _flow_outcomes(counters: LocalCounters, at: float) -> tuple[float, float, float, float]:
    got = counters.observe(Observation("203.0.113.50", "alice", "442079460011", "44207", "ua1", "flow-1"), at)
    return got.flow_calls_1h, got.flow_failed_1h, got.flow_short_1h, got.src_calls_1h


def test_a_call_still_up_after_the_short_call_time_counts_for_its_flow_before_it_ends() -> None:
    """A call answered and not hung up within ``short_call_seconds`` is connected for its flow
    from then on (the flow's answered share need not wait minutes for the BYE), once: its BYE
    counts for its source alone (the model's features take it at its end, as trained). A call
    hung up at once is short for both, at its end."""
    counters = LocalCounters()
    t = [T0]
    detector = Detector(rules=RuleSet([]), model=None, counters=counters, clock=lambda: t[0])
    detector._flows.update({"ref-1": "flow-1", "ref-2": "flow-1"})
    feed = OutcomeFeed(detector)
    feed(CallOutcome("ref-1", CALLER, 200, 50.0, ended=False))
    t[0] = T0 + 5.0
    detector._talked(t[0])
    assert _flow_outcomes(counters, T0 + 5.0) == (0, 0, 0, 0)  # answered 5 s ago: not yet
    t[0] = T0 + 6.5
    detector._talked(t[0])  # the next INVITE or outcome does this
    assert _flow_outcomes(counters, t[0]) == (1, 0, 0, 0)  # connected for the flow, the source waits
    feed(CallOutcome("ref-2", CALLER, 200, 60.0, ended=False))
    t[0] = T0 + 9.0
    feed(CallOutcome("ref-2", CALLER, 200, 63.0))  # hung up after 3 s: short, for both
    t[0] = T0 + 120.0
    feed(CallOutcome("ref-1", CALLER, 200, 170.0))  # the long call ends: its source counts it
    assert _flow_outcomes(counters, t[0]) == (2, 0, 1, 2)
    assert detector._talking == {} and detector._flows == {}
