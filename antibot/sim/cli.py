"""``antibot simulate``: write labelled simulated SIP traffic as JSON lines.

One object per line: ts, src_ip, src_port, label, family, profile, method, status, duration
and message (the SIP text, decoded as latin-1 so it round-trips to the exact bytes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

from .generator import SimEvent, generate
from .profiles import PROFILES


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` subcommand to ``sub`` (the ``antibot`` subparsers)."""
    p = sub.add_parser(
        "simulate",
        help="generate labelled SIP traffic (people and bots) as JSON lines",
        description="Generate labelled SIP traffic from documented profiles. Profiles: "
        + "; ".join(f"{n} ({p.family}, label {p.label}): {p.summary}" for n, p in PROFILES.items()),
    )
    p.add_argument("--profiles", help="comma-separated profile names (default: all)")
    p.add_argument("--duration", type=float, default=3600.0, metavar="SECONDS", help="simulated time (default 3600)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same output")
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier for every profile (default 1)")
    p.add_argument("--start", type=float, default=1.7e9, help="Unix time of the first second (default 1.7e9)")
    p.add_argument("--out", metavar="FILE.jsonl", help="output file ('-' or omitted: stdout, unless --summary alone)")
    p.add_argument("--summary", action="store_true", help="print event counts per profile and label")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")


def record(ev: SimEvent) -> dict[str, Any]:
    """The JSON object written for one event."""
    return {
        "ts": ev.ts,
        "src_ip": ev.src_ip,
        "src_port": ev.src_port,
        "label": ev.label,
        "family": ev.family,
        "profile": ev.profile,
        "method": ev.method,
        "status": ev.status,
        "duration": ev.duration,
        "message": ev.data.decode("latin-1"),
    }


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.profiles.split(",") if n.strip()] if args.profiles else None
    try:
        events = generate(names, duration=args.duration, seed=args.seed, start=args.start, scale=args.scale)
    except ValueError as exc:
        print(f"antibot simulate: {exc}", file=sys.stderr)
        return 2
    to_stdout = args.out in (None, "-") and not (args.out is None and args.summary)
    counts: Counter[tuple[str, str]] = Counter()
    show = args.progress and sys.stderr.isatty()
    events = _progress(events, args.start, args.duration) if show else events
    out: TextIO | None = None
    try:
        if to_stdout:
            out = sys.stdout
        elif args.out not in (None, "-"):
            out = open(args.out, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 (closed below)
        for ev in events:
            counts[ev.profile, ev.method] += 1
            if out is not None:
                out.write(json.dumps(record(ev)) + "\n")
    except OSError as exc:
        print(f"antibot simulate: {exc}", file=sys.stderr)
        return 1
    finally:
        if out is not None and out is not sys.stdout:
            out.close()
    if args.summary:
        print(summary(counts), file=sys.stderr if to_stdout else sys.stdout)
    return 0


def summary(counts: Counter[tuple[str, str]]) -> str:
    """A table of events per profile and method, with totals per label."""
    methods = sorted({m for _, m in counts})
    head = f"{'profile':<18} {'family':<10} {'label':>5} {'events':>8} " + " ".join(f"{m:>8}" for m in methods)
    rows = [head]
    by_label: Counter[int] = Counter()
    invites: Counter[int] = Counter()
    for name, prof in PROFILES.items():
        per = {m: counts[name, m] for m in methods}
        total = sum(per.values())
        if not total and (name, "INVITE") not in counts:
            continue
        by_label[prof.label] += total
        invites[prof.label] += per.get("INVITE", 0)
        cells = " ".join(f"{per[m]:>8}" for m in methods)
        rows.append(f"{name:<18} {prof.family:<10} {prof.label:>5} {total:>8} {cells}")
    for label, what in ((0, "human"), (1, "bot")):
        rows.append(f"label {label} ({what}): {by_label[label]} events, {invites[label]} INVITEs")
    return "\n".join(rows)


def _progress(events: Iterator[SimEvent], start: float, duration: float) -> Iterator[SimEvent]:
    """Pass events through, showing how much simulated time is done (tqdm if installed)."""
    try:
        tqdm: Any = importlib.import_module("tqdm")
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm.tqdm(total=round(duration), unit="sim-s", file=sys.stderr, desc="simulate")
        done = 0
        for n, ev in enumerate(events, 1):
            now = int(ev.ts - start)
            if now > done:
                bar.update(now - done)
                done = now
                bar.set_postfix(events=n, refresh=False)
            yield ev
        bar.update(round(duration) - done)
        bar.close()
        return
    n = 0
    for n, ev in enumerate(events, 1):
        if n % 2000 == 0:
            pct = 100.0 * (ev.ts - start) / duration if duration else 100.0
            sys.stderr.write(f"\rsimulate: {pct:5.1f}% of {duration:.0f} s simulated, {n} events")
            sys.stderr.flush()
        yield ev
    sys.stderr.write(f"\rsimulate: 100.0% of {duration:.0f} s simulated, {n} events\n")
