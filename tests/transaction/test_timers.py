"""Tests for the named-timer helper (antibot.transaction.timers)."""

from __future__ import annotations

import antibot.transaction as txn
from antibot.transaction.timers import Timer, Timers


def test_timer_enum_has_rfc3261_letters_a_to_k() -> None:
    assert [t.name for t in Timer] == list("ABCDEFGHIJK")


def test_empty_timers_have_no_deadline_and_nothing_expires() -> None:
    timers = Timers()
    assert timers.next_deadline() is None
    assert timers.pop_expired(1e9) == []
    assert len(timers) == 0


def test_next_deadline_is_the_earliest_armed() -> None:
    timers = Timers()
    timers.set(Timer.B, 32.0)
    timers.set(Timer.A, 0.5)
    assert timers.next_deadline() == 0.5
    assert timers.get(Timer.B) == 32.0
    assert Timer.A in timers and Timer.D not in timers


def test_set_rearms_with_the_new_deadline() -> None:
    timers = Timers()
    timers.set(Timer.E, 0.5)
    timers.set(Timer.E, 1.5)
    assert timers.get(Timer.E) == 1.5
    assert len(timers) == 1
    assert timers.pop_expired(1.0) == []


def test_cancel_disarms_and_unarmed_cancel_is_a_noop() -> None:
    timers = Timers()
    timers.set(Timer.G, 0.5)
    timers.set(Timer.H, 32.0)
    timers.cancel(Timer.G)
    timers.cancel(Timer.K)
    assert timers.get(Timer.G) is None
    assert timers.next_deadline() == 32.0


def test_clear_disarms_everything() -> None:
    timers = Timers()
    timers.set(Timer.A, 1.0)
    timers.set(Timer.B, 2.0)
    timers.clear()
    assert len(timers) == 0
    assert timers.next_deadline() is None


def test_pop_expired_returns_due_timers_in_deadline_order_and_removes_them() -> None:
    timers = Timers()
    timers.set(Timer.B, 3.0)
    timers.set(Timer.D, 1.0)
    timers.set(Timer.A, 2.0)
    timers.set(Timer.K, 10.0)
    assert timers.pop_expired(3.0) == [Timer.D, Timer.A, Timer.B]
    assert timers.next_deadline() == 10.0
    assert timers.pop_expired(3.0) == []


def test_deadline_equal_to_now_is_expired() -> None:
    timers = Timers()
    timers.set(Timer.J, 5.0)
    assert timers.pop_expired(4.999) == []
    assert timers.pop_expired(5.0) == [Timer.J]


def test_equal_deadlines_pop_in_letter_order() -> None:
    timers = Timers()
    timers.set(Timer.H, 1.0)
    timers.set(Timer.G, 1.0)
    timers.set(Timer.I, 1.0)
    assert timers.pop_expired(1.0) == [Timer.G, Timer.H, Timer.I]


def test_package_reexports() -> None:
    assert txn.Timer is Timer
    assert set(txn.__all__) >= {
        "ClientInviteTransaction",
        "ClientNonInviteTransaction",
        "ServerInviteTransaction",
        "ServerNonInviteTransaction",
        "Effect",
        "PassUp",
        "Send",
        "Terminated",
        "TimedOut",
        "Timer",
        "TimerConfig",
    }
    assert all(hasattr(txn, name) for name in txn.__all__)
