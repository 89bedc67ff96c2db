"""The evaluation's shared-address table: bots and people on one source address.

Behind a carrier's SBC or an office's NAT, a campaign and real customers arrive from the same
address. For every evaluation address that carries both labels, this counts what the verdict
path did to each side: the attack rows flagged (all of them, and after the first
:data:`WARMUP` calls of their flow, the campaign's own source + User-Agent fingerprint), and the
legitimate rows flagged, which should be none. Both for the shipped model and for the models
that never saw the row's profile (the held-out folds).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..proxy.decision import Action
from ..sim import plans
from .dataset import Dataset

#: Calls of a flow before its share flagged is counted (a campaign needs a few to show).
WARMUP = 10
FLAGGED = frozenset({Action.SUSPECT, Action.REJECT, Action.DROP})
#: Names for the simulator's shared addresses.
PLACES: dict[str, str] = {
    plans.SHARED_OFFICE: "office NAT",
    plans.SHARED_SMB: "small business NAT",
    **{ip: "carrier SBC" for ip in plans.CARRIER_SBCS},
    **{ip: "regional carrier SBC" for ip in plans.REGIONAL_SBCS},
}


def shared_sources(ds: Dataset) -> set[str]:
    """Source addresses with rows of both labels."""
    labels: dict[str, set[int]] = defaultdict(set)
    for facts, y in zip(ds.facts, ds.y.tolist(), strict=True):
        labels[facts.source_ip].add(int(y))
    return {src for src, seen in labels.items() if len(seen) == 2}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def shared_table(ds: Dataset, actions: dict[str, Sequence[Action | None]]) -> list[dict[str, Any]]:
    """One row per (place, profile) on a shared address: rows, and for each scorer in
    ``actions`` (name -> the action of every row of ``ds``, None where that scorer did not
    decide the row) the share flagged, and for attacks the share flagged after the first
    :data:`WARMUP` calls of the row's flow."""
    shared = shared_sources(ds)
    order = np.argsort(ds.ts, kind="stable")
    seen: Counter[tuple[str, str]] = Counter()
    late = np.zeros(len(ds), dtype=bool)
    for i in order.tolist():
        f = ds.facts[i]
        if f.source_ip in shared:
            key = (f.source_ip, f.flow or f.ua_fingerprint)
            seen[key] += 1
            late[i] = seen[key] > WARMUP
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, f in enumerate(ds.facts):
        if f.source_ip in shared:
            groups[PLACES.get(f.source_ip, "other shared address"), str(ds.profile[i])].append(i)
    out: list[dict[str, Any]] = []
    for (place, profile), rows in sorted(groups.items()):
        label = int(ds.y[rows[0]])
        entry: dict[str, Any] = {"place": place, "profile": profile, "label": label, "rows": len(rows)}
        for name, acts in actions.items():
            decided = [i for i in rows if acts[i] is not None]
            flagged = [i for i in decided if acts[i] in FLAGGED]
            after = [i for i in decided if late[i]]
            entry[name] = {
                "rows": len(decided),
                "flagged": _rate(len(flagged), len(decided)),
                "rows_after_warmup": len(after) if label else None,
                "flagged_after_warmup": _rate(sum(acts[i] in FLAGGED for i in after), len(after)) if label else None,
            }
        out.append(entry)
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.2f}%"


def shared_markdown(table: list[dict[str, Any]], scorers: dict[str, str]) -> list[str]:
    """The table as Markdown lines (``scorers``: report key -> column title)."""
    if not table:
        return []
    head = " | ".join(f"{t}: flagged | {t}: flagged after {WARMUP} of its flow" for t in scorers.values())
    lines = [
        "## Shared addresses (bots and people on one source address)",
        "",
        "Evaluation addresses that carry both labels: the office NAT (a scanner on a PC behind it, copying a "
        "desk phone), a small business's NAT (a dialler copying a phone), the carriers' SBCs (robocalls and "
        "wangiri in the carrier's own format). For people, *flagged* is the false-positive rate on that address.",
        "",
        f"| address | profile | label | rows | {head} |",
        "|---|---|---:|---:|" + "---:|---:|" * len(scorers),
    ]
    for r in table:
        cells = []
        for key in scorers:
            s = r.get(key) or {}
            cells += [_pct(s.get("flagged")), _pct(s.get("flagged_after_warmup")) if r["label"] else "–"]
        lines.append(f"| {r['place']} | {r['profile']} | {r['label']} | {r['rows']} | {' | '.join(cells)} |")
    return [*lines, ""]
