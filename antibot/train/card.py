"""What ``antibot train`` / ``antibot evaluate`` write: the model, its card, the report and plots.

``<out>/antibot-gbt.json`` is the model (``antibot-gbt/1``) and ``antibot-gbt.card.json`` its card,
whose ``sha256`` and ``features`` :func:`antibot.detect.model.load_model` checks. The evaluation
goes to ``.eval.json`` (everything), ``.eval.md`` (the tables) and ``.roc.png`` / ``.pr.png``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from ..detect.model import FORMAT, Model
from ..sim.profiles import PROFILES
from .shared import shared_markdown

#: The shared-address table's scorers: report key -> column title.
SHARED_SCORERS = {"shipped": "shipped model", "held_out": "model that never saw the profile"}

MODEL_NAME = "antibot-gbt"

Curves = dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]]


@dataclass(frozen=True)
class Paths:
    model: Path
    card: Path
    eval_json: Path
    eval_md: Path
    roc: Path
    pr: Path

    @classmethod
    def under(cls, out: Path, name: str = MODEL_NAME) -> Paths:
        return cls(
            *(out / f"{name}{ext}" for ext in (".json", ".card.json", ".eval.json", ".eval.md", ".roc.png", ".pr.png"))
        )


def write_model(model: Model, path: Path) -> str:
    """Write the model JSON (compact, stable key order) and return its sha256."""
    data = (json.dumps(model.to_dict(), separators=(",", ":")) + "\n").encode()
    _replace(path, data)
    return hashlib.sha256(data).hexdigest()


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def library_versions() -> dict[str, str]:
    import sklearn

    return {"python": platform.python_version(), "sklearn": sklearn.__version__, "numpy": np.__version__}


def model_shape(model: Model) -> dict[str, Any]:
    def depth(feature: tuple[int, ...], left: tuple[int, ...], right: tuple[int, ...], node: int = 0) -> int:
        if feature[node] < 0:
            return 0
        return 1 + max(depth(feature, left, right, left[node]), depth(feature, left, right, right[node]))

    return {
        "trees": len(model.trees),
        "max_depth": max((depth(t.feature, t.left, t.right) for t in model.trees), default=0),
        "nodes": sum(len(t.feature) for t in model.trees),
        "base": model.base,
        "rate": model.rate,
    }


def metrics_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The card's ``metrics``: per held-out group and overall, flagged and blocked."""

    def pick(r: dict[str, Any]) -> dict[str, Any]:
        keep = ("precision", "recall", "fpr")
        out: dict[str, Any] = {k: {m: r[k][m] for m in keep} for k in ("flagged", "blocked")}
        out["auc"] = r.get("auc")
        if r.get("target") is not None:
            out["target"] = r["target"]
        return out

    summary: dict[str, Any] = {
        "method": "leave-one-profile-out (and leave-one-family-out) on a separate evaluation simulation, "
        "scored through the default verdict path",
        "thresholds": report["thresholds"],
        "corroboration": report.get("corroboration", 0.0),
        "held_out": {r["held_out"]: pick(r) for r in report["held_out"]},
        "held_out_families": {r["held_out"]: pick(r) for r in report["held_out_families"]},
        "overall": pick(report["overall"]),
        "targets_met": report["targets_met"],
    }
    if "overall_held_out" in report:
        summary["overall_held_out"] = pick(report["overall_held_out"])
    return summary


def make_card(
    *,
    model: Model,
    sha256: str,
    training: dict[str, Any],
    evaluation: dict[str, Any] | None,
    params: dict[str, Any],
    export_error: float,
    report: dict[str, Any] | None,
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    created = created or dt.datetime.now(dt.UTC)
    return {
        "name": MODEL_NAME,
        "version": created.strftime("%Y.%m.%d.%H%M%S"),
        "format": FORMAT,
        "created": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "antibot_version": __version__,
        "description": "P(bot) of a new INVITE from its message form and the shared per-source/caller/"
        "callee/fingerprint counters; gradient-boosted trees scored in pure Python.",
        "features": list(model.features),
        "model": {**model_shape(model), "export_max_abs_error": export_error},
        "training_data": training,
        "evaluation_data": evaluation,
        "params": params,
        "metrics": metrics_summary(report) if report is not None else None,
        "libraries": library_versions(),
        "limitations": "Trained on simulated traffic only (antibot.sim profiles); re-train with operator "
        "feedback (--with-feedback) before trusting its thresholds on a real deployment.",
        "sha256": sha256,
    }


def write_json(data: dict[str, Any], path: Path) -> None:
    _replace(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.2f}%"


def markdown(report: dict[str, Any]) -> str:
    """The evaluation tables as Markdown."""
    th = report["thresholds"]
    lines = [
        f"# {MODEL_NAME} evaluation",
        "",
        f"Verdict path: model score, thresholds suspect {th['suspect']} / reject {th['reject']}, "
        f"{_corroboration(report.get('corroboration', 0.0))}, rules: "
        f"{report['rules']} (the defaults of `antibot run`). *flagged* = suspect/reject/drop, *blocked* = "
        "reject/drop. Rows a rule decided (not the score) are counted per rule in the JSON report "
        "(`held_out_decided_by_rules`, `overall.decided_by_rules`).",
        f"Training simulation: {_sim(report.get('train_simulation'))}; evaluation simulation: "
        f"{_sim(report.get('eval_simulation'))}.",
        "",
        "## Held-out attack profiles (model trained without the profile)",
        "",
        "| held out | rows | recall flagged | recall blocked | precision flagged | precision blocked | "
        "FPR flagged (people) | AUC | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in [*report["held_out"], *report["held_out_families"]]:
        if r["kind"] == "legitimate":
            continue
        name = r["held_out"] if r["kind"] == "attack" else f"family {r['held_out']} ({', '.join(r['profiles'])})"
        f, b = r["flagged"], r["blocked"]
        lines.append(
            f"| {name} | {r['held_out_rows']} | {_pct(f['recall'])} | {_pct(b['recall'])} | {_pct(f['precision'])} "
            f"| {_pct(b['precision'])} | {_pct(f['fpr'])} | {_auc(r)} | {_goal(r)} |"
        )
    lines += [
        "",
        "## Held-out legitimate profiles (model trained without the profile and its source addresses)",
        "",
        "| held out | rows | FPR flagged | FPR blocked | precision flagged | recall flagged (all attacks) "
        "| AUC | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["held_out"]:
        if r["kind"] != "legitimate":
            continue
        f, b = r["flagged"], r["blocked"]
        lines.append(
            f"| {r['held_out']} | {r['held_out_rows']} | {_pct(f['fpr'])} | {_pct(b['fpr'])} | {_pct(f['precision'])} "
            f"| {_pct(f['recall'])} | {_auc(r)} | {_goal(r)} |"
        )
    lines += [
        "",
        "## Overall",
        "",
        "| scored by | precision flagged | recall flagged | FPR flagged | "
        "precision blocked | recall blocked | FPR blocked | AUC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, what in (("overall", "shipped model"), ("overall_held_out", "model that never saw the profile")):
        if key in report:
            f, b = report[key]["flagged"], report[key]["blocked"]
            lines.append(
                f"| {what} | {_pct(f['precision'])} | {_pct(f['recall'])} | {_pct(f['fpr'])} | {_pct(b['precision'])} "
                f"| {_pct(b['recall'])} | {_pct(b['fpr'])} | {_auc(report[key])} |"
            )
    lines += [
        "",
        "## Shipped model per profile (evaluation simulation)",
        "",
        "| profile | label | rows | flagged | blocked | mean score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, p in report["overall"]["by_profile"].items():
        lines.append(
            f"| {name} | {p['label']} | {p['rows']} | {_pct(p['flagged'])} | {_pct(p['blocked'])} "
            f"| {p['mean_score']:.3f} |"
        )
    lines += ["", *shared_markdown(report.get("shared_addresses") or [], SHARED_SCORERS)]
    lines += [f"All targets met: **{'yes' if report['targets_met'] else 'no'}**.", ""]
    if report.get("skipped"):
        lines += [f"Not evaluated (nothing of the other label left to train on): {', '.join(report['skipped'])}.", ""]
    real = report.get("real_tools")
    if real:  # written by bench/realtools.py --into: real attack tools beside the simulator's figures
        lines += ["## Real attack tools", "", str(real.get("about", "")), "", *real.get("table", []), ""]
    lines += _errors(report)
    notes = report.get("notes")
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


def _errors(report: dict[str, Any]) -> list[str]:
    out = [
        "## Where held-out groups go wrong",
        "",
        "Wrong rows of each held-out group (bots not flagged, people flagged) by User-Agent product; "
        "for people, the features that pushed their score up most (mean log-odds contribution).",
        "",
    ]
    for r in report["held_out"]:
        e = r.get("errors") or {}
        if not e.get("rows"):
            continue
        uas = ", ".join(f"{ua} {v['wrong']}/{v['of']}" for ua, v in e["by_user_agent"].items())
        pushed = ", ".join(f"{name} +{c}" for name, c in (e.get("pushed_by") or {}).items())
        out.append(f"- **{r['held_out']}** ({e['rows']} wrong): {uas}" + (f"; pushed by {pushed}" if pushed else ""))
    return [*out, ""] if len(out) > 5 else []


def _sim(sim: dict[str, Any] | None) -> str:
    if not sim:
        return "?"
    return f"seed {sim['seed']}, {sim['duration']:g} s at scale {sim['scale']:g} from t={sim['start']:.0f}"


def _auc(r: dict[str, Any]) -> str:
    return "n/a" if r.get("auc") is None else f"{r['auc']:.5f}"


def _goal(r: dict[str, Any]) -> str:
    t = r.get("target")
    if not t:
        return "report only"
    sign = "≥" if "recall" in t["metric"] else "≤"
    return f"{sign} {100 * t['goal']:g}%: {'met' if t['met'] else '**missed**'}"


def plot_curves(curves: Curves, thresholds: dict[str, float], roc_path: Path, pr_path: Path) -> None:
    """ROC (log FPR axis: the targets live below 0.1 %) and precision-recall curves as PNG.

    The first curve (the shipped model) is drawn thick with its threshold points; the others
    (one per held-out fold: held-out attacks solid, held-out people dashed) thin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    roc_fig, roc_ax = plt.subplots(figsize=(8, 6), dpi=110)
    pr_fig, pr_ax = plt.subplots(figsize=(8, 6), dpi=110)
    for n, (name, (y, s)) in enumerate(curves.items()):
        if len(set(y.tolist())) < 2:
            continue
        main = n == 0
        style: dict[str, Any] = {"linewidth": 2.5 if main else 1.0, "color": "black" if main else None}
        style["linestyle"] = "-" if main or not _is_people(name) else "--"
        fpr, tpr, _ = roc_curve(y, s)
        line = roc_ax.plot(np.maximum(fpr, 1e-6), tpr, label=f"{name} (AUC {auc(fpr, tpr):.4f})", **style)[0]
        prec, rec, _ = precision_recall_curve(y, s)
        pr_ax.plot(rec, prec, label=name, **{**style, "color": line.get_color()})
        if not main:
            continue
        pos, neg = s[y == 1], s[y == 0]
        for th_name, th in thresholds.items():
            x, yy = max(float(np.mean(neg >= th)), 1e-6), float(np.mean(pos >= th))
            roc_ax.plot([x], [yy], "o", color="black")
            roc_ax.annotate(f"{th_name} {th:g}", (x, yy), textcoords="offset points", xytext=(4, -12), fontsize=7)
            flagged = int(np.sum(s >= th))
            if flagged:
                pr_ax.plot([yy], [float(np.sum(pos >= th)) / flagged], "o", color="black")
    roc_ax.set_xscale("log")
    roc_ax.set_xlim(1e-6, 1.0)
    roc_ax.axvline(1e-3, color="grey", linestyle=":", linewidth=1)
    roc_ax.set(xlabel="false-positive rate (people flagged), log scale", ylabel="recall (bots)")
    roc_ax.set_title(f"{MODEL_NAME}: ROC (dotted: the 0.1 % FPR target)")
    pr_ax.set(xlabel="recall (bots)", ylabel="precision", title=f"{MODEL_NAME}: precision-recall")
    roc_ax.legend(loc="lower right", fontsize=7)
    pr_ax.legend(loc="lower left", fontsize=7)
    for ax in (roc_ax, pr_ax):
        ax.grid(True, alpha=0.3)
    for fig, path in ((roc_fig, roc_path), (pr_fig, pr_path)):
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def _is_people(curve_name: str) -> bool:
    name = curve_name.rsplit(" ", 1)[-1]
    return name in PROFILES and PROFILES[name].label == 0


def _corroboration(share: float) -> str:
    if not share:
        return "no corroboration (the thresholds act on the score alone)"
    return (
        f"corroboration {share:g} (the thresholds act on a score only when the last hour's calls of its "
        "flow (source + User-Agent fingerprint) or of its fingerprint seen from 5+ addresses back it, or its "
        "flow shows a campaign signal; an isolated score is relayed as suspect from the reject threshold up; "
        "sweeps are refused whatever the score: "
        "`antibot/detect/corroboration.py`; the whole evaluation day is replayed in time order with each "
        "fold model's scores)"
    )
