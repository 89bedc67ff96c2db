"""Machine description, the Markdown summary table and the workers ladder comparison."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def _first_line(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in (res.stdout + res.stderr).splitlines():
        if line.strip():
            return line.strip()
    return None


def machine_info(repo: Path) -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    venv_py = repo / ".venv/bin/python"
    probe = (
        "import sys, uvloop, antibot, antibot.proxy.core as c; "
        "print(sys.version.split()[0], uvloop.__version__, antibot.__version__, c.__file__.endswith('.so'))"
    )
    versions = (_first_line([str(venv_py), "-c", probe], cwd=repo) or "? ? ? ?").split() + ["?", "?", "?", "?"]
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": versions[0],
        "uvloop": versions[1],
        "antibot": versions[2],
        # True when the per-packet modules run compiled by mypyc (setup.py), False for pure Python.
        "antibot_compiled": versions[3] == "True",
        # True when those were built profile-guided (`make pgo` leaves build/.pgo; a plain
        # build removes it).
        "antibot_pgo": versions[3] == "True" and (repo / "build/.pgo").exists(),
        "antibot_commit": _first_line(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]),
        "antibot_tree_modified": bool(
            _first_line(["git", "--no-optional-locks", "-C", str(repo), "status", "--porcelain", "--", "antibot"])
        ),
        "kamailio": _first_line(["kamailio", "-v"]),
        "sipp": _first_line(["sipp", "-v"]),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def _fmt(v: Any, digits: int = 0, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        v = round(v, digits) if digits else round(v)
    return f"{v:,}{unit}" if isinstance(v, int) else f"{v}{unit}"


def _pct(d: dict[str, Any] | None) -> str:
    if not d or not d.get("n"):
        return "n/a"
    return f"{_fmt(d['p50'])} / {_fmt(d['p99'])} (n={d['n']})"


def kind_name(kind: str) -> str:
    """Column heading of a proxy kind (``antibot-w2`` -> ``antibot, 2 workers``)."""
    if kind == "kamailio":
        return "Kamailio"
    if kind == "antibot":
        return "antibot, 1 worker"
    n = kind.removeprefix("antibot-w")
    return f"antibot, {'one per core' if n == 'N' else n + ' workers'}"


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    kinds = list(s)
    p = result["params"]
    names = {k: kind_name(k) for k in kinds}
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn: Any) -> None:
        vals = [fn(s[k]) for k in kinds]
        if any(v != "n/a" for v in vals):  # a phase that was not run has no row
            rows.append((label, vals))

    row(f"Proxy CPU per completed call @ {p['cpu_rate']} cps (µs)", lambda x: _fmt(x.get("cpu_us_per_call")))
    row(f"Proxy CPU busy @ {p['cpu_rate']} cps (% of one core)", lambda x: _fmt(x.get("cpu_pct_of_core"), 1, "%"))
    row(f"Calls completed in the CPU run (of {p['cpu_calls']})", lambda x: _fmt(x.get("cpu_run_successful")))
    row("Highest sustained rate, < 0.1% failed (cps)", _ladder)
    row(
        f"INVITE forwarding latency p50 / p99 (µs, wire, @ {p['latency_rate']} cps)",
        lambda x: _pct(x.get("invite_latency_wire_us")),
    )
    row("200 OK (INVITE) forwarding latency p50 / p99 (µs, wire)", lambda x: _pct(x.get("ok200_latency_wire_us")))
    row(
        "INVITE caller send → PBX receive p50 / p99 (µs, sipp -trace_msg)",
        lambda x: _pct(x.get("invite_e2e_sipp_trace_us")),
    )
    row(f"{p['target_rate']} cps target: failed / placed calls", _target)
    row(
        f"Over TLS: CPU per completed call @ {p['cpu_rate']} cps, median (min-max) of rounds (µs)",
        lambda x: _spread(x.get("tls", {}).get("us_per_call_spread")),
    )
    row("Proxy crashes (runs where it died)", lambda x: str(len(x.get("crashes", []))))
    header = "| Metric | " + " | ".join(names[k] for k in kinds) + " |"
    lines = [header, "|---|" + "---:|" * len(kinds)]
    lines += [f"| {label} | " + " | ".join(vals) + " |" for label, vals in rows]
    base = result.get("baseline_direct", {}).get("invite_e2e_sipp_trace_us")
    notes = []
    if base:
        notes.append(f"Direct caller → PBX baseline (no proxy), sipp -trace_msg: p50 / p99 = {_pct(base)} µs.")
    for k in kinds:
        err = s[k].get("sipp_trace_stamp_error_us") or {}
        a, b = err.get("uac_sent") or {}, err.get("uas_received") or {}
        if a.get("n") and b.get("n"):
            notes.append(
                f"sipp -trace_msg stamp error in the {names[k]} latency run (stamp minus kernel wire "
                f"stamp, p50 / p90 µs): caller 'sent' {_fmt(a['p50'])} / {_fmt(a['p90'])}, "
                f"PBX 'received' {_fmt(b['p50'])} / {_fmt(b['p90'])}."
            )
    ratio = result.get("cpu_per_call_ratio_antibot_over_kamailio")
    if ratio is not None:
        notes.append(f"CPU per call, antibot / Kamailio: **{ratio:.2f}×**.")
    meets = result.get("antibot_zero_failures_at_target")
    if meets is not None:
        notes.append(f"antibot zero failed calls at {p['target_rate']} cps: **{'yes' if meets else 'NO'}**.")
    if result.get("workers_ladder"):
        notes += ladder_notes(result["workers_ladder"])
    if result.get("tls_cpu_per_call"):
        notes += tls_notes(result["tls_cpu_per_call"])
    for hc in result.get("harness_checks", []):
        notes.append(
            f"Harness alone (sipp → sipp, no proxy) at {hc['rate']} cps: "
            f"{'passes' if hc['pass'] else 'fails'} ({hc['not_successful']} of {hc['calls']} not completed)."
        )
    busy = ", ".join(f"{names[k]} runs {_fmt(s[k].get('host_cpu_busy_pct_median'), 0, '%')}" for k in kinds)
    notes.append(
        f"Whole-machine CPU busy during the calls (median over runs; includes both sipp ends and any "
        f"other load on the box): {busy}."
    )
    m = result["machine"]
    build = "mypyc-compiled per-packet path" if m.get("antibot_compiled") else "pure Python"
    if m.get("antibot_pgo"):
        build += " (profile-guided build)"
    notes.append(
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}, antibot {build}, "
        f"{m['kamailio']}, {m['sipp']}; load average at start {' '.join(m['loadavg_at_start'])}; "
        f"mode {result['mode']}."
    )
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    if result.get("workers_ladder"):
        text += "\n" + ladder_markdown(result["workers_ladder"])
    return text


def _spread(d: dict[str, Any] | None, unit: str = "") -> str:
    if not d or d.get("median") is None:
        return "n/a"
    return f"{_fmt(d['median'])}{unit} ({_fmt(d['min'])}-{_fmt(d['max'])}{unit})"


def tls_notes(cmp: dict[str, Any]) -> list[str]:
    """One line per antibot kind: its CPU per call over TLS against Kamailio's, round by round."""
    out = []
    for kind, r in cmp.items():
        if not isinstance(r, dict) or "ratio" not in r or r["ratio"]["median"] is None:
            continue
        rounds = ", ".join("n/a" if v is None else f"{v:.2f}×" for v in r["ratio_per_round"])
        verdict = "met" if r["target_met"] else "MISSED"
        out.append(
            f"Over TLS, CPU per call {kind_name(kind)} / Kamailio: **{r['ratio']['median']:.2f}×** median "
            f"(rounds: {rounds}); target ≤ {cmp['target_ratio']:g}×: {verdict}."
        )
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def ladder_comparison(summary: dict[str, Any]) -> dict[str, Any]:
    """Per kind with a ladder: the highest clean rate and the CPU per call at the ladder's CPU rate
    (500 calls/s); then each antibot kind against the 1-worker one and against Kamailio.

    A kind that passed the top step has a rate that is only a lower bound (``top_of_ladder``),
    and so has any ratio computed from it.
    """
    kinds: dict[str, Any] = {}
    for kind, x in summary.items():
        lad = x.get("ladder")
        if not lad:
            continue
        kinds[kind] = {
            "max_sustained_cps": lad["max_sustained_cps"],
            "top_of_ladder": not lad.get("first_failing_cps"),
            "cpu_rate": lad.get("cpu_rate"),
            "cpu_us_per_call": lad.get("cpu_us_per_call"),
            "redis_us_per_call": lad.get("redis_us_per_call"),
        }
    ratios: dict[str, Any] = {}
    one, kam = kinds.get("antibot"), kinds.get("kamailio")
    for kind, k in kinds.items():
        if kind == "kamailio":
            continue
        r: dict[str, Any] = {}
        if one is not None and kind != "antibot":
            r["rate_over_1_worker"] = _ratio(k["max_sustained_cps"], one["max_sustained_cps"])
            r["cpu_per_call_over_1_worker"] = _ratio(k["cpu_us_per_call"], one["cpu_us_per_call"])
        if kam is not None:
            r["rate_over_kamailio"] = _ratio(k["max_sustained_cps"], kam["max_sustained_cps"])
            r["cpu_per_call_over_kamailio"] = _ratio(k["cpu_us_per_call"], kam["cpu_us_per_call"])
        if r:
            ratios[kind] = r
    return {"kinds": kinds, "ratios": ratios}


def ladder_markdown(cmp: dict[str, Any]) -> str:
    """The workers ladder table: one row per proxy kind."""
    lines = [
        "| Proxy | Highest rate, < 0.1% failed (cps) | CPU per call @ 500 cps (µs) | of which redis-server | "
        "rate vs 1 worker | rate vs Kamailio | CPU per call vs Kamailio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, k in cmp["kinds"].items():
        r = cmp["ratios"].get(kind, {})
        bound = "≥ " if k["top_of_ladder"] else ""
        cells = [
            f"{bound}{_fmt(k['max_sustained_cps'])}",
            _fmt(k["cpu_us_per_call"]),
            _fmt(k["redis_us_per_call"]) if kind != "kamailio" else "",
            _x(r.get("rate_over_1_worker"), bound),
            _x(r.get("rate_over_kamailio"), bound),
            _x(r.get("cpu_per_call_over_kamailio"), ""),
        ]
        lines.append(f"| {kind_name(kind)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ladder_notes(cmp: dict[str, Any]) -> list[str]:
    out = []
    for kind, r in cmp["ratios"].items():
        if r.get("rate_over_1_worker") is not None:
            out.append(f"Highest clean rate, {kind_name(kind)} / 1 worker: **{r['rate_over_1_worker']:.2f}×**.")
    return out


def _x(v: float | None, bound: str) -> str:
    return "" if v is None else f"{bound}{v:.2f}×"


def _ladder(x: dict[str, Any]) -> str:
    lad = x.get("ladder")
    if not lad:
        return "n/a"
    best = lad.get("max_sustained_cps")
    tail = f" (failed at {lad['first_failing_cps']})" if lad.get("first_failing_cps") else " (top of ladder)"
    return f"{best}{tail}"


def _target(x: dict[str, Any]) -> str:
    t = x.get("target")
    if not t:
        return "n/a"
    mark = "✅" if t["zero_failures"] else "❌"
    extra = f"{t.get('achieved_cps')} cps placed, {t.get('retransmissions')} retransmissions"
    if t.get("proxy_udp_drops"):
        extra += f", {t['proxy_udp_drops']} UDP drops at proxy"
    for status, n in sorted((t.get("error_responses") or {}).items()):
        extra += f", {n}× {status} received"
    return f"{t['not_successful']:,} / {t['calls']:,} {mark} ({extra})"
