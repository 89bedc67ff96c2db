"""Memory under a scanner storm: unique INVITEs at a fixed rate, the proxy's RSS before, at the peak and after.

    .venv/bin/python bench/storm.py --rate 2000 --seconds 30 [--repo PATH] [--idle 40]

The proxy runs as in ``bench/run.py`` (detection on, enforce mode, embedded Redis, a sipp PBX
answering 200). Every INVITE has its own Call-ID, caller, callee and source port; half carry a
scanner User-Agent (deny list), half a softphone's (scored by the model). The report gives RSS
before the storm, its peak, and after ``--idle`` seconds of quiet (past Timer H, 32 s), plus the
proxy's tables when it stops. ``--repo`` measures another checkout (e.g. a ``git worktree`` of an
older commit) with this venv.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.procs import HOST, Proxy, free_udp_port, rss_kb  # noqa: E402
from benchlib.sipp import Uas  # noqa: E402

UAS = ("friendly-scanner", "Zoiper rv2.10.19.6")


def invite(n: int, port: int, proxy_port: int) -> bytes:
    ua = UAS[n % 2]
    caller, callee = random.randrange(10**9, 10**10), random.randrange(10**9, 10**10)
    return (
        f"INVITE sip:{callee}@{HOST}:{proxy_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-storm{n};rport\r\nMax-Forwards: 70\r\n"
        f"From: <sip:{caller}@{HOST}>;tag=s{n}\r\nTo: <sip:{callee}@{HOST}>\r\n"
        f"Call-ID: storm-{n}-{random.getrandbits(48):x}@{HOST}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:{caller}@{HOST}:{port}>\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--idle", type=float, default=40.0)
    ap.add_argument("--sockets", type=int, default=64, help="source ports the storm comes from")
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    repo = args.repo.resolve()
    os.environ["PYTHONPATH"] = str(repo)  # the checkout under test, whatever the venv's editable install says
    work = Path(__file__).resolve().parent / "work" / f"storm-{int(time.time())}"
    uas = Uas(work / "uas", free_udp_port())
    uas.start()
    proxy = Proxy("antibot", work / "proxy", free_udp_port(), uas.port, Path(__file__).resolve().parents[1])
    proxy.start()
    time.sleep(2.0)  # start-up settles (model load, Redis)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(args.sockets)]
    for s in socks:
        s.bind((HOST, 0))
        s.setblocking(False)
    ports = [s.getsockname()[1] for s in socks]
    before = rss_kb(proxy.pid) or 0
    peak = before
    sent = 0
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < args.seconds:
        due = int(elapsed * args.rate)
        while sent < due:
            i = sent % len(socks)
            socks[i].sendto(invite(sent, ports[i], proxy.port), (HOST, proxy.port))
            sent += 1
        for s in socks:  # drain replies so our buffers never block
            try:
                while s.recv(65535):
                    pass
            except BlockingIOError:
                pass
        peak = max(peak, rss_kb(proxy.pid) or 0)
        time.sleep(0.005)
    end_storm = rss_kb(proxy.pid) or 0
    t1 = time.monotonic()
    while time.monotonic() - t1 < args.idle:
        peak = max(peak, rss_kb(proxy.pid) or 0)
        time.sleep(0.5)
    after = rss_kb(proxy.pid) or 0
    alive = proxy.alive()
    proxy.stop()
    uas.collect()
    result = {
        "repo": str(repo),
        "rate": args.rate,
        "seconds": args.seconds,
        "invites_sent": sent,
        "rss_mb": {
            "before": round(before / 1024, 1),
            "peak": round(peak / 1024, 1),
            "end_of_storm": round(end_storm / 1024, 1),
            f"after_{args.idle:g}s_idle": round(after / 1024, 1),
        },
        "proxy_alive": alive,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
