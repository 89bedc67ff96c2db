"""Calls through the proxy between a sipp caller and a sipp PBX: hang-up either side, CANCEL, TCP."""

from __future__ import annotations

import pytest

from .harness import Harness
from .peers import Proxy, Sipp, header_values, sipp_failure

pytestmark = pytest.mark.e2e

CALLS = 5


def assert_calls(uac: Sipp, uas: Sipp, calls: int) -> None:
    """The caller completed ``calls`` calls, and the PBX got exactly those INVITEs and completed them."""
    why = sipp_failure(uac, uas)
    assert uac.proc.returncode == 0, f"caller sipp exited {uac.proc.returncode}\n{why}"
    assert uac.stat("SuccessfulCall(C)") == calls, why
    assert uac.stat("FailedCall(C)") == 0, why
    uas.settle(calls)
    why = sipp_failure(uac, uas)
    assert uas.count("INVITE_Recv") == calls, why
    assert uas.stat("SuccessfulCall(C)") == calls, why
    assert uas.stat("FailedCall(C)") == 0, why


def proxy_routes(values: list[str], proxy: Proxy) -> list[str]:
    """The Route/Record-Route values that point at the proxy (loose routing)."""
    return [v for v in values if f"sip:{proxy.addr}" in v and ";lr" in v]


def test_call_bye_from_caller_udp(e2e: Harness) -> None:
    """INVITE/180/200/ACK, then the caller's BYE reaches the PBX on the Record-Route set."""
    uas = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"])
    uac = e2e.uac("uac_call.xml", proxy, calls=CALLS)
    assert_calls(uac, uas, CALLS)
    # The ACK and the BYE of every call crossed the proxy (the caller sends only to the proxy).
    assert uas.count("ACK_Recv") == CALLS
    assert uas.count("BYE_Recv") == CALLS
    invite = uas.received("INVITE ")[0]
    assert len(proxy_routes(header_values(invite, "Record-Route"), proxy)) == 1, invite
    bye = uas.received("BYE ")[0]
    assert proxy.is_own_via(header_values(bye, "Via")[0], "udp"), bye
    assert not proxy_routes(header_values(bye, "Route"), proxy), bye  # the proxy popped its own Route


@pytest.mark.parametrize("caller", ["udp", "tcp"])
def test_call_bye_from_pbx(e2e: Harness, caller: str) -> None:
    """The PBX hangs up: its BYE follows the route set recorded from the INVITE back to the caller."""
    uas = e2e.uas("uas_bye.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"])
    uac = e2e.uac("uac_recv_bye.xml", proxy, calls=CALLS, transport=caller)
    assert_calls(uac, uas, CALLS)
    assert uac.count("BYE_Recv") == CALLS
    assert uas.count("200_Recv") == CALLS  # the caller's 200 for the BYE came back through the proxy
    bye = uac.received("BYE ")[0]
    assert bye.startswith(f"BYE sip:sipp@{uac.addr};"), bye  # R-URI: the caller's Contact
    assert proxy.is_own_via(header_values(bye, "Via")[0], caller), bye
    assert not proxy_routes(header_values(bye, "Route"), proxy), bye  # the proxy popped its own Route


def test_cancel_before_answer(e2e: Harness) -> None:
    """CANCEL while ringing: 200 for the CANCEL, 487 for the INVITE, ACK; the PBX sees CANCEL and ACK."""
    uas = e2e.uas("uas_cancel.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"])
    uac = e2e.uac("uac_cancel.xml", proxy, calls=CALLS)
    # The scenario checks the CSeq of both finals: "1 CANCEL" on the 200, "1 INVITE" on the 487.
    assert_calls(uac, uas, CALLS)
    assert uac.count("487_Recv") == CALLS
    assert uac.count("487_Retrans") == 0  # our ACK matched the proxy's server transaction
    assert uas.count("CANCEL_Recv") == CALLS
    assert uas.count("ACK_Recv") == CALLS  # the proxy acknowledged the PBX's 487 itself


@pytest.mark.parametrize(
    ("caller", "pbx"),
    [("tcp", "udp"), ("udp", "tcp"), ("tcp", "tcp")],
    ids=["caller-tcp-pbx-udp", "caller-udp-pbx-tcp", "caller-tcp-pbx-tcp"],
)
def test_call_over_tcp(e2e: Harness, caller: str, pbx: str) -> None:
    """The basic call with TCP on the caller side, the PBX side, or both."""
    uas = e2e.uas("uas_answer.xml", transport=pbx)
    suffix = ";transport=tcp" if pbx == "tcp" else ""
    proxy = e2e.proxy([f"sip:{uas.addr}{suffix}"])
    uac = e2e.uac("uac_call.xml", proxy, calls=CALLS, transport=caller)
    assert_calls(uac, uas, CALLS)
    assert uas.count("BYE_Recv") == CALLS
    invite = uas.received("INVITE ")[0]
    assert proxy.is_own_via(header_values(invite, "Via")[0], pbx), invite
    # RFC 5658: one Record-Route per side when the transport changes, else one.
    assert len(proxy_routes(header_values(invite, "Record-Route"), proxy)) == (2 if caller != pbx else 1), invite
