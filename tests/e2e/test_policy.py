"""What the proxy decides on its own: turning scanners away, failing over, and 503 with no PBX alive."""

from __future__ import annotations

import re

import pytest

from .harness import Harness
from .peers import Proxy, sipp_failure
from .procs import HOST, free_port

pytestmark = pytest.mark.e2e

CALLS = 5


def upstream_down(proxy: Proxy, uri: str, why: str) -> bool:
    """The proxy logged that it marked ``uri`` down after a failed attempt (``why``: timeout or 503)."""
    return any(
        r.get("msg") == "upstream down" and r.get("upstream") == uri and r.get("why") == why for r in proxy.records()
    )


def test_scanner_user_agent_rejected(e2e: Harness) -> None:
    """User-Agent: friendly-scanner gets 603 Decline with the Reason header; the PBX never sees it."""
    uas = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--deny-ua", "friendly-scanner"])
    scanner = e2e.uac("uac_scanner.xml", proxy, label="scanner", calls=3)
    why = sipp_failure(scanner, uas)
    # The scenario fails a call unless the status line is "603 Decline" and the Reason header is
    # exactly SIP;cause=603;text="antibot: scanner user-agent" (ereg check_it on Reason:).
    assert scanner.proc.returncode == 0, why
    assert scanner.stat("SuccessfulCall(C)") == 3, why
    assert scanner.stat("FailedCall(C)") == 0, why
    assert scanner.count("603_Recv") == 3, why
    assert scanner.count("603_Retrans") == 0, why  # our ACK matched the proxy's server transaction
    reasons = re.findall(r"603 Decline with Reason: *(.*)", scanner.actions())
    assert reasons == ['SIP;cause=603;text="antibot: scanner user-agent"'] * 3, scanner.actions()

    # A genuine caller afterwards, on the same path: once its INVITE has reached the PBX, any
    # scanner INVITE the proxy had let through would have reached it first.
    caller = e2e.uac("uac_call.xml", proxy, calls=1)
    assert caller.proc.returncode == 0, sipp_failure(caller, uas)
    uas.settle(1)
    assert uas.count("INVITE_Recv") == 1, sipp_failure(caller, uas)
    invites = uas.requests("INVITE")
    assert len(invites) == 1, invites
    assert "friendly-scanner" not in uas.messages()
    stats = proxy.stop()
    assert (stats.get("verdict_reject"), stats.get("verdict_relay")) == (3, 1), stats


@pytest.mark.parametrize("first", ["closed", "blackhole", "503"])
def test_failover_to_second_upstream(e2e: Harness, first: str) -> None:
    """The priority-1 PBX is a closed port, a hung PBX, or answers 503: every call lands on priority 2.

    Calls run one at a time (sipp -l 1), each from its own port (-t un), so they spread over
    the node's workers: the first one tries PBX 1 and fails over; PBX 1 is then marked down for
    every worker, so the next calls go straight to PBX 2 whichever worker takes them (probes are
    too slow to bring it back).
    """
    good = e2e.uas("uas_answer.xml", label="pbx2")
    bad = e2e.uas("uas_503.xml", label="pbx1-503") if first == "503" else None
    hole = e2e.blackhole() if first == "blackhole" else None
    first_addr = bad.addr if bad else hole.addr if hole else f"{HOST}:{free_port()}"
    first_uri = f"sip:{first_addr}"
    # A long probe timeout and interval: the health probe neither marks PBX 1 down before the
    # first call tries it, nor brings it back up during the test.
    proxy = e2e.proxy(
        [first_uri, f"sip:{good.addr};priority=2"],
        extra=["--failover-timeout", "0.5", "--probe-interval", "30"],
        settings={"probe_timeout": 20.0},
    )
    uac = e2e.uac("uac_call.xml", proxy, calls=CALLS, extra=["-l", "1", "-t", "un", "-max_socket", "100"])
    why = sipp_failure(uac, good, *([bad] if bad else []))
    assert uac.proc.returncode == 0, why
    assert uac.stat("SuccessfulCall(C)") == CALLS, why
    assert uac.stat("FailedCall(C)") == 0, why
    good.settle(CALLS)
    assert good.count("INVITE_Recv") == CALLS, sipp_failure(uac, good)
    assert good.stat("SuccessfulCall(C)") == CALLS, sipp_failure(uac, good)
    assert upstream_down(proxy, first_uri, "503" if bad else "timeout"), proxy.records()
    if bad is not None:
        bad.settle(1)
        assert bad.count("INVITE_Recv") == 1, sipp_failure(bad)
        assert bad.stat("FailedCall(C)") == 0, sipp_failure(bad)  # the proxy acknowledged the 503
    if hole is not None:
        assert len(hole.call_ids("INVITE")) == 1, hole.received()
    assert proxy.stop().get("failover") == 1


def test_no_upstream_alive(e2e: Harness) -> None:
    """Both PBXs dead: 503 + Retry-After, only after the call was really tried.

    Call 1 tries both: the priority-1 timeout marks it down for every worker; the priority-2 one,
    the last usable, is kept (a timeout is no proof), so calls 2 and 3, whichever worker takes
    them (one port per call: -t un), try it and then get 503.
    """
    dead = [f"sip:{HOST}:{free_port()}", f"sip:{HOST}:{free_port()};priority=2"]
    proxy = e2e.proxy(
        dead,
        extra=["--failover-timeout", "0.5", "--probe-interval", "30"],
        settings={"retry_after": 7, "probe_timeout": 20.0},
    )
    uac = e2e.uac("uac_unavailable.xml", proxy, calls=3, extra=["-l", "1", "-t", "un", "-max_socket", "100"])
    why = sipp_failure(uac)
    # The scenario fails a call unless the final response is 503 with a numeric Retry-After.
    assert uac.proc.returncode == 0, why
    assert uac.stat("SuccessfulCall(C)") == 3, why
    assert uac.stat("FailedCall(C)") == 0, why
    assert uac.count("503_Recv") == 3, why
    assert uac.count("503_Retrans") == 0, why  # our ACK matched the proxy's server transaction
    assert re.findall(r"503 with Retry-After: *(\S+)", uac.actions()) == ["7"] * 3, uac.actions()
    assert upstream_down(proxy, dead[0], "timeout"), proxy.records()
    assert not upstream_down(proxy, dead[1], "timeout"), proxy.records()
    stats = proxy.stop()
    assert stats.get("failover") == 4, stats  # call 1 tried both PBXs, calls 2 and 3 priority 2
    assert stats.get("upstream_kept_last") == 3, stats
    assert "no_upstream" not in stats, stats  # no call was refused untried
