"""Scenarios 3 and 4: Redis killed or stopped, PBXs killed or deaf to OPTIONS, while calls flow."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.peers import Sipp, header_values
from tests.e2e.procs import HOST, free_port, stop_process, wait_for

from .attack import sip_request
from .common import Durations, with_calls
from .rig import Result, Rig, redis_command, udp_request


def _src_invites(addr: str) -> int:
    """The legitimate caller's INVITEs in Redis's 1 h counters."""
    from .resp import pipeline, scan_ttls

    keys = list(scan_ttls(addr, "ab:{src:127.0.0.1}:inv:1h:*"))
    return sum(int(v or 0) for v in pipeline(addr, [["GET", k] for k in keys])) if keys else 0


def _try(fn: object, default: object = None) -> object:
    try:
        return fn()  # type: ignore[operator]
    except (OSError, ValueError):
        return default


def _store_unavailable(pbx: Sipp) -> int:
    return sum(
        "store-unavailable" in ",".join(header_values(inv, "X-Antibot-Reasons")) for inv in pbx.received("INVITE ")
    )


def _recovery(rig: Rig, addr: str, result: Result, back: float, counted: int) -> None:
    """After Redis is back at ``back``: when /readyz answers 200 and the counters move again."""
    ready = counting = None
    deadline = back + 30
    while time.monotonic() < deadline and (ready is None or counting is None):
        if ready is None and rig.get("/readyz", timeout=1.0)[0] == 200:
            ready = time.monotonic() - back
        if counting is None and int(_try(lambda: _src_invites(addr), 0) or 0) > counted:  # type: ignore[call-overload]
            counting = time.monotonic() - back
        time.sleep(0.1)
    result.figures["readyz 200 again after s"] = None if ready is None else round(ready, 2)
    result.figures["counters moving again after s"] = None if counting is None else round(counting, 2)
    result.check("/readyz recovers within 5 s", ready is not None and ready <= 5)
    result.check("counters resume within 5 s", counting is not None and counting <= 5)


def redis_faults(work: Path, d: Durations, only: str = "") -> list[Result]:
    out: list[Result] = []
    if not only or "redis-kill".startswith(only) or only.startswith("redis-kill"):

        def kill(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            addr = rig.redis_addr
            assert addr is not None
            redis_command(addr, "CONFIG", "SET", "appendfsync", "always")
            first = int(str(redis_command(addr, "INFO", "server")).split("process_id:")[1].split()[0])
            before = _src_invites(addr)
            os.kill(first, signal.SIGKILL)
            t0 = time.monotonic()
            second = wait_for(lambda: (p := _pid(addr)) not in (None, first) and p, 30.0, "a new redis-server")
            back = time.monotonic()
            after = _src_invites(addr)
            result.figures.update(
                {
                    "counter before kill": before,
                    "counter after restart": after,
                    "restarted after s": round(back - t0, 2),
                    "new pid": second,
                }
            )
            result.check("counters come back from the AOF", after >= before > 0)
            _recovery(rig, addr, result, back, after)
            time.sleep(max(0.0, d.fault - (time.monotonic() - t0)))
            result.figures["INVITEs marked store-unavailable"] = _store_unavailable(pbxs[0])

        r = with_calls(work, "redis-kill", "embedded redis-server SIGKILLed", d, kill, pbx_trace=True)
        out.append(r)
    if not only or "redis-stop".startswith(only) or only.startswith("redis-stop"):
        port = free_port()
        rdir = work / "redis-stop-server"
        rdir.mkdir(parents=True, exist_ok=True)
        redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(rdir),
            ],
            cwd=rdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: _try(lambda: redis_command(f"{HOST}:{port}", "PING")) == "PONG", 10.0, "redis-server")

            def stop(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
                addr = f"{HOST}:{port}"
                redis.send_signal(signal.SIGSTOP)
                t0 = time.monotonic()
                seen: set[int] = set()
                while time.monotonic() - t0 < d.outage:
                    t = time.monotonic()
                    status = rig.get("/readyz", timeout=4.0)[0]
                    seen.add(status)
                    result.figures["/readyz slowest answer s"] = max(
                        result.figures.get("/readyz slowest answer s", 0), round(time.monotonic() - t, 2)
                    )
                    time.sleep(0.3)
                redis.send_signal(signal.SIGCONT)
                back = time.monotonic()
                counted = int(_try(lambda: _src_invites(addr), 0) or 0)  # type: ignore[call-overload]
                result.figures["/readyz during the outage"] = sorted(seen)
                result.check("/readyz reports the outage", any(s != 200 for s in seen))
                result.check(
                    "/readyz answers within 2 s (503 while stopped)",
                    0 not in seen and result.figures.get("/readyz slowest answer s", 0) <= 2,
                )
                _recovery(rig, addr, result, back, counted)
                result.figures["call log dropped"] = rig.metric("antibot_calllog_dropped")
                time.sleep(2.0)
                result.figures["INVITEs marked store-unavailable"] = n = _store_unavailable(pbxs[0])
                result.check("calls during the outage marked store-unavailable", n > 0)

            r = with_calls(
                work,
                "redis-stop",
                f"external Redis stopped (SIGSTOP) for {d.outage:g} s",
                d,
                stop,
                pbx_trace=True,
                proxy={"redis_url": f"redis://{HOST}:{port}"},
                fault_seconds=d.outage + 5,
            )
            out.append(r)
        finally:
            redis.send_signal(signal.SIGCONT)
            stop_process(redis, 3.0)
    for r in out:
        r.check("0 legit calls lost", r.placed > 0 and r.completed == r.placed)
    return out


def _pid(addr: str) -> int | None:
    try:
        if redis_command(addr, "PING") != "PONG":
            return None
        return int(str(redis_command(addr, "INFO", "server")).split("process_id:")[1].split()[0])
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------- PBX faults
def raw_invite(port: int, n: int, timeout: float = 8.0) -> str:
    """One INVITE from 127.0.0.9 (a softphone's User-Agent): its final status line and Retry-After."""
    src = ("127.0.0.9", 0)
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(src)
        local = probe.getsockname()
    msg = sip_request("INVITE", port, local, n, ua="Zoiper rv2.10.19.6")
    reply = udp_request(port, msg, src=local, timeout=timeout)
    if reply is None:
        return "no answer"
    head = reply.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    retry = [h for h in head if h.lower().startswith("retry-after")]
    return head[0] + (f" ({retry[0]})" if retry else " (no Retry-After)")


def pbx_faults(work: Path, d: Durations, only: str = "") -> list[Result]:
    out: list[Result] = []
    settings = {"failover_timeout": 2.0, "probe_interval": 5.0, "probe_timeout": 2.0}

    def want(name: str) -> bool:
        return not only or name.startswith(only) or only == "pbx"

    if want("pbx-failover"):

        def failover(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            time.sleep(d.fault / 3)
            first, second = pbxs
            base = _invites(second)
            first.proc.kill()
            t0 = time.monotonic()
            got = _try(lambda: wait_for(lambda: _invites(second) > base, 15.0, "an INVITE at the second PBX", 0.02))
            result.figures["first INVITE at PBX 2 after s"] = round(time.monotonic() - t0, 2) if got else None
            down = rig.log("upstream down")
            result.figures["'upstream down' logged"] = len(down)
            result.figures["failover_timeout s"] = settings["failover_timeout"]
            time.sleep(max(0.0, d.fault * 2 / 3 - (time.monotonic() - t0)))

        r = with_calls(
            work,
            "pbx-failover",
            "first of two PBXs SIGKILLed",
            d,
            failover,
            pbx_scenarios=("uas_answer.xml", "uas_answer.xml"),
            pbx_trace=True,
            proxy={"settings": settings},
            calls_target=False,
        )
        lost = r.placed - r.completed
        r.figures["calls lost"] = lost
        r.check(
            "failover within the configured timeout (+1 s)",
            (r.figures.get("first INVITE at PBX 2 after s") or 99) <= settings["failover_timeout"] + 1,
        )
        r.check(
            "<= 1 call lost per in-flight INVITE (20 calls/s x failover_timeout)",
            r.placed > 0 and lost <= 20 * settings["failover_timeout"],
        )
        out.append(r)
    if want("pbx-both-down"):

        def both(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            assert rig.proxy is not None
            for pbx in pbxs:
                pbx.proc.kill()
            time.sleep(settings["failover_timeout"] * 2 + 1)
            answers, waits = [], []
            for n in range(3):
                t = time.monotonic()
                answer = raw_invite(rig.proxy.port, n)
                waits.append(time.monotonic() - t)
                answers.append(f"{answer} in {waits[-1]:.2f} s")
            result.figures["raw INVITEs answered"] = answers
            result.check(
                "callers get 503 with Retry-After",
                all(a.startswith("SIP/2.0 503") and "no Retry-After" not in a for a in answers),
            )
            result.check(
                "503 at once, not after failover_timeout per PBX (upstream_fail_fast)",
                max(waits) < settings["failover_timeout"],
            )
            time.sleep(max(0.0, d.fault - settings["failover_timeout"] * 2 - 1))

        r = with_calls(
            work,
            "pbx-both-down",
            "both PBXs SIGKILLed",
            d,
            both,
            pbx_scenarios=("uas_answer.xml", "uas_answer.xml"),
            proxy={"settings": settings},
            calls_target=False,
        )
        out.append(r)
    if want("pbx-no-options"):
        quick = {"failover_timeout": 2.0, "probe_interval": 1.0, "probe_timeout": 0.5}

        def deaf(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            time.sleep(d.fault)
            result.figures["'upstream down' logged"] = len(rig.log("upstream down"))

        r = with_calls(
            work,
            "pbx-no-options",
            "a PBX answering INVITE but not OPTIONS (probes every 1 s)",
            d,
            deaf,
            pbx_scenarios=("uas_no_options.xml",),
            pbx_auto_answer=False,
            proxy={"settings": quick},
        )
        out.append(r)
    return out


def _invites(pbx: Sipp) -> int:
    return sum(1 for line in pbx.messages().splitlines() if line.startswith("INVITE "))
