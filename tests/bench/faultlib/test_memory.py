"""The drain scenario's accounting: the bench's own probe INVITEs are not legit calls."""

from __future__ import annotations

from faultlib.memory import legit_reached


def test_a_probe_relayed_before_the_drain_is_not_counted_as_a_legit_call() -> None:
    answers = ["SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable (Retry-After: 30)", "no answer"]
    assert legit_reached(60, answers) == 59
    assert legit_reached(60, ["SIP/2.0 503 Service Unavailable (Retry-After: 30)"] * 3) == 60
