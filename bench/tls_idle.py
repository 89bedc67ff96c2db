#!/usr/bin/env python3
"""Idle TLS connections and unfinished handshakes against one proxy process: what they cost.

Starts ``antibot run`` (one worker, detection on with the embedded Redis, a TLS listener with a
test certificate made by ``openssl``), then

1. opens ``--idle`` TLS connections (handshake done, then silent) from 127.0.0.2 and up, at most
   50 per address (the per-source cap is 64), and reports the proxy's RSS before and with them;
2. opens ``--stalled`` TCP connections that never start their handshake and reports how many
   the proxy closed, and when, against its ``--tls-handshake-timeout``.

    .venv/bin/python bench/tls_idle.py                       # 1,000 idle, 200 stalled, ~30 s
"""

from __future__ import annotations

import argparse
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.tlscerts import make_certs  # noqa: E402

PER_SOURCE = 50


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the proxy did not listen on {port}")


def source(k: int) -> str:
    return f"127.0.0.{2 + k // PER_SOURCE}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--stalled", type=int, default=200)
    ap.add_argument("--handshake-timeout", type=float, default=3.0)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    with tempfile.TemporaryDirectory(prefix="tls-idle-") as tmp:
        work = Path(tmp)
        certs = make_certs(work)
        port = free_port()
        cfg = work / "antibot.toml"
        cfg.write_text("[proxy]\ntcp_max_per_source = 64\ntcp_max_connections = 8192\n")
        cmd = [sys.executable, "-m", "antibot", "run", "--config", str(cfg), "--workers", "1", "--no-api"]
        cmd += ["--listen", f"tls:127.0.0.1:{port}", "--upstream", "sip:127.0.0.1:9", "--data-dir", str(work / "d")]
        cmd += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
        cmd += ["--tls-handshake-timeout", f"{args.handshake_timeout:g}", "--log-level", "warning"]
        proxy = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=(work / "proxy.log").open("w"))
        try:
            wait_listening(port, time.monotonic() + 30.0)
            time.sleep(1.0)
            before = rss_mb(proxy.pid)
            ctx = ssl.create_default_context(cafile=str(certs.ca))
            idle: list[ssl.SSLSocket] = []
            failed = 0
            for k in range(args.idle):
                raw = socket.socket()
                raw.bind((source(k), 0))
                try:
                    raw.connect(("127.0.0.1", port))
                    idle.append(ctx.wrap_socket(raw, server_hostname="127.0.0.1"))
                except OSError:
                    failed += 1
                    raw.close()
            time.sleep(2.0)
            with_idle = rss_mb(proxy.pid)
            print(f"idle TLS connections: {len(idle)} open ({failed} refused)")
            print(f"proxy RSS: {before:.0f} MB before, {with_idle:.0f} MB with them: {with_idle - before:+.0f} MB")
            stalled = []
            for k in range(args.stalled):
                s = socket.socket()
                s.bind((f"127.0.1.{2 + k // PER_SOURCE}", 0))
                s.connect(("127.0.0.1", port))
                stalled.append(s)
            opened = time.monotonic()
            closed_at: dict[int, float] = {}
            sel = selectors.DefaultSelector()  # epoll: descriptors past 1024
            for s in stalled:
                sel.register(s, selectors.EVENT_READ)
            while len(closed_at) < len(stalled) and time.monotonic() - opened < args.handshake_timeout + 10.0:
                for key, _ in sel.select(0.2):
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    if conn.recv(1024) == b"":
                        closed_at[conn.fileno()] = time.monotonic() - opened
                        sel.unregister(conn)
            worst = max(closed_at.values(), default=float("nan"))
            print(
                f"stalled handshakes: {len(closed_at)} of {len(stalled)} closed by the proxy, the last "
                f"{worst:.1f} s after connecting (handshake timeout {args.handshake_timeout:g} s)"
            )
            print(f"proxy RSS after: {rss_mb(proxy.pid):.0f} MB")
            for s in stalled:
                s.close()
            for t in idle:
                t.close()
        finally:
            proxy.terminate()
            proxy.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
