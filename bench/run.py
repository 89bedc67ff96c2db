#!/usr/bin/env python3
"""antibot vs Kamailio, same setup: sipp caller (UDP) -> proxy -> sipp PBX (UAS), all on 127.0.0.1.

Measures, for each proxy (antibot with one worker, antibot with N workers, Kamailio): CPU per
completed call at a fixed rate, the highest sustained call rate with < 0.1% failed calls (and the
CPU per call at 500 calls/s on the way up), the INVITE forwarding latency (kernel timestamps on lo, plus sipp's own
-trace_msg timestamps with a direct caller->PBX baseline), and whether a 500 calls/s run completes
every call. The ``tls`` phase measures the CPU per call with the caller over TLS (sipp over TCP
into socat, which carries it over TLS to the proxy's TLS port; the PBX side stays UDP), in
rounds, proxies interleaved. Writes bench/results/<UTC timestamp>.json, latest.json and
latest.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import procs, report, sipp, tlsbridge, wire
from benchlib.summary import FAIL_RATIO, MIN_ACHIEVED, judge, summarize, tls_comparison

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
WORK = BENCH / "work"


@dataclass
class Profile:
    cpu_rate: int = 200
    cpu_calls: int = 6000
    warmup_calls: int = 300
    idle_s: float = 2.0
    settle_s: float = 6.0
    latency_rate: int = 100
    latency_calls: int = 2000
    latency_warmup: int = 100
    target_rate: int = 500
    target_calls: int = 5000
    ladder: list[int] = field(default_factory=lambda: [100, 200, 300, 500, 700, 1000, 1500, 2000, 3000])
    step_s: float = 8.0
    retry_failed_step: bool = True
    harness_check: bool = True
    tls_rounds: int = 3  # the tls phase: rounds of the CPU run (cpu_rate x cpu_calls) over TLS


QUICK = Profile(
    cpu_calls=300,
    warmup_calls=50,
    idle_s=0.5,
    settle_s=1.0,
    latency_calls=150,
    latency_warmup=30,
    target_calls=1000,
    ladder=[250, 500, 1000],
    step_s=1.2,
    retry_failed_step=False,
    harness_check=False,
    tls_rounds=1,
)
PHASES = ("cpu", "latency", "target", "ladder", "tls")
DEFAULT_PHASES = PHASES[:4]  # tls on request: it needs socat and Kamailio's tls module


class Bench:
    """Runs one measured sipp run at a time, each against a freshly started proxy."""

    def __init__(self, work: Path, wire_ok: bool) -> None:
        self.work, self.wire_ok = work, wire_ok
        self.count = 0
        self.live: list[procs.Proxy] = []
        self.pending: list[tuple[dict[str, Any], sipp.Uas]] = []
        self.certs: tlsbridge.Certs | None = None  # made on the first TLS run

    def tls_listener(self, port: int) -> procs.TlsListener:
        """A TLS listener on ``port`` with the run's certificate (made once, with Kamailio's tls.cfg)."""
        if self.certs is None:
            self.certs = tlsbridge.make_certs(self.work / "certs")
            (self.work / "certs/kamailio-tls.cfg").write_text(tlsbridge.kamailio_tls_cfg(self.certs))
        certs = self.certs
        return procs.TlsListener(port, certs.cert, certs.key, self.work / "certs/kamailio-tls.cfg", certs.ca)

    def run(self, kind: str, label: str, rate: int, calls: int, **kw: Any) -> dict[str, Any]:
        """One measured run; repeated (up to twice more) if something outside the benchmark stopped
        one of its processes (other sessions on this box run broad kills; see README)."""
        discarded: list[dict[str, Any]] = []
        for _ in range(3):
            res = self._once(kind, label, rate, calls, **kw)
            if not res["interference"]:
                break
            print(f"    outside interference, run repeated: {'; '.join(res['interference'])}", flush=True)
            discarded.append({"workdir": res["workdir"], "interference": res["interference"]})
        res["discarded_attempts"] = discarded
        return res

    def _once(
        self,
        kind: str,
        label: str,
        rate: int,
        calls: int,
        *,
        warmup: int = 0,
        idle: float = 0.0,
        settle: float = 0.0,
        trace: bool = False,
        sniff: bool = False,
        tls: bool = False,
    ) -> dict[str, Any]:
        self.count += 1
        d = self.work / f"{self.count:02d}-{kind}-{label}"
        ports = _ports(4)
        uas_port, proxy_port, uac_port, warm_port = ports
        print(f"  [{time.strftime('%H:%M:%S')}] {kind:8} {label:10} {rate:5} cps x {calls:6} calls", flush=True)
        res: dict[str, Any] = {
            "proxy": kind,
            "label": label,
            "rate": rate,
            "calls": calls,
            "workdir": str(d.relative_to(REPO)),
            "loadavg": _loadavg(),
            "ports": {"uas": uas_port, "proxy": proxy_port, "uac": uac_port},
        }
        uas = sipp.Uas(d, uas_port, trace_msg=trace, lifetime_s=int(calls / rate + warmup / 100 + 120))
        uas.start()
        listener = self.tls_listener(procs.free_tcp_port()) if tls else None
        proxy = procs.Proxy(kind, d, proxy_port, uas_port, REPO, listener) if kind != "direct" else None
        bridge = None
        target, transport = uas_port, "u1"
        try:
            if proxy is not None:
                self.live.append(proxy)
                proxy.start()
                target = proxy_port
            if listener is not None:  # the caller: sipp over one TCP connection -> socat -> TLS
                assert self.certs is not None
                bridge = tlsbridge.Bridge(d, _free_tcp_port_but(listener.port), listener.port, self.certs.ca)
                bridge.start()
                target, transport = bridge.port, "t1"
                res["tls"] = {"port": listener.port, "bridge_port": bridge.port, "bridge_cmd": " ".join(bridge.cmd)}
            if warmup:
                w = sipp.run_uac(d, target, warm_port, 100, warmup, tag="warmup", transport=transport)
                res["warmup"] = {k: w[k] for k in ("calls", "outgoing", "successful", "not_successful", "failed")}
            if proxy is not None and idle:
                c0 = proxy.cpu()
                time.sleep(idle)
                res["idle_cpu_pct_of_core"] = round((proxy.cpu() - c0) / idle * 100, 2)
            cap = wire.WireCapture(proxy_port, uas_port) if (sniff and proxy is not None and self.wire_ok) else None
            if cap is not None:
                cap.start_and_wait()
            c0, r0 = proxy.cpu_split() if proxy is not None else (0.0, 0.0)
            h0, t0 = procs.host_cpu(), time.monotonic()
            uac = sipp.run_uac(d, target, uac_port, rate, calls, trace_msg=trace, transport=transport)
            h1, t_uac = procs.host_cpu(), time.monotonic() - t0
            c_mid = proxy.cpu() if proxy is not None else 0.0
            socks = procs.udp_sockets()
            res["udp_rcvbuf_drops"] = {"proxy": socks.get(proxy_port), "uas": socks.get(uas_port)}
            res["host_cpu_busy_pct"] = round(100 * (h1[0] - h0[0]) / max(1, h1[1] - h0[1]), 1)
            res["uac"] = uac
            if cap is not None:
                cap.stop()
                res["wire"] = cap.result()
                res["_wire_first"] = cap.first  # per-call stamps, compared with sipp's logs at collect time
            res["interference"] = interference(res, uas, proxy)
            if proxy is not None:
                res["proxy_alive_after_run"] = proxy.alive()
                if settle:
                    time.sleep(settle)
                (c1, r1), window = proxy.cpu_split(), time.monotonic() - t0
                ok = uac.get("successful") or 0
                res["cpu"] = {
                    "proxy_cpu_s": round(c1 - c0, 3),  # the whole process tree, redis-server included
                    "redis_cpu_s": round(r1 - r0, 3),  # of which antibot's embedded redis-server
                    "window_s": round(window, 2),
                    "uac_run_s": round(t_uac, 2),
                    "successful_calls": ok,
                    "us_per_call": round((c1 - c0) * 1e6 / ok, 1) if ok else None,
                    "redis_us_per_call": round((r1 - r0) * 1e6 / ok, 1) if ok else None,
                    "pct_of_core_during_calls": round(100 * (c_mid - c0) / t_uac, 1),
                }
                res["proxy_rss_kb"] = procs.rss_kb(proxy.pid)
        finally:
            if bridge is not None:
                bridge.stop()
                res["tls"]["negotiated"] = sorted(set(bridge.ciphers()))
            if proxy is not None:
                res["proxy_stop"] = proxy.stop()
                self.live.remove(proxy)
                res["proxy_log"] = procs.summarize_log(proxy.log_path)
            uas.request_stop()  # finishes its time-wait in the background; collected at the end
            self.pending.append((res, uas))
        return res

    def collect_all(self, grace: float) -> None:
        for res, uas in self.pending:
            res["uas"] = uas.collect(grace)
            first = res.pop("_wire_first", None)
            if res.pop("uas_trace_pending", False):
                res["sipp_trace"] = sipp_trace_latency(REPO / res["workdir"], first)
        self.pending.clear()

    def abort(self) -> None:
        for proxy in list(self.live):
            proxy.stop()
        for _, uas in self.pending:
            if uas.proc is not None:
                procs.stop_process(uas.proc, signal.SIGKILL, grace=1.0)


def interference(res: dict[str, Any], uas: sipp.Uas, proxy: procs.Proxy | None) -> list[str]:
    """Signs that a process of this run was stopped from outside, as opposed to failing by itself.

    sipp quits with status 0 on SIGTERM/SIGINT/SIGUSR1; antibot and Kamailio exit 0 only on
    SIGTERM/SIGINT. A real proxy crash (exception, SIGSEGV, OOM kill) exits non-zero.
    """
    why = []
    assert uas.proc is not None
    if uas.proc.poll() is not None:
        why.append(f"sipp UAS exited before the end of the run (status {uas.proc.returncode})")
    uac = res["uac"]
    if uac.get("outgoing", 0) < res["calls"] and uac.get("exit_code") == 0:
        why.append(f"sipp UAC quit after placing {uac.get('outgoing')} of {res['calls']} calls (status 0)")
    if res.get("warmup", {}).get("outgoing", 0) < res.get("warmup", {}).get("calls", 0):
        why.append("warm-up sipp UAC quit early")
    if proxy is not None and proxy.proc is not None and proxy.proc.poll() == 0:
        why.append(f"{proxy.kind} exited with status 0 mid-run (SIGTERM/SIGINT from outside)")
    return why


def _ports(n: int) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        p = procs.free_udp_port()
        if p not in out:
            out.append(p)
    return out


def _free_tcp_port_but(taken: int) -> int:
    while (p := procs.free_tcp_port()) == taken:
        pass
    return p


def _loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def sipp_trace_latency(d: Path, wire_first: dict[tuple[str, bytes], float] | None = None) -> dict[str, Any]:
    """Per Call-ID: UAS '-trace_msg' receive time of the INVITE minus UAC send time (same host clock).

    With the wire stamps of the same calls, also how far each sipp log stamp lies from the moment
    the datagram really left: the error of this method."""
    sent = sipp.first_times(d / "uac_messages.log", "sent")
    recv = sipp.first_times(d / "uas_messages.log", "received")
    deltas = [(recv[c] - t) * 1e6 for c, t in sent.items() if c in recv]
    out = {
        "method": "sipp -trace_msg: UAS receive minus UAC send, first INVITE per Call-ID",
        "invite_e2e_us": wire.describe(deltas),
        "uac_invites": len(sent),
        "uas_invites": len(recv),
    }
    if wire_first:
        lag_uac = [
            (sent[c.decode()] - t) * 1e6 for (k, c), t in wire_first.items() if k == "inv_in" and c.decode() in sent
        ]
        lag_uas = [
            (recv[c.decode()] - t) * 1e6 for (k, c), t in wire_first.items() if k == "inv_out" and c.decode() in recv
        ]
        out["uac_sent_stamp_minus_wire_us"] = wire.describe(lag_uac)
        out["uas_received_stamp_minus_wire_us"] = wire.describe(lag_uas)
    return out


def ladder(b: Bench, kind: str, prof: Profile) -> dict[str, Any]:
    steps, best, failing = [], 0, None
    for rate in prof.ladder:
        calls = int(rate * prof.step_s)
        attempts = []
        # the step at the target rate waits the CPU run's settle: its CPU per call is reported
        settle = prof.settle_s if rate == prof.target_rate else 0.0
        for _ in range(2 if prof.retry_failed_step else 1):
            r = b.run(kind, f"step{rate}", rate, calls, settle=settle)
            r["pass"], r["why"] = judge(r)
            attempts.append(r)
            if r["pass"]:
                break
        steps.extend(attempts)
        if not attempts[-1]["pass"]:
            failing = rate
            break
        best = rate
    rule = f"< {FAIL_RATIO:.1%} calls not completed and >= {MIN_ACHIEVED:.0%} of the rate achieved"
    if prof.retry_failed_step:
        rule += "; a failing step is retried once"
    return {
        "steps": steps,
        "cpu_rate": prof.target_rate,
        "max_sustained_cps": best,
        "first_failing_cps": failing,
        "step_seconds": prof.step_s,
        "rule": rule,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts (< 1 min), for a smoke test")
    ap.add_argument(
        "--proxies",
        default="antibot,kamailio",
        help="comma list of antibot (1 worker), antibot-w<N> (N workers), antibot-wN (one per core), kamailio",
    )
    ap.add_argument(
        "--phases", default=",".join(DEFAULT_PHASES), help=f"comma list of {','.join(PHASES)} (default: all but tls)"
    )
    ap.add_argument("--no-baseline", action="store_true", help="skip the direct caller->PBX runs")
    ap.add_argument(
        "--kamailio-mem",
        default=procs.KAMAILIO_MEM,
        choices=("tlsf", "fm", "qm"),
        help="Kamailio memory manager (-x/-X); the Debian build defaults to qm, a debugging one",
    )
    ap.add_argument("--ladder", help="comma list of ladder rates (cps), instead of the profile's")
    ap.add_argument("--step-seconds", type=float, help="seconds of calls per ladder step, instead of the profile's")
    ap.add_argument(
        "--rounds", type=int, help="rounds of the tls phase (proxies interleaved), instead of the profile's"
    )
    ap.add_argument("--calls", type=int, help="calls of each cpu / tls run, instead of the profile's")
    args = ap.parse_args(argv)
    procs.KAMAILIO_MEM = args.kamailio_mem
    prof = replace(QUICK if args.quick else Profile())
    if args.ladder:
        prof.ladder = [int(x) for x in args.ladder.split(",") if x]
    if args.step_seconds:
        prof.step_s = args.step_seconds
    if args.rounds:
        prof.tls_rounds = args.rounds
    if args.calls:
        prof.cpu_calls = args.calls
    kinds = [k for k in args.proxies.split(",") if k]
    phases = [p for p in args.phases.split(",") if p]
    try:
        programs = {procs.parse_kind(k)[0] for k in kinds}
    except ValueError as exc:
        ap.error(str(exc))
    if not set(phases) <= set(PHASES) or len(set(kinds)) != len(kinds):
        ap.error("unknown or repeated phase or proxy")
    for tool in ["sipp", *sorted(programs - {"antibot"})]:
        if shutil.which(tool) is None:
            print(f"bench: {tool} not found", file=sys.stderr)
            return 2
    if "tls" in phases and shutil.which("socat") is None:
        print("bench: socat not found (the tls phase carries sipp's TCP over TLS with it)", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = WORK / stamp
    work.mkdir(parents=True, exist_ok=True)
    _prune(WORK, keep=3)
    b = Bench(work, False)
    if "kamailio" in programs:
        tls = b.tls_listener(procs.free_tcp_port()) if "tls" in phases else None
        for listener in (None, tls) if tls is not None else (None,):
            ok, out = procs.check_kamailio_config(REPO, listener)
            if not ok:
                print(f"bench: kamailio -c failed{' (TLS)' if listener else ''}:\n{out}", file=sys.stderr)
                return 2
    wire_ok, wire_why = wire.available()
    result: dict[str, Any] = {
        "timestamp": stamp,
        "mode": "quick" if args.quick else "full",
        "machine": report.machine_info(REPO),
        "params": asdict(prof),
        "latency_wire_capture": wire_why,
        "runs": {k: {} for k in kinds},
    }
    result["params"].update(
        fail_ratio=FAIL_RATIO,
        min_achieved=MIN_ACHIEVED,
        recv_timeout_ms=sipp.RECV_TIMEOUT_MS,
        kamailio_children=procs.parse_kind("kamailio")[1],  # its default 8 unless KAMAILIO_CHILDREN
        kamailio_cmd_template=" ".join(
            procs.kamailio_command(REPO, work / "NN-kamailio", 0, 0, procs.kamailio_children())
        ),
        proxy_cmd_templates={k: " ".join(procs.Proxy(k, work / f"NN-{k}", 0, 0, REPO).command()) for k in kinds},
    )
    b.wire_ok = wire_ok
    signal.signal(signal.SIGTERM, _interrupt)
    t_start = time.monotonic()
    print(f"bench: {result['mode']} run, work dir {work.relative_to(REPO)}", flush=True)
    try:
        for phase in phases:  # phase by phase, proxies interleaved, so background load drifts hit both alike
            for _ in range(prof.tls_rounds if phase == "tls" else 1):  # round by round, proxies interleaved
                for kind in kinds + (["direct"] if phase == "latency" and not args.no_baseline else []):
                    runs = result["runs"].setdefault(kind, {})
                    try:
                        do_phase(b, phase, kind, runs, prof)
                    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                        print(f"  {kind} {phase}: ERROR {exc}", file=sys.stderr, flush=True)
                        result.setdefault("errors", []).append({"proxy": kind, "phase": phase, "error": str(exc)})
        if "ladder" in phases and not args.no_baseline and prof.harness_check:
            result["harness_checks"] = harness_checks(b, result, prof)
        print(f"  [{time.strftime('%H:%M:%S')}] collecting sipp PBX statistics", flush=True)
        b.collect_all(grace=1.0 if args.quick else 10.0)
    except KeyboardInterrupt:
        b.abort()
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        b.abort()
    finish(result, kinds, time.monotonic() - t_start)
    return 0


def do_phase(b: Bench, phase: str, kind: str, runs: dict[str, Any], prof: Profile) -> None:
    if phase == "cpu":
        runs["cpu"] = b.run(
            kind, "cpu", prof.cpu_rate, prof.cpu_calls, warmup=prof.warmup_calls, idle=prof.idle_s, settle=prof.settle_s
        )
    elif phase == "latency":
        r = b.run(
            kind,
            "latency",
            prof.latency_rate,
            prof.latency_calls,
            trace=True,
            sniff=True,
            warmup=prof.latency_warmup if kind != "direct" else 0,
        )
        r["uas_trace_pending"] = True
        runs["latency"] = r
    elif phase == "target":
        runs["target"] = b.run(kind, f"target{prof.target_rate}", prof.target_rate, prof.target_calls)
    elif phase == "ladder":
        runs["ladder"] = ladder(b, kind, prof)
    elif phase == "tls":  # one round; the rounds of one proxy are kept in order
        r = b.run(
            kind,
            "tls",
            prof.cpu_rate,
            prof.cpu_calls,
            warmup=prof.warmup_calls,
            idle=prof.idle_s,
            settle=prof.settle_s,
            tls=True,
        )
        runs.setdefault("tls", []).append(r)


def harness_checks(b: Bench, result: dict[str, Any], prof: Profile) -> list[dict[str, Any]]:
    """At each rate where a proxy failed, does sipp -> sipp alone (no proxy) pass? Tells box limits apart."""
    out = []
    rates = sorted(
        {
            r["ladder"]["first_failing_cps"]
            for k, r in result["runs"].items()
            if k != "direct" and r.get("ladder", {}).get("first_failing_cps")
        }
    )
    for rate in rates:
        r = b.run("direct", f"step{rate}", rate, int(rate * prof.step_s))
        r["pass"], r["why"] = judge(r)
        result["runs"].setdefault("direct", {}).setdefault("harness", []).append(r)
        out.append(
            {
                "rate": rate,
                "pass": r["pass"],
                "why": r["why"],
                "calls": r["calls"],
                "not_successful": r["uac"].get("not_successful"),
            }
        )
    return out


def finish(result: dict[str, Any], kinds: list[str], elapsed: float) -> None:
    result["summary"] = {k: summarize(k, result["runs"][k]) for k in kinds}
    if "direct" in result["runs"] and "latency" in result["runs"]["direct"]:
        result["baseline_direct"] = {
            "invite_e2e_sipp_trace_us": result["runs"]["direct"]["latency"].get("sipp_trace", {}).get("invite_e2e_us")
        }
    s = result["summary"]
    a, k = s.get("antibot", {}).get("cpu_us_per_call"), s.get("kamailio", {}).get("cpu_us_per_call")
    result["cpu_per_call_ratio_antibot_over_kamailio"] = round(a / k, 2) if a and k else None
    if "target" in s.get("antibot", {}):
        result["antibot_zero_failures_at_target"] = s["antibot"]["target"]["zero_failures"]
    if any("ladder" in v for v in s.values()):
        result["workers_ladder"] = report.ladder_comparison(s)
    if (tls := tls_comparison(s)) is not None:
        result["tls_cpu_per_call"] = tls
    result["machine"]["loadavg_at_end"] = _loadavg()
    result["elapsed_s"] = round(elapsed, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, sort_keys=False, default=str)
    path = RESULTS / f"{result['timestamp']}.json"
    path.write_text(text + "\n")
    (RESULTS / "latest.json").write_text(text + "\n")
    table = report.markdown(result)
    (RESULTS / "latest.md").write_text(f"# antibot vs Kamailio ({result['timestamp']})\n\n{table}")
    print()
    print(table)
    print(f"results: {path.relative_to(REPO)} (also latest.json, latest.md); took {elapsed:.0f} s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _prune(root: Path, keep: int) -> None:
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:2] == "20")
    for old in dirs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
