"""The proxy's call outcomes (:class:`~antibot.proxy.effects.CallOutcome`) fed back to the
detector: failed calls at once, answered calls when answered (the detector counts them as
connected for their flow once they have lasted a few seconds) and at their end with the time
they lasted.

The proxy core reports when a decided call was answered and when a BYE ended it; the time
between the two is kept here, per call ref, and not in the core. Bounded: beyond ``limit``
calls in progress the oldest is forgotten, and its end counts as a call of unknown length.
"""

from __future__ import annotations

from typing import Final, Protocol

from ..proxy.effects import CallOutcome

#: Answered calls timed at most at once (the proxy's own bound on the dialogs it knows).
CALLS_TIMED: Final = 100_000


class OutcomeSink(Protocol):
    """What takes a call's outcome: :meth:`antibot.detect.engine.Detector.outcome`."""

    def answered(self, call_ref: str) -> None: ...

    def outcome(self, call_ref: str, source_ip: str, status: int, duration: float | None) -> None: ...


class OutcomeFeed:
    """The proxy runner's ``on_outcome`` hook: times answered calls, feeds ``detector.answered``
    and ``detector.outcome``."""

    def __init__(self, detector: OutcomeSink, limit: int = CALLS_TIMED) -> None:
        self.detector = detector
        self.limit = limit
        #: Call ref -> when it was answered (the core's clock), oldest first.
        self.answered: dict[str, float] = {}

    def __call__(self, outcome: CallOutcome) -> None:
        answered = self.answered
        if not outcome.ended:
            if len(answered) >= self.limit:
                del answered[next(iter(answered))]  # the oldest: its BYE never came through us
            answered[outcome.call_ref] = outcome.at
            self.detector.answered(outcome.call_ref)
            return
        start = answered.pop(outcome.call_ref, None)
        duration = outcome.at - start if start is not None and 200 <= outcome.status < 300 else None
        self.detector.outcome(outcome.call_ref, outcome.source.host, outcome.status, duration)
