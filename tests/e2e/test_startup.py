"""``antibot run`` start-up, as an operator meets it: busy addresses are refused before anything
starts (no Redis, no data directory, no token), the configured reject phrase is the one sent on
both decision paths, and ``--log-level`` filters what it says."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import REPO
from .peers import Proxy
from .procs import HOST, Processes, free_port, wait_for

pytestmark = pytest.mark.e2e


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTIBOT_API_TOKEN")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return env


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "antibot", "run", "--upstream", "sip:127.0.0.1:9", "--data-dir", str(tmp / "data")]
    return subprocess.run(cmd + list(args), cwd=tmp, env=_env(), capture_output=True, text=True, timeout=30)


def _assert_nothing_started(tmp: Path, stderr: str) -> None:
    assert "admin API token" not in stderr
    assert not (tmp / "data").exists(), "the data directory (embedded Redis, route key) was created"
    assert "redis" not in stderr.lower() and "Traceback" not in stderr


def test_a_busy_api_port_is_refused_before_redis_starts_or_a_token_is_printed(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen(1)
        api = taken.getsockname()[1]
        run = _run(tmp_path, "--listen", f"udp:{HOST}:{free_port()}", "--api-listen", f"{HOST}:{api}")
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"antibot: config error: cannot listen on api {HOST}:{api}: Address already in use" in run.stderr
    _assert_nothing_started(tmp_path, run.stderr)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_busy_sip_port_is_refused_before_redis_starts(tmp_path: Path, transport: str) -> None:
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind((HOST, 0))
        if transport == "tcp":
            taken.listen(1)
        port = taken.getsockname()[1]
        free = free_port()
        # the busy address is the second SIP listener: the first was bound, then released
        run = _run(tmp_path, "--listen", f"udp:{HOST}:{free}", "--listen", f"{transport}:{HOST}:{port}")
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"config error: cannot listen on {transport}:{HOST}:{port}: Address already in use" in run.stderr
    _assert_nothing_started(tmp_path, run.stderr)


def _start(procs: Processes, tmp: Path, config: str, *args: str) -> Proxy:
    port = free_port()
    (tmp / "antibot.toml").write_text(
        config + '[[upstream]]\nuri = "sip:127.0.0.1:9"\n[proxy]\nshutdown_timeout = 1.0\n'
    )
    cmd = [sys.executable, "-m", "antibot", "run", "--config", str(tmp / "antibot.toml"), "--no-api"]
    cmd += ["--listen", f"udp:{HOST}:{port}", "--data-dir", str(tmp / "data"), *args]
    log = tmp / "antibot.log"
    procs.artifacts.append(("proxy log", log))
    proxy = Proxy(port, procs.spawn(cmd, tmp, tmp / "stdout.log", log, grace=6.0, env=_env()), log)

    def ready() -> bool:
        assert proxy.proc.poll() is None, log.read_text()[-3000:]
        return proxy.ping()

    wait_for(ready, 20.0, "antibot to answer OPTIONS")
    return proxy


def _scanner_invite(proxy: Proxy) -> str:
    """One INVITE from a deny-listed User-Agent; the status line of the final answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(5.0)
        me = sock.getsockname()[1]
        sock.sendto(
            (
                f"INVITE sip:100@{proxy.addr} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{me};branch=z9hG4bK-startup-{me};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:bot@{HOST}>;tag=s{me}\r\nTo: <sip:100@{HOST}>\r\n"
                f"Call-ID: startup-{me}@{HOST}\r\nCSeq: 1 INVITE\r\nContact: <sip:bot@{HOST}:{me}>\r\n"
                "User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            (HOST, proxy.port),
        )
        while True:
            line = sock.recv(65535).decode().split("\r\n", 1)[0]
            if not line.startswith("SIP/2.0 1"):
                return line


@pytest.mark.parametrize("detect", [True, False], ids=["detection", "no-detect"])
def test_reject_phrase_is_honoured_on_both_decision_paths(tmp_path: Path, detect: bool) -> None:
    procs = Processes()
    try:
        proxy = _start(procs, tmp_path, '[rules]\nreject_phrase = "Go Away"\n', *([] if detect else ["--no-detect"]))
        assert _scanner_invite(proxy) == "SIP/2.0 603 Go Away"
    finally:
        procs.stop_all()


@pytest.mark.parametrize("level", ["warning", "debug"])
def test_log_levels_mean_what_they_say(tmp_path: Path, level: str) -> None:
    """warning: no info line at all; debug: the debug lines too (the proxy logs each listener,
    and at debug the per-request detail)."""
    procs = Processes()
    try:
        proxy = _start(procs, tmp_path, "", "--no-detect", "--log-level", level)
        _scanner_invite(proxy)
        proxy.proc.terminate()
        assert proxy.proc.wait(10) == 0
    finally:
        procs.stop_all()
    levels = {str(r.get("level")) for r in proxy.records()}
    if level == "warning":
        assert levels <= {"warning", "error", "critical"}, levels
    else:
        assert {"debug", "info"} <= levels, levels


def test_an_insecure_api_address_is_refused_before_redis_starts(tmp_path: Path) -> None:
    """A non-loopback API without a configured token: refused before anything starts."""
    run = _run(tmp_path, "--listen", f"udp:{HOST}:{free_port()}", "--api-listen", f"0.0.0.0:{free_port()}")
    assert run.returncode == 2, run.stderr[-2000:]
    assert "antibot: config error: admin API: refusing to serve the admin API on 0.0.0.0 without a token" in run.stderr
    _assert_nothing_started(tmp_path, run.stderr)
