"""Tests for the RFC 3261 §17.1 client transactions. Time is driven by hand."""

from __future__ import annotations

import pytest

from antibot.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Effect,
    PassUp,
    Send,
    Terminated,
    TimedOut,
    TimerConfig,
)

REQ = b"INVITE sip:bob@example.com SIP/2.0\r\n\r\n"
ACK = b"ACK sip:bob@example.com SIP/2.0\r\n\r\n"
CFG = TimerConfig()  # T1=0.5, T2=4, T4=5
Txn = ClientInviteTransaction | ClientNonInviteTransaction


def run_until(txn: Txn, until: float) -> list[tuple[float, list[Effect]]]:
    """Fire timers exactly at their deadlines up to ``until``; record (time, effects)."""
    fired: list[tuple[float, list[Effect]]] = []
    while (deadline := txn.get_timer()) is not None and deadline <= until:
        fired.append((deadline, txn.handle_timer(deadline)))
        assert txn.get_timer() != deadline, "timer did not fire at its deadline"
    return fired


class AckFactory:
    def __init__(self) -> None:
        self.calls: list[object] = []

    def __call__(self, response: object) -> bytes:
        self.calls.append(response)
        return ACK + str(len(self.calls)).encode()


def invite(
    *, reliable: bool = False, config: TimerConfig = CFG, now: float = 0.0
) -> tuple[ClientInviteTransaction, AckFactory]:
    acks = AckFactory()
    txn = ClientInviteTransaction(REQ, reliable=reliable, config=config, ack_factory=acks)
    assert txn.start(now) == [Send(REQ)]
    return txn, acks


def non_invite(*, reliable: bool = False, config: TimerConfig = CFG, now: float = 0.0) -> ClientNonInviteTransaction:
    txn = ClientNonInviteTransaction(REQ, reliable=reliable, config=config)
    assert txn.start(now) == [Send(REQ)]
    return txn


# --- INVITE client transaction (§17.1.1) -------------------------------------------


def test_invite_start_unreliable_arms_a_at_t1() -> None:
    txn, _ = invite(now=10.0)
    assert txn.state == "calling"
    assert txn.get_timer() == 10.5


def test_invite_start_twice_raises() -> None:
    txn, _ = invite()
    with pytest.raises(RuntimeError):
        txn.start(1.0)


def test_invite_timer_a_doubles_uncapped_until_timer_b() -> None:
    txn, _ = invite()
    fired = run_until(txn, 100.0)
    assert fired == [
        (0.5, [Send(REQ)]),
        (1.5, [Send(REQ)]),
        (3.5, [Send(REQ)]),
        (7.5, [Send(REQ)]),  # interval 4 = T2
        (15.5, [Send(REQ)]),  # interval 8 > T2: INVITE is not capped
        (31.5, [Send(REQ)]),  # interval 16
        (32.0, [TimedOut(), Terminated()]),  # B = 64*T1
    ]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


def test_invite_timer_schedule_follows_configured_t1() -> None:
    txn, _ = invite(config=TimerConfig(t1=0.25, t2=0.5, t4=1.0))
    fired = run_until(txn, 100.0)
    assert [t for t, _ in fired] == [0.25, 0.75, 1.75, 3.75, 7.75, 15.75, 16.0]
    assert fired[-1][1] == [TimedOut(), Terminated()]


def test_invite_reliable_has_no_timer_a_only_b() -> None:
    txn, _ = invite(reliable=True, now=1.0)
    assert txn.get_timer() == 33.0
    assert txn.handle_timer(32.9) == []
    assert txn.handle_timer(33.0) == [TimedOut(), Terminated()]
    assert txn.state == "terminated"


def test_invite_handle_timer_before_deadline_does_nothing() -> None:
    txn, _ = invite()
    assert txn.handle_timer(0.49) == []
    assert txn.get_timer() == 0.5


def test_invite_late_handle_timer_fires_all_expired_in_deadline_order() -> None:
    txn, _ = invite()
    # A (0.5) retransmits once, then B (32) times out; A is not replayed in a burst.
    assert txn.handle_timer(100.0) == [Send(REQ), TimedOut(), Terminated()]
    assert txn.get_timer() is None


def test_invite_1xx_in_calling_passes_up_and_stops_a_and_b() -> None:
    txn, _ = invite()
    assert txn.receive_response(180, "ringing", 0.2) == [PassUp("ringing")]
    assert txn.state == "proceeding"
    assert txn.get_timer() is None
    assert txn.handle_timer(1000.0) == []


def test_invite_1xx_after_retransmissions_stops_them() -> None:
    txn, _ = invite()
    assert run_until(txn, 2.0) == [(0.5, [Send(REQ)]), (1.5, [Send(REQ)])]
    assert txn.receive_response(100, "trying", 2.0) == [PassUp("trying")]
    assert run_until(txn, 1000.0) == []


def test_invite_further_1xx_in_proceeding_pass_up() -> None:
    txn, _ = invite()
    txn.receive_response(100, "trying", 0.1)
    assert txn.receive_response(183, "progress", 0.2) == [PassUp("progress")]
    assert txn.state == "proceeding"


@pytest.mark.parametrize("provisional", [False, True])
def test_invite_2xx_passes_up_and_terminates(provisional: bool) -> None:
    txn, acks = invite()
    if provisional:
        txn.receive_response(180, "ringing", 0.1)
    assert txn.receive_response(200, "ok", 0.3) == [PassUp("ok"), Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None
    assert acks.calls == []


@pytest.mark.parametrize("status", [300, 404, 486, 503, 603, 699])
def test_invite_non_2xx_final_in_calling_acks_and_arms_d(status: int) -> None:
    txn, acks = invite()
    effects = txn.receive_response(status, "final", 0.3)
    assert effects == [Send(ACK + b"1"), PassUp("final")]
    assert acks.calls == ["final"]
    assert txn.state == "completed"
    assert txn.get_timer() == 32.3  # D = 32s, A and B cancelled


def test_invite_non_2xx_final_in_proceeding_acks_and_arms_d() -> None:
    txn, _ = invite()
    txn.receive_response(180, "ringing", 0.1)
    assert txn.receive_response(486, "busy", 5.0) == [Send(ACK + b"1"), PassUp("busy")]
    assert txn.state == "completed"
    assert txn.get_timer() == 37.0


def test_invite_completed_stops_retransmitting_request() -> None:
    txn, _ = invite()
    txn.receive_response(404, "nf", 0.1)
    assert run_until(txn, 32.0) == []


def test_invite_retransmitted_final_in_completed_resends_same_ack() -> None:
    txn, acks = invite()
    txn.receive_response(486, "busy", 0.3)
    assert txn.receive_response(486, "busy again", 1.0) == [Send(ACK + b"1")]
    assert txn.receive_response(486, "busy again", 2.0) == [Send(ACK + b"1")]
    assert acks.calls == ["busy"]
    assert txn.state == "completed"


@pytest.mark.parametrize("status", [180, 200])
def test_invite_1xx_or_2xx_in_completed_is_ignored(status: int) -> None:
    txn, _ = invite()
    txn.receive_response(500, "err", 0.3)
    assert txn.receive_response(status, "late", 1.0) == []
    assert txn.state == "completed"


def test_invite_timer_d_terminates() -> None:
    txn, _ = invite()
    txn.receive_response(500, "err", 1.0)
    assert txn.handle_timer(32.99) == []
    assert txn.handle_timer(33.0) == [Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


def test_invite_reliable_final_terminates_immediately() -> None:
    txn, _ = invite(reliable=True)
    effects = txn.receive_response(603, "decline", 0.3)
    assert effects == [Send(ACK + b"1"), PassUp("decline"), Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


@pytest.mark.parametrize("status", [100, 200, 486])
def test_invite_terminated_ignores_everything(status: int) -> None:
    txn, _ = invite()
    txn.receive_response(200, "ok", 0.1)
    assert txn.receive_response(status, "late", 0.2) == []
    assert txn.handle_timer(1000.0) == []
    assert txn.state == "terminated"


@pytest.mark.parametrize("status", [0, 99, 700])
def test_invite_rejects_invalid_status(status: int) -> None:
    txn, _ = invite()
    with pytest.raises(ValueError):
        txn.receive_response(status, "bad", 0.1)


def test_invalid_timer_config_is_rejected() -> None:
    with pytest.raises(ValueError):
        ClientNonInviteTransaction(REQ, reliable=False, config=TimerConfig(t1=0.0))


# --- non-INVITE client transaction (§17.1.2) ---------------------------------------


def test_non_invite_start_unreliable_arms_e_at_t1() -> None:
    txn = non_invite(now=2.0)
    assert txn.state == "trying"
    assert txn.get_timer() == 2.5


def test_non_invite_start_twice_raises() -> None:
    txn = non_invite()
    with pytest.raises(RuntimeError):
        txn.start(1.0)


def test_non_invite_timer_e_doubles_capped_at_t2_until_timer_f() -> None:
    txn = non_invite()
    fired = run_until(txn, 100.0)
    times = [t for t, _ in fired]
    # intervals 0.5, 1, 2, 4, then capped at T2 = 4
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5, 32.0]
    assert all(effects == [Send(REQ)] for _, effects in fired[:-1])
    assert fired[-1][1] == [TimedOut(), Terminated()]  # F = 64*T1
    assert txn.state == "terminated"
    assert txn.get_timer() is None


def test_non_invite_timer_schedule_follows_configured_t1_t2() -> None:
    txn = non_invite(config=TimerConfig(t1=0.25, t2=1.0, t4=2.0))
    times = [t for t, _ in run_until(txn, 100.0)]
    assert times[:6] == [0.25, 0.75, 1.75, 2.75, 3.75, 4.75]
    assert times[-2:] == [15.75, 16.0]  # F = 64 * 0.25


def test_non_invite_reliable_has_no_timer_e_only_f() -> None:
    txn = non_invite(reliable=True)
    assert txn.get_timer() == 32.0
    assert txn.handle_timer(32.0) == [TimedOut(), Terminated()]
    assert txn.state == "terminated"


def test_non_invite_1xx_moves_to_proceeding_and_e_resets_to_t2() -> None:
    txn = non_invite()
    assert txn.receive_response(100, "trying", 0.1) == [PassUp("trying")]
    assert txn.state == "proceeding"
    times = [t for t, _ in run_until(txn, 13.0)]
    # the pending E (0.5) still fires, then every T2 = 4 s
    assert times == [0.5, 4.5, 8.5, 12.5]


def test_non_invite_further_1xx_in_proceeding_pass_up() -> None:
    txn = non_invite()
    txn.receive_response(100, "trying", 0.1)
    assert txn.receive_response(180, "more", 0.2) == [PassUp("more")]
    assert txn.state == "proceeding"


def test_non_invite_timer_f_in_proceeding_times_out() -> None:
    txn = non_invite()
    txn.receive_response(100, "trying", 0.1)
    fired = run_until(txn, 100.0)
    assert fired[-1] == (32.0, [TimedOut(), Terminated()])
    assert txn.state == "terminated"


@pytest.mark.parametrize("provisional", [False, True])
@pytest.mark.parametrize("status", [200, 202, 404, 699])
def test_non_invite_final_passes_up_and_arms_k(status: int, provisional: bool) -> None:
    txn = non_invite()
    if provisional:
        txn.receive_response(100, "trying", 0.1)
    assert txn.receive_response(status, "final", 1.0) == [PassUp("final")]
    assert txn.state == "completed"
    assert txn.get_timer() == 6.0  # K = T4; E and F cancelled
    assert txn.handle_timer(5.99) == []
    assert txn.handle_timer(6.0) == [Terminated()]
    assert txn.state == "terminated"


def test_non_invite_timer_k_follows_configured_t4() -> None:
    txn = non_invite(config=TimerConfig(t1=0.5, t2=4.0, t4=2.5))
    txn.receive_response(200, "ok", 1.0)
    assert txn.get_timer() == 3.5


@pytest.mark.parametrize("status", [100, 200, 486])
def test_non_invite_responses_in_completed_are_absorbed(status: int) -> None:
    txn = non_invite()
    txn.receive_response(200, "ok", 1.0)
    assert txn.receive_response(status, "retransmission", 1.5) == []
    assert txn.state == "completed"
    assert txn.get_timer() == 6.0


def test_non_invite_reliable_final_terminates_immediately() -> None:
    txn = non_invite(reliable=True)
    assert txn.receive_response(200, "ok", 1.0) == [PassUp("ok"), Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


@pytest.mark.parametrize("status", [100, 200, 486])
def test_non_invite_terminated_ignores_everything(status: int) -> None:
    txn = non_invite(reliable=True)
    txn.receive_response(200, "ok", 1.0)
    assert txn.receive_response(status, "late", 2.0) == []
    assert txn.handle_timer(1000.0) == []
