#!/usr/bin/env python3
"""Faults and floods while legitimate calls flow: what was lost, and what it cost.

Every scenario runs a sipp PBX, the proxy (``antibot run``: detection on, the shipped model,
enforce mode, admin API) and a sipp caller placing legitimate calls at 20 calls/s from
127.0.0.1; attackers send from other loopback addresses. Each scenario reports the calls placed,
completed and failed, the proxy's CPU and RSS before / at the peak / after, Redis's used_memory,
its own figures and its targets (see docs/reliability.md).

    .venv/bin/python bench/faults.py                  # the issue's durations (about 16 minutes)
    .venv/bin/python bench/faults.py --short          # a few seconds per fault (CI)
    .venv/bin/python bench/faults.py --only redis     # groups: udp tcp redis pbx memory shutdown,
                                                      # or one scenario: udp-invite, pbx-failover, ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from faultlib import common, rig  # noqa: E402
from faultlib.common import FULL, SHORT, Durations  # noqa: E402
from faultlib.faults import pbx_faults, redis_faults  # noqa: E402
from faultlib.memory import memory_bound, shutdown  # noqa: E402
from faultlib.net import tcp_abuse, udp_floods  # noqa: E402
from faultlib.rig import Result  # noqa: E402

GROUPS = ("udp", "tcp", "redis", "pbx", "memory", "shutdown")


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}"
    return str(v)


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | legit placed / completed / failed | proxy CPU % before / peak / after "
        "| proxy RSS MB before / peak / after | Redis MB before / peak / after | targets |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:

        def trio(metric: str, res: dict[str, dict[str, float | None]] = r.resources) -> str:
            m = res.get(metric, {})
            return " / ".join(_fmt(m.get(k)) for k in ("before", "peak", "after"))

        ok = "all met" if r.ok else "MISSED: " + "; ".join(w for w, good in r.checks if not good)
        lines.append(
            f"| `{r.name}` {r.title} | {r.placed} / {r.completed} / {r.failed} | {trio('cpu_pct')} "
            f"| {trio('rss_mb')} | {trio('redis_mb')} | {ok} |"
        )
    return "\n".join(lines)


def details(results: list[Result]) -> str:
    out = []
    for r in results:
        figs = "; ".join(f"{k}: {v}" for k, v in r.figures.items())
        errs = f" Caller errors: {r.errors}." if r.errors else ""
        out.append(f"- `{r.name}`: {figs}.{errs}")
    return "\n".join(out)


def run(only: str, d: Durations, work: Path, png: Path | None) -> list[Result]:
    group = only.split("-", 1)[0] if only else ""
    if group and group not in GROUPS:
        raise SystemExit(f"--only: one of {', '.join(GROUPS)} or a scenario name (e.g. udp-invite)")
    results: list[Result] = []
    steps = (
        ("udp", udp_floods),
        ("tcp", tcp_abuse),
        ("redis", redis_faults),
        ("pbx", pbx_faults),
        ("shutdown", shutdown),
    )
    for name, fn in steps[:4]:
        if not group or group == name:
            results += _echo(fn(work, d, only))
    if not group or group == "memory":
        results += _echo(memory_bound(work, d, only, png=png))
    if not group or group == "shutdown":
        results += _echo(shutdown(work, d, only))
    return results


def _echo(results: list[Result]) -> list[Result]:
    for r in results:
        print(f"{r.name}: {r.completed}/{r.placed} legit calls, {'ok' if r.ok else 'MISSED'} {r.checks}", flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="a few seconds per fault (CI)")
    ap.add_argument("--fault-seconds", type=float, help="override each fault's duration")
    ap.add_argument("--memory-invites", type=int, help="override the memory-bound flood size")
    ap.add_argument("--only", default="", help="a group (udp tcp redis pbx memory shutdown) or a scenario")
    ap.add_argument(
        "--workers", type=int, default=1, help="proxy workers (CPU summed over them, RSS of the largest process)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the peers' logs (sipp, proxy) in a temporary dir")
    ap.add_argument("--pbx-trace", action="store_true", help="keep each PBX's sipp message trace (with --keep)")
    ap.add_argument("--out", type=Path, default=REPO / "bench/results/faults-latest.md")
    ap.add_argument("--plot", type=Path, help="the memory plot (default: docs/reliability-memory.png on a full run)")
    args = ap.parse_args()
    d = SHORT if args.short else FULL
    rig.WORKERS = args.workers
    common.PBX_TRACE = args.pbx_trace
    if args.fault_seconds:
        d = dataclasses.replace(d, fault=args.fault_seconds)
    if args.memory_invites:
        d = dataclasses.replace(d, memory_invites=args.memory_invites, restart_invites=args.memory_invites // 2)
    png = args.plot or (None if args.short else REPO / "docs/reliability-memory.png")
    started = time.time()
    if args.keep:
        work = Path(tempfile.mkdtemp(prefix="faults-"))
        print(f"peers' logs kept in {work}", flush=True)
        results = run(args.only, d, work, png)
    else:
        with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
            results = run(args.only, d, Path(tmp), png)
    text = (
        f"Fault bench, {time.strftime('%Y-%m-%d %H:%M', time.gmtime(started))} UTC, "
        f"{'short' if args.short else 'full'} durations {dataclasses.asdict(d)}, {args.workers} worker(s), "
        f"{time.time() - started:.0f} s\n\n{table(results)}\n\n{details(results)}\n"
    )
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(
        json.dumps(
            [
                {
                    "name": r.name,
                    "placed": r.placed,
                    "completed": r.completed,
                    "failed": r.failed,
                    "errors": r.errors,
                    "resources": r.resources,
                    "figures": r.figures,
                    "checks": r.checks,
                }
                for r in results
            ],
            indent=2,
            default=str,
        )
    )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
