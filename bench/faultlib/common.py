"""Durations, and the shape every scenario shares: rig up, calls flowing, fault, settle, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.harness import _listening
from tests.e2e.peers import Sipp
from tests.e2e.procs import wait_for

from .rig import Result, Rig, wait_caller

RSS_LIMIT_MB = 300.0
COMPLETED_TARGET = 0.999


@dataclass(frozen=True)
class Durations:
    """Seconds: calm before the fault, each fault, the Redis outage, settle after; memory-bound flood size."""

    before: float
    fault: float
    outage: float
    after: float
    memory_invites: int
    restart_invites: int
    drain_timeout: float


FULL = Durations(
    before=3, fault=30, outage=10, after=5, memory_invites=200_000, restart_invites=100_000, drain_timeout=10
)
SHORT = Durations(before=1.5, fault=4, outage=3, after=2, memory_invites=6_000, restart_invites=3_000, drain_timeout=3)


#: ``bench/faults.py --pbx-trace``: every PBX keeps sipp's message trace (with ``--keep``).
PBX_TRACE = False


def pbx_plain(rig: Rig, scenario: str, label: str, trace_msg: bool = False) -> Sipp:
    """A sipp PBX without -aa (so OPTIONS are left to the scenario), bound and ready."""
    pbx = rig.h.sipp(label, scenario, timeout=900, trace_msg=trace_msg)
    wait_for(lambda: _listening(pbx, "udp"), 10.0, f"sipp {label} to bind")
    return pbx


def with_calls(
    work: Path,
    name: str,
    title: str,
    d: Durations,
    fault: Callable[[Rig, Result, list[Sipp]], None],
    *,
    pbx_scenarios: tuple[str, ...] = ("uas_answer.xml",),
    pbx_trace: bool = False,
    pbx_auto_answer: bool = True,
    proxy: dict[str, Any] | None = None,
    fault_seconds: float | None = None,
    calls_target: bool = True,
    rss_target: bool = True,
) -> Result:
    """Rig up, place legitimate calls throughout, run ``fault`` (it returns when the fault is over),
    let the calls settle and fill the result; the targets are checked unless switched off."""
    result = Result(name, title)
    rig = Rig(work / name)
    pbx_trace = pbx_trace or PBX_TRACE
    try:
        pbxs = [
            rig.pbx(s, label=f"pbx{i + 1}", trace_msg=pbx_trace)
            if pbx_auto_answer
            else pbx_plain(rig, s, f"pbx{i + 1}", pbx_trace)
            for i, s in enumerate(pbx_scenarios)
        ]
        upstreams = [f"sip:{p.addr}" + (f";priority={i + 1}" if i else "") for i, p in enumerate(pbxs)]
        rig.start_proxy(upstreams, **(proxy or {}))
        rig.start_sampling()
        time.sleep(1.0)
        seconds = d.before + (fault_seconds if fault_seconds is not None else d.fault) + d.after
        caller = rig.caller(seconds)
        time.sleep(d.before)
        rig.phase = "during"
        t0 = time.monotonic()
        fault(rig, result, pbxs)
        result.figures.setdefault("fault_s", round(time.monotonic() - t0, 1))
        rig.phase = "after"
        result.figures["caller_exit"] = wait_caller(caller, seconds)
        time.sleep(1.0)
        assert rig.proxy is not None
        alive = rig.proxy.proc.poll() is None
        rig.finish(result, caller)
        if calls_target:
            result.check(f"legit calls completed >= {COMPLETED_TARGET:.1%}", result.completed_ratio >= COMPLETED_TARGET)
            result.check("proxy alive", alive)
        if rss_target:
            peak = result.resources["rss_mb"]["peak"]
            result.check(f"proxy RSS < {RSS_LIMIT_MB:.0f} MB", peak is not None and peak < RSS_LIMIT_MB)
    except Exception as exc:  # noqa: BLE001 - a scenario that breaks is reported, the bench goes on
        result.check(f"scenario ran ({type(exc).__name__}: {str(exc)[:300]})", False)
        rig.stop_sampling()
        result.samples = list(rig.samples)
    finally:
        rig.close()
    return result
