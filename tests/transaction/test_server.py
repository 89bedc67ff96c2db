"""Tests for the RFC 3261 §17.2 server transactions. Time is driven by hand."""

from __future__ import annotations

import pytest

from antibot.transaction import (
    Effect,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    Terminated,
    TimerConfig,
)

CFG = TimerConfig()  # T1=0.5, T2=4, T4=5
TRYING = b"SIP/2.0 100 Trying\r\n\r\n"
RINGING = b"SIP/2.0 180 Ringing\r\n\r\n"
OK = b"SIP/2.0 200 OK\r\n\r\n"
BUSY = b"SIP/2.0 486 Busy Here\r\n\r\n"
Txn = ServerInviteTransaction | ServerNonInviteTransaction


def run_until(txn: Txn, until: float) -> list[tuple[float, list[Effect]]]:
    """Fire timers exactly at their deadlines up to ``until``; record (time, effects)."""
    fired: list[tuple[float, list[Effect]]] = []
    while (deadline := txn.get_timer()) is not None and deadline <= until:
        fired.append((deadline, txn.handle_timer(deadline)))
        assert txn.get_timer() != deadline, "timer did not fire at its deadline"
    return fired


def invite(*, reliable: bool = False, config: TimerConfig = CFG) -> ServerInviteTransaction:
    return ServerInviteTransaction(reliable=reliable, config=config)


def completed_invite(*, reliable: bool = False, config: TimerConfig = CFG, now: float = 0.0) -> ServerInviteTransaction:
    txn = invite(reliable=reliable, config=config)
    assert txn.send_response(486, BUSY, now) == [Send(BUSY)]
    assert txn.state == "completed"
    return txn


# --- INVITE server transaction (§17.2.1) -------------------------------------------


def test_invite_starts_in_proceeding_without_timers() -> None:
    txn = invite()
    assert txn.state == "proceeding"
    assert txn.get_timer() is None
    assert txn.handle_timer(1000.0) == []


def test_invite_retransmission_before_any_response_is_absorbed() -> None:
    assert invite().receive_request(False, "INVITE", 0.1) == []


def test_invite_1xx_is_sent_and_resent_on_retransmission() -> None:
    txn = invite()
    assert txn.send_response(100, TRYING, 0.0) == [Send(TRYING)]
    assert txn.receive_request(False, "INVITE", 0.5) == [Send(TRYING)]
    assert txn.send_response(180, RINGING, 1.0) == [Send(RINGING)]
    assert txn.receive_request(False, "INVITE", 1.5) == [Send(RINGING)]
    assert txn.state == "proceeding"
    assert txn.get_timer() is None


def test_invite_ack_in_proceeding_is_absorbed() -> None:
    txn = invite()
    txn.send_response(180, RINGING, 0.0)
    assert txn.receive_request(True, "ACK", 0.1) == []
    assert txn.state == "proceeding"


@pytest.mark.parametrize("provisional", [False, True])
def test_invite_2xx_is_sent_and_terminates(provisional: bool) -> None:
    txn = invite()
    if provisional:
        txn.send_response(180, RINGING, 0.0)
    assert txn.send_response(200, OK, 0.5) == [Send(OK), Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


@pytest.mark.parametrize("status", [300, 404, 486, 500, 603, 699])
def test_invite_non_2xx_final_moves_to_completed_and_arms_g(status: int) -> None:
    txn = invite()
    txn.send_response(100, TRYING, 0.0)
    assert txn.send_response(status, BUSY, 2.0) == [Send(BUSY)]
    assert txn.state == "completed"
    assert txn.get_timer() == 2.5  # G = T1


def test_invite_timer_g_doubles_capped_at_t2_until_timer_h() -> None:
    txn = completed_invite()
    fired = run_until(txn, 100.0)
    times = [t for t, _ in fired]
    # intervals 0.5, 1, 2, 4, then capped at T2 = 4; H = 64*T1 = 32
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5, 32.0]
    assert all(effects == [Send(BUSY)] for _, effects in fired[:-1])
    assert fired[-1][1] == [Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


def test_invite_timer_g_follows_configured_t1_t2() -> None:
    txn = completed_invite(config=TimerConfig(t1=0.25, t2=1.0, t4=2.0))
    times = [t for t, _ in run_until(txn, 100.0)]
    assert times[:6] == [0.25, 0.75, 1.75, 2.75, 3.75, 4.75]
    assert times[-2:] == [15.75, 16.0]  # H = 64 * 0.25


def test_invite_reliable_final_has_no_g_only_h() -> None:
    txn = completed_invite(reliable=True, now=1.0)
    assert txn.get_timer() == 33.0
    assert txn.handle_timer(32.9) == []
    assert txn.handle_timer(33.0) == [Terminated()]
    assert txn.state == "terminated"


def test_invite_retransmission_in_completed_resends_final() -> None:
    txn = invite()
    txn.send_response(180, RINGING, 0.0)
    txn.send_response(486, BUSY, 0.1)
    assert txn.receive_request(False, "INVITE", 0.2) == [Send(BUSY)]
    assert txn.state == "completed"


def test_invite_ack_in_completed_confirms_and_arms_i() -> None:
    txn = completed_invite()
    assert run_until(txn, 2.0) == [(0.5, [Send(BUSY)]), (1.5, [Send(BUSY)])]
    assert txn.receive_request(True, "ACK", 2.0) == []
    assert txn.state == "confirmed"
    assert txn.get_timer() == 7.0  # I = T4; G and H cancelled
    assert txn.handle_timer(6.99) == []
    assert txn.handle_timer(7.0) == [Terminated()]
    assert txn.state == "terminated"


def test_invite_timer_i_follows_configured_t4() -> None:
    txn = completed_invite(config=TimerConfig(t1=0.5, t2=4.0, t4=1.5))
    txn.receive_request(True, "ACK", 1.0)
    assert txn.get_timer() == 2.5


def test_invite_reliable_ack_terminates_immediately() -> None:
    txn = completed_invite(reliable=True)
    assert txn.receive_request(True, "ACK", 1.0) == [Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


@pytest.mark.parametrize("is_ack", [False, True])
def test_invite_confirmed_absorbs_invite_and_ack(is_ack: bool) -> None:
    txn = completed_invite()
    txn.receive_request(True, "ACK", 1.0)
    assert txn.receive_request(is_ack, "again", 2.0) == []
    assert txn.state == "confirmed"
    assert txn.get_timer() == 6.0


@pytest.mark.parametrize("status", [180, 200, 500])
def test_invite_responses_after_proceeding_are_ignored(status: int) -> None:
    txn = completed_invite()
    assert txn.send_response(status, OK, 0.1) == []
    assert txn.receive_request(False, "INVITE", 0.2) == [Send(BUSY)]
    txn.receive_request(True, "ACK", 0.3)
    assert txn.send_response(status, OK, 0.4) == []
    assert txn.state == "confirmed"


@pytest.mark.parametrize("is_ack", [False, True])
def test_invite_terminated_ignores_everything(is_ack: bool) -> None:
    txn = invite()
    txn.send_response(200, OK, 0.0)
    assert txn.receive_request(is_ack, "late", 0.1) == []
    assert txn.send_response(486, BUSY, 0.2) == []
    assert txn.handle_timer(1000.0) == []
    assert txn.state == "terminated"


def test_invite_rejects_invalid_status() -> None:
    with pytest.raises(ValueError):
        invite().send_response(99, b"bad", 0.0)


# --- non-INVITE server transaction (§17.2.2) ---------------------------------------


def test_non_invite_starts_in_trying_and_absorbs_retransmissions() -> None:
    txn = ServerNonInviteTransaction(reliable=False, config=CFG)
    assert txn.state == "trying"
    assert txn.receive_request("OPTIONS", 0.1) == []
    assert txn.get_timer() is None


def test_non_invite_1xx_moves_to_proceeding_and_is_resent() -> None:
    txn = ServerNonInviteTransaction(reliable=False, config=CFG)
    assert txn.send_response(100, TRYING, 0.0) == [Send(TRYING)]
    assert txn.state == "proceeding"
    assert txn.receive_request("again", 0.5) == [Send(TRYING)]
    assert txn.send_response(180, RINGING, 0.6) == [Send(RINGING)]
    assert txn.receive_request("again", 0.7) == [Send(RINGING)]
    assert txn.get_timer() is None


@pytest.mark.parametrize("provisional", [False, True])
@pytest.mark.parametrize("status", [200, 404, 699])
def test_non_invite_final_completes_and_arms_j(status: int, provisional: bool) -> None:
    txn = ServerNonInviteTransaction(reliable=False, config=CFG)
    if provisional:
        txn.send_response(100, TRYING, 0.0)
    assert txn.send_response(status, OK, 1.0) == [Send(OK)]
    assert txn.state == "completed"
    assert txn.get_timer() == 33.0  # J = 64*T1
    assert txn.receive_request("again", 2.0) == [Send(OK)]
    assert txn.handle_timer(32.99) == []
    assert txn.handle_timer(33.0) == [Terminated()]
    assert txn.state == "terminated"


def test_non_invite_timer_j_follows_configured_t1() -> None:
    txn = ServerNonInviteTransaction(reliable=False, config=TimerConfig(t1=0.25))
    txn.send_response(200, OK, 0.0)
    assert txn.get_timer() == 16.0


def test_non_invite_completed_discards_further_responses() -> None:
    txn = ServerNonInviteTransaction(reliable=False, config=CFG)
    txn.send_response(200, OK, 0.0)
    assert txn.send_response(500, BUSY, 0.1) == []
    assert txn.send_response(100, TRYING, 0.2) == []
    assert txn.receive_request("again", 0.3) == [Send(OK)]
    assert txn.state == "completed"


def test_non_invite_completed_does_not_retransmit_on_its_own() -> None:
    txn = ServerNonInviteTransaction(reliable=False, config=CFG)
    txn.send_response(200, OK, 0.0)
    assert run_until(txn, 100.0) == [(32.0, [Terminated()])]


def test_non_invite_reliable_final_terminates_immediately() -> None:
    txn = ServerNonInviteTransaction(reliable=True, config=CFG)
    assert txn.send_response(200, OK, 0.0) == [Send(OK), Terminated()]
    assert txn.state == "terminated"
    assert txn.get_timer() is None


def test_non_invite_terminated_ignores_everything() -> None:
    txn = ServerNonInviteTransaction(reliable=True, config=CFG)
    txn.send_response(200, OK, 0.0)
    assert txn.receive_request("late", 0.1) == []
    assert txn.send_response(200, OK, 0.2) == []
    assert txn.handle_timer(1000.0) == []
