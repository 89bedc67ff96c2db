#!/usr/bin/env python3
"""Real attack tools (SIPVicious 0.3.8) against the proxy with detection on: the table for the README.

Runs the cases of tests/e2e/test_real_tools.py with the target's address history (80 ordinary
calls before the tool, 20 after, 2 calls/s from the same address), plus variants the CI run
leaves out (a paced sweep, svcrack with a spoofed User-Agent), and prints one Markdown row each:
what the tool sent, what reached the PBX as pass / suspect, what the proxy stopped, and how many
of the ordinary calls on that address passed. Needs sipp and ``pip install sipvicious==0.3.8``.

    .venv/bin/python bench/realtools.py            # every case, about 6 minutes
    .venv/bin/python bench/realtools.py svwar      # the cases whose name contains "svwar"
    .venv/bin/python bench/realtools.py --into models/antibot-gbt.eval.json   # and into the report

``--into`` stores the table in the evaluation report (``real_tools``) and re-renders its Markdown
beside it (``antibot evaluate`` keeps it when it re-evaluates the same model).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.harness import Harness  # noqa: E402
from tests.e2e.procs import Processes  # noqa: E402
from tests.e2e.realtools import SPOOFED_UA, Case, Outcome, run_case  # noqa: E402


def cases(before: int, after: int) -> list[Case]:
    out: list[Case] = []
    plans: list[tuple[str, str | None, float | None]] = [
        ("svmap", None, None),
        ("svwar", None, None),
        ("svwar", SPOOFED_UA, None),
        ("svwar", SPOOFED_UA, 0.1),  # one INVITE per 0.1 s of silence: ~10/s, a paced sweep
        ("svcrack", None, None),
        ("svcrack", SPOOFED_UA, None),
    ]
    n = 20
    for tool, ua, pace in plans:
        for shared in (False, True):
            n += 1
            out.append(Case(tool, ua, shared, f"127.0.0.{n}", legit_before=before, legit_after=after, pace=pace))
    return out


def row(o: Outcome) -> str:
    c = o.case
    ua = "spoofed (Zoiper)" if c.ua else "default (friendly-scanner)"
    tool = c.tool + (f" -t {c.pace:g}" if c.pace else "") + (" -m INVITE" if c.tool != "svcrack" else "")
    history = f"{c.legit_before} calls before, {c.legit_after} after" if c.shared else "fresh"
    reached = f"{o.reached['pass']} / {o.reached['suspect']}"
    other = o.reached_total - o.reached["pass"] - o.reached["suspect"]
    if other:
        reached += f" (+{other} unlabelled)"
    legit = f"{o.legit_pass} of {o.legit_placed}" if c.shared else "-"
    cells = [tool, ua, history, f"{o.method} {o.sent}", reached, str(o.stopped), legit, f"{o.seconds:.0f} s"]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="?", default="", help="run the cases whose name contains this")
    parser.add_argument("--before", type=int, default=80, help="ordinary calls before the tool")
    parser.add_argument("--after", type=int, default=20, help="ordinary calls after the tool")
    parser.add_argument("--into", type=Path, help="also store the table in this evaluation report (JSON)")
    args = parser.parse_args()
    head = ["tool", "User-Agent", "address history", "sent", "reached PBX: pass / suspect", "stopped"]
    table = ["| " + " | ".join([*head, "legit calls passed", "time"]) + " |", "|---|---|---|---|---|---|---|---|"]
    print("\n".join(table))
    for case in cases(args.before, args.after):
        if args.only not in case.name:
            continue
        procs = Processes()
        with tempfile.TemporaryDirectory(prefix=f"realtools-{case.name}-") as tmp:
            try:
                outcome = run_case(Harness(procs, Path(tmp)), case)
            finally:
                procs.stop_all()
        table.append(row(outcome))
        print(table[-1], flush=True)
    if args.into is not None:
        store(args.into, table, args.before, args.after)
    return 0


def store(report_path: Path, table: list[str], before: int, after: int) -> None:
    """Put ``table`` in the evaluation report at ``report_path`` and re-render its Markdown."""
    from antibot.train.card import markdown

    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["real_tools"] = {
        "about": (
            "SIPVicious 0.3.8 against the proxy (enforce, this model) in front of a sipp PBX that answers 404 "
            "for unknown extensions and challenges REGISTER; each tool from a fresh address and from one that "
            f"carried {before} ordinary calls before it and {after} after (2 calls/s, one desk-phone model, "
            "each answered call held as long as people's: log-normal, median 12 s, 2-30 s), the tool "
            "running while the last of them are up. "
            f"`bench/realtools.py`, {time.strftime('%Y-%m-%d')}."
        ),
        "table": table,
    }
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    report_path.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
