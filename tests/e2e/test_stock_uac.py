"""sipp's built-in ``uac`` and ``uas`` scenarios (``-sn``) through the proxy: the usual first test.

The stock uac ignores the Record-Route of the 2xx: its ACK and BYE go to the URI it sent the
INVITE to (the proxy's own address) without a Route. The proxy routes them by the dialog.
"""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Iterable

import pytest

from ..store.resp import Resp
from .harness import SIPP_TRACES, SIPP_TRANSPORT, Harness, _listening
from .peers import Proxy, Sipp, sipp_failure
from .procs import HOST, free_port, wait_for

pytestmark = pytest.mark.e2e

CALLS = 5


def stock_sipp(e2e: Harness, name: str, *, remote: str | None = None, extra: Iterable[str] = ()) -> Sipp:
    """sipp running its built-in scenario ``name`` (``-sn``), with the harness's trace files."""
    binary = shutil.which("sipp")
    if binary is None:
        pytest.fail("sipp not found on PATH (Debian: apt-get install sip-tester)", pytrace=False)
    workdir = e2e.tmp / f"stock-{name}"
    workdir.mkdir()
    port = free_port()
    args = [binary, "-sn", name, "-i", HOST, "-p", str(port), "-t", SIPP_TRANSPORT["udp"], "-nostdin", *SIPP_TRACES]
    args += ["-timeout", "15s", "-timeout_error", "-ci", HOST, "-cp", str(free_port())]
    args += ["-trace_msg", "-message_file", "messages.log", *extra]
    if remote is not None:
        args.append(remote)
    for log in ("errors.log", "messages.log", "stderr.log"):
        e2e.procs.artifacts.append((f"sipp stock {name} {log}", workdir / log))
    proc = e2e.procs.spawn(args, workdir, workdir / "stdout.log", workdir / "stderr.log", grace=3.0)
    sipp = Sipp(f"stock-{name}", proc, workdir, port, 15.0)
    if remote is None:
        wait_for(lambda: _listening(sipp, "udp"), 10.0, f"sipp {name} to bind {sipp.addr}")
    return sipp


def statuses(sipp: Sipp) -> set[str]:
    """The status lines sipp logged (sent or received)."""
    return set(re.findall(r"^SIP/2\.0 (\d{3})", sipp.messages(), re.M))


def test_stock_uac_calls_complete_through_the_proxy(e2e: Harness) -> None:
    uas = stock_sipp(e2e, "uas", extra=["-aa"])  # -aa: the proxy's OPTIONS probes get 200
    proxy = e2e.proxy([f"sip:{uas.addr}"])
    uac = stock_sipp(e2e, "uac", remote=proxy.addr, extra=["-m", str(CALLS), "-r", "10", "-d", "100"])
    uac.wait()
    why = sipp_failure(uac, uas)
    assert uac.stat("SuccessfulCall(C)") == CALLS, why
    assert uac.stat("FailedCall(C)") == 0, why
    assert not statuses(uac) & {"404", "482"}, why
    uas.settle(CALLS)
    assert uas.stat("SuccessfulCall(C)") == CALLS, sipp_failure(uac, uas)
    # Every ACK and BYE crossed the proxy to the PBX's Contact, not back to the proxy.
    acks, byes = uas.received("ACK "), uas.received("BYE ")
    assert len(acks) == CALLS and len(byes) == CALLS, sipp_failure(uac, uas)
    assert all(m.startswith(f"ACK sip:{uas.addr}") for m in acks), acks[0]  # R-URI: the PBX's Contact
    assert all(m.startswith(f"BYE sip:{uas.addr}") for m in byes), byes[0]
    stats = proxy.stop()
    assert stats.get("ack_dropped", 0) == 0 and stats.get("refused", 0) == 0, stats


def test_stock_uac_durations_in_the_call_log_and_a_clear_404(e2e: Harness) -> None:
    """With detection: each call's outcome is logged once, 200 with the time talked (sipp's
    ``-d 1000``), never a 0-second answer; a BYE for a dialog the proxy does not know gets a
    404 that says so, and logs nothing."""
    uas = stock_sipp(e2e, "uas", extra=["-aa"])
    proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--detect"])
    uac = stock_sipp(e2e, "uac", remote=proxy.addr, extra=["-m", "3", "-r", "2", "-d", "1000"])
    uac.wait()
    why = sipp_failure(uac, uas)
    assert uac.stat("SuccessfulCall(C)") == 3, why
    log = Resp(redis_socket(proxy))
    try:

        def outcomes() -> list[dict[str, str]]:
            """The outcome of each decided call (``ab:outcome:<call ref>``), those written so far."""
            refs = [dict(zip(f[::2], f[1::2], strict=True))["call"] for _, f in log("XRANGE", "ab:calls", "-", "+")]
            found = [log("HGETALL", f"ab:outcome:{ref}") for ref in refs]
            return [dict(zip(h[::2], h[1::2], strict=True)) for h in found if h]

        wait_for(lambda: len(outcomes()) == 3, 5.0, "three outcomes in the call log")
        reason = bye_to_proxy(proxy)
        assert reason.startswith("SIP/2.0 404 ") and "dialog" in reason, reason
        done = outcomes()
        assert log("XLEN", "ab:calls") == 3  # the stray BYE is no call
    finally:
        log.close()
    assert len(done) == 3, done
    assert all(e["status"] == "200" and 0.9 <= float(e["duration"]) <= 5.0 for e in done), done


def redis_socket(proxy: Proxy) -> str:
    started = [r for r in proxy.records() if r.get("msg") == "embedded redis started"]
    assert started, "the proxy did not log its embedded Redis"
    return str(started[0]["url"]).removeprefix("unix://")


def bye_to_proxy(proxy: Proxy) -> str:
    """A BYE to the proxy's own URI, no Route, for a dialog nobody knows: the status line back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(2.0)
        port = sock.getsockname()[1]
        msg = (
            f"BYE sip:service@{proxy.addr} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-stray-{port};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:sipp@{HOST}:{port}>;tag=a{port}\r\n"
            f"To: <sip:service@{proxy.addr}>;tag=b{port}\r\nCall-ID: stray-{port}@{HOST}\r\n"
            "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(msg.encode(), (HOST, proxy.port))
        return sock.recv(65535).decode("utf-8", "replace").split("\r\n", 1)[0]
