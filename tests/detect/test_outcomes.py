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

    def outcome(self, call_ref: str, source_ip: str, status: int, duration: float | None) -> None:
        self.seen.append((call_ref, source_ip, status, duration))


def test_an_answered_call_is_timed_from_its_answer_to_its_bye() -> None:
    rec = Recorder()
    feed = OutcomeFeed(rec)
    feed(CallOutcome("ref-1", CALLER, 200, 1000.0, ended=False))
    assert rec.seen == []  # answered: nothing to count until it ends
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
