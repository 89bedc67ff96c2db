"""SIGTERM while a call is in progress: its BYE is still relayed, new calls get 503 meanwhile.

The proxy used to exit as soon as no transaction was in flight: an answered call's BYE that
came a moment later found no proxy, and the caller never got its 200.
"""

from __future__ import annotations

import socket

import pytest

from .harness import Harness
from .peers import Proxy, sipp_failure
from .procs import HOST, wait_for

pytestmark = pytest.mark.e2e


def new_invite(proxy: Proxy, timeout: float = 5.0) -> str:
    """One new INVITE (no To tag); the final status line and its Retry-After header."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(timeout)
        port = sock.getsockname()[1]
        msg = (
            f"INVITE sip:100@{proxy.addr} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-e2e-drain-{port};rport\r\nMax-Forwards: 70\r\n"
            f"From: <sip:74951@{HOST}:{port}>;tag=drain{port}\r\nTo: <sip:100@{proxy.addr}>\r\n"
            f"Call-ID: e2e-drain-{port}@{HOST}\r\nCSeq: 1 INVITE\r\nContact: <sip:74951@{HOST}:{port}>\r\n"
            f"User-Agent: Grandstream GXP2170\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(msg.encode(), (HOST, proxy.port))
        while True:
            head = sock.recv(65535).split(b"\r\n\r\n", 1)[0].decode().split("\r\n")  # a timeout fails
            if not head[0].startswith("SIP/2.0 1"):
                retry = [h for h in head if h.lower().startswith("retry-after:")]
                return " ".join([head[0], *retry])


def test_sigterm_keeps_serving_the_bye_of_a_call_in_progress(e2e: Harness) -> None:
    pbx = e2e.uas("uas_answer.xml", label="pbx")
    proxy = e2e.proxy(
        [f"sip:{pbx.addr}"], settings={"shutdown_timeout": 60.0, "shutdown_call_grace": 60.0, "probe_interval": 0}
    )
    # One call answered, then 3 s of conversation before its BYE.
    caller = e2e.sipp("caller", "uac_pause_bye.xml", remote=proxy.addr, calls=1, extra=["-d", "3000"])
    wait_for(lambda: pbx.requests("ACK"), 10.0, "the call answered and ACKed at the PBX")
    proxy.proc.terminate()
    wait_for(
        lambda: any(r.get("msg") == "shutting down: finishing in-flight transactions" for r in proxy.records()),
        10.0,
        "the proxy to start draining",
    )
    # Draining: a new call is refused at once, with Retry-After ...
    assert new_invite(proxy) == "SIP/2.0 503 Service Unavailable Retry-After: 30"
    # ... and the call in progress ends normally: its BYE relayed and answered.
    assert caller.wait() == 0, sipp_failure(caller, pbx)
    assert caller.stat("SuccessfulCall(C)") == 1, sipp_failure(caller, pbx)
    assert pbx.requests("BYE")
    # No call left: the proxy exits 0 at once, long before its 60 s grace.
    assert proxy.proc.wait(15.0) == 0
