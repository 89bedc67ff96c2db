"""Redis down, then a flood of unique callers: memory and CPU stay bounded, calls keep flowing.

With Redis gone, eviction skipped every entity with unsynced counts and each
failed sync queued every entity again, so the counter table grew with every unique caller and
each 50 ms sync rebuilt (and failed to send) all of it, blocking the event loop for seconds:
706 MB RSS and a busy CPU while idle, the PBX's OPTIONS probes timing out, legitimate calls 503.

The proxy here uses an external redis-server that the test starts and then kills with SIGKILL
(the embedded Redis may be restarted by its supervisor; this one stays dead).
"""

from __future__ import annotations

import os
import re
import secrets
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .harness import Harness
from .peers import Proxy, header_values, sipp_failure
from .procs import HOST, free_port, wait_for

pytestmark = pytest.mark.e2e

#: Unique INVITEs of the flood: each brings two entities never seen before (its caller and its
#: callee), 2 x FLOOD = 40,000 > the 20,000 entities LocalCounters keeps by default.
FLOOD = 20_000
#: INVITEs sent but not yet answered, at most (so the flood is not lost in the socket buffers).
WINDOW = 300
#: RSS growth allowed over the flood. The counter table is bounded at 20,000 entities of about
#: 2.2 kB each (44 MB, measured with tracemalloc), plus the rejected INVITEs' transactions
#: (until their Timer I) and the allocator's slack. Before the fix: every one of the 40,000
#: entities was kept and each sync copied all of them into a ~19 MB payload: well over this.
RSS_GROWTH_MB = 90
#: CPU the proxy may use while no traffic arrives, over IDLE_SECONDS (before the fix: each
#: failed sync rebuilt every entity's batch, about 4 s of CPU per 50 ms sync interval).
IDLE_SECONDS = 2.0
IDLE_CPU = 0.10
LEGIT = 20


def start_redis(e2e: Harness) -> tuple[subprocess.Popen[bytes], int]:
    """A throw-away redis-server on 127.0.0.1 (no persistence), answering PING."""
    port = free_port()
    workdir = e2e.tmp / "redis"
    workdir.mkdir()
    args = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    proc = e2e.procs.spawn(args, workdir, workdir / "stdout.log", workdir / "stderr.log", grace=2.0)

    def pong() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for(pong, 10.0, f"redis-server on port {port}")
    return proc, port


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` (VmRSS in /proc/<pid>/status), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match.group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (/proc/<pid>/stat fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flood(proxy: Proxy, n: int, seconds: float) -> tuple[int, int]:
    """``n`` INVITEs with unique Call-ID, From and To, from a scanner's User-Agent, over raw UDP,
    at most WINDOW unanswered at a time and for at most ``seconds``; each final response is
    ACKed (RFC 3261 §17.1.1.3). Returns (INVITEs sent, final responses received)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    local = f"{HOST}:{sock.getsockname()[1]}"
    run = secrets.token_hex(4)
    dest = (HOST, proxy.port)
    answered: set[int] = set()

    def head(method: str, i: int, to_tag: str = "") -> bytes:
        uri = f"sip:4420{i:08d}@{proxy.addr}"
        return (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local};branch=z9hG4bK-{run}-{i};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:9{i:08d}@{local}>;tag=f{run}{i}\r\n"
            f"To: <{uri}>{to_tag}\r\n"
            f"Call-ID: flood-{run}-{i}@{HOST}\r\n"
            f"CSeq: 1 {method}\r\n"
            + (f"Contact: <sip:9{i:08d}@{local}>\r\nUser-Agent: friendly-scanner\r\n" if method == "INVITE" else "")
            + "Content-Length: 0\r\n\r\n"
        ).encode()

    def drain() -> None:
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            text = data.decode("utf-8", "replace")
            call = re.search(rf"^Call-ID: flood-{run}-(\d+)@", text, re.M | re.I)
            status = re.match(r"SIP/2\.0 (\d{3}) ", text)
            if not call or not status or int(status.group(1)) < 200 or "INVITE" not in text.split("CSeq:", 1)[-1][:30]:
                continue
            i = int(call.group(1))
            answered.add(i)
            tag = re.search(r"^To:.*?(;tag=[^;\s>]+)", text, re.M | re.I)
            sock.sendto(head("ACK", i, tag.group(1) if tag else ""), dest)

    sent = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and (sent < n or len(answered) < sent):
            while sent < n and sent - len(answered) < WINDOW:
                sock.sendto(head("INVITE", sent), dest)
                sent += 1
            select.select([sock], [], [], 0.05)
            drain()
    finally:
        sock.close()
    return sent, len(answered)


def test_redis_down_and_a_flood_of_unique_callers(e2e: Harness) -> None:
    redis, redis_port = start_redis(e2e)
    uas = e2e.uas("uas_headers.xml", timeout=60)
    # One process: this measures the memory and CPU of the proxy's process.
    proxy = e2e.proxy(
        [f"sip:{uas.addr}"],
        extra=["--detect", "--redis-url", f"redis://{HOST}:{redis_port}", "--workers", "1"],
        ready_timeout=30,
    )
    redis.send_signal(signal.SIGKILL)
    redis.wait(5)
    pid = proxy.proc.pid
    before = rss_mb(pid)

    started = time.monotonic()
    sent, answered = flood(proxy, FLOOD, seconds=30.0)
    took = time.monotonic() - started
    after = rss_mb(pid)
    time.sleep(0.5)  # the flood's last transactions settle (answered and ACKed already)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(IDLE_SECONDS)  # measuring, not waiting for a condition
    idle = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)

    uac = e2e.uac("uac_call.xml", proxy, calls=LEGIT, rate=10, trace_msg=False, timeout=30)
    why = sipp_failure(uac, uas)
    print(
        f"\nstore outage: {sent} INVITEs sent, {answered} answered in {took:.1f} s; RSS {before:.0f} -> {after:.0f} MB;"
        f" idle CPU {idle:.0%}; legit calls {uac.stat('SuccessfulCall(C)')}/{LEGIT}"
    )
    assert sent == FLOOD and answered >= 0.99 * FLOOD, f"{sent} sent, {answered} answered in {took:.1f} s"
    assert after - before < RSS_GROWTH_MB, f"RSS {before:.0f} -> {after:.0f} MB after {sent} unique INVITEs"
    assert idle < IDLE_CPU, f"{idle:.0%} CPU while idle with Redis down"
    assert uac.stat("SuccessfulCall(C)") == LEGIT, why
    assert uac.stat("FailedCall(C)") == 0, why
    uas.settle(LEGIT)
    # The PBX's OPTIONS probes were answered in time all along: the event loop was never starved.
    assert not [r for r in proxy.records() if r.get("msg") == "upstream down"], "the only PBX was marked down"
    invites = uas.received("INVITE ")
    assert len(invites) == LEGIT, why
    for invite in invites:  # decided with this node's counts alone, and saying so
        assert "store-unavailable" in ",".join(header_values(invite, "X-Antibot-Reasons")), invite
