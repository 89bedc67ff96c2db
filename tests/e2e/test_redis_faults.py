"""The embedded Redis dies mid-run (SIGKILL): calls go on, Redis comes back with its data, the API recovers."""

from __future__ import annotations

import json
import os
import secrets
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ..store.resp import Resp
from .harness import Harness
from .peers import Proxy, sipp_failure
from .procs import HOST, free_port, wait_for

pytestmark = pytest.mark.e2e

CALLS = 20


def _redis(proxy: Proxy) -> Path:
    """The embedded Redis's socket (``data_dir`` defaults to ``antibot-data`` in the proxy's directory)."""
    return proxy.log_path.parent / "antibot-data" / "redis.sock"


def _pid(sock: Path) -> int | None:
    """The pid of the Redis answering PING on ``sock``, or None."""
    try:
        client = Resp(str(sock), timeout=1.0)
    except OSError:
        return None
    try:
        if client("PING") != "PONG":
            return None
        return int(client("INFO", "server").split("process_id:")[1].split()[0])
    except Exception:  # noqa: BLE001 - down, or still loading
        return None
    finally:
        client.close()


def _src_invites(sock: Path) -> int:
    """This source's INVITEs in Redis's 1 h counters (every node's synced counts)."""
    client = Resp(str(sock))
    try:
        return sum(int(client("GET", key) or 0) for key in client.scan("ab:{src:127.0.0.1}:inv:1h:*"))
    finally:
        client.close()


def _get(base: str, path: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2.0) as reply:
            return int(reply.status), reply.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), ""
    except OSError:
        return 0, ""


def _readyz(base: str, token: str) -> int:
    return _get(base, "/readyz", token)[0]


def test_redis_killed_mid_run_is_restarted_and_nothing_is_lost(e2e: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("ANTIBOT_API_TOKEN", token)
    api_port = free_port()
    base = f"http://{HOST}:{api_port}"
    uas = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--api-listen", f"{HOST}:{api_port}"])
    sock = _redis(proxy)
    first = _pid(sock)
    assert first is not None
    admin = Resp(str(sock))
    admin("CONFIG", "SET", "appendfsync", "always")  # what Redis acknowledged is on disk when killed
    admin("SET", "marker", "kept")
    admin.close()
    assert _readyz(base, token) == 200

    caller = e2e.sipp("caller", "uac_call.xml", remote=proxy.addr, calls=CALLS, rate=4)
    wait_for(lambda: _src_invites(sock) >= 5, 10.0, "five INVITEs counted in Redis")
    counted = _src_invites(sock)
    os.kill(first, signal.SIGKILL)

    second = wait_for(lambda: (pid := _pid(sock)) not in (None, first) and pid, 10.0, "a new redis-server")
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # reaped: no <defunct> left behind
    caller.wait()
    why = sipp_failure(caller, uas)
    assert caller.stat("SuccessfulCall(C)") == CALLS, why  # every call completed, outage or not
    assert caller.stat("FailedCall(C)") == 0, why

    check = Resp(str(sock))
    assert check("GET", "marker") == "kept"  # the AOF was read back
    check.close()
    assert _src_invites(sock) >= counted
    wait_for(lambda: _src_invites(sock) >= CALLS, 10.0, f"all {CALLS} INVITEs in Redis's counters again")
    wait_for(lambda: _readyz(base, token) == 200, 10.0, "the admin API's /readyz to recover")
    restarted = [r for r in proxy.records() if r.get("msg") == "embedded redis restarted"]
    assert len(restarted) == 1 and restarted[0].get("pid") == second, json.dumps(proxy.records()[-10:])
    assert _pid(sock) == second  # not restarted again
    status, metrics = _get(base, "/metrics", token)
    assert status == 200 and "antibot_redis_restarts_total 1.0" in metrics, metrics
