"""Evaluation by held-out groups, through the full verdict path.

Random row splits flatter a traffic model: rows of one campaign are near-copies of each other.
So whole groups are held out instead. For each attack profile (and each simulator family of
several profiles), a model is trained on the training simulation WITHOUT it and tested on the
evaluation simulation's rows of it (recall) and of the legitimate profiles (precision, FPR).
For each legitimate profile, a model trained without it gives the false-positive rate on it;
"without it" includes attack rows sent from its addresses (wangiri transiting the carrier's
SBCs), which carry its message form and counters (see :func:`folds`).

Every test row goes through what the proxy does: the exported JSON model's score, then the
operator rules with the default thresholds (:class:`RuleSet`, suspect 0.5 / reject 0.9) and
corroboration (:mod:`antibot.detect.corroboration`: the whole evaluation day is replayed in
time order with the fold model's scores, counted as one proxy node counts them, so a row's
support comes from the calls before it, whatever their profile).
"flagged" = suspect, reject or drop; "blocked" = reject or drop.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..detect.corroboration import campaigns, costly
from ..detect.engine import with_sweep
from ..detect.features import FEATURE_NAMES
from ..detect.model import Model
from ..detect.rules import Decision, Facts, RuleSet
from ..proxy.decision import Action
from ..sim.profiles import PROFILES
from .dataset import Dataset, flow_learns
from .shared import shared_table
from .train import TrainParams, export, fit, scores

#: Recall targets (flagged) for held-out attack profiles; the FPR target for held-out people.
RECALL_TARGETS: dict[str, float] = {"scanner_sweep": 0.999, "robodialer": 0.95, "low_and_slow": 0.95}
FPR_TARGET = 0.001

FLAGGED = frozenset({Action.SUSPECT, Action.REJECT, Action.DROP})
BLOCKED = frozenset({Action.REJECT, Action.DROP})

Log = Callable[[str], None]


@dataclass(frozen=True)
class Fold:
    """One held-out group: train on ``train_mask`` of the training rows, test on ``test_mask``
    of the evaluation rows (the held-out group plus the other label's rows)."""

    name: str
    kind: str  # "attack" | "family" | "legitimate"
    held_out: tuple[str, ...]  # profile names
    train_mask: NDArray[np.bool_]
    test_mask: NDArray[np.bool_]


def _sources(ds: Dataset) -> NDArray[np.str_]:
    return np.asarray([f.source_ip for f in ds.facts], dtype=np.str_)


def folds(train: Dataset, test: Dataset) -> Iterator[Fold]:
    """Leave-one-profile-out for every attack and legitimate profile the evaluation has rows of,
    then leave-one-family-out for simulator families of several attack profiles (all of the
    family's profiles are left out of training; those with evaluation rows are tested).

    A held-out legitimate profile is held out with its source addresses: training rows of other
    profiles sent from those addresses go too. Attacks can transit a legitimate trunk (wangiri
    through the interconnect carrier's SBCs): such rows carry the trunk's exact message form and
    its per-source counters, so keeping them, labelled bot, would show the model the very profile
    it is meant never to have seen (and teach it that this trunk is a bot)."""
    tested = set(test.profile.tolist())
    anywhere = tested | set(train.profile.tolist())
    attack = [n for n, p in PROFILES.items() if p.label == 1 and n in tested]
    legit = [n for n, p in PROFILES.items() if p.label == 0 and n in tested]
    for name in attack:
        yield Fold(name, "attack", (name,), train.profile != name, (test.profile == name) | (test.y == 0))
    src = _sources(train)
    for name in legit:
        own = np.unique(src[train.profile == name])
        keep = (train.profile != name) & ~np.isin(src, own)
        yield Fold(name, "legitimate", (name,), keep, (test.profile == name) | (test.y == 1))
    families: dict[str, list[str]] = {}
    for name, p in PROFILES.items():
        if p.label == 1 and name in anywhere:
            families.setdefault(p.family, []).append(name)
    for family, members in families.items():
        if len(members) > 1 and tested & set(members):
            group = tuple(members)
            yield Fold(
                family,
                "family",
                group,
                ~np.isin(train.profile, group),
                np.isin(test.profile, group) | (test.y == 0),
            )


def default_rules() -> RuleSet:
    """The rules ``antibot run`` starts with when nothing is configured: its seed policy
    document (thresholds 0.5 / 0.9, the known scanner User-Agents on the deny list)."""
    from ..config import load
    from ..run.policy import build_rules, seed_doc

    return build_rules(seed_doc(load(None, {"upstream": ["sip:192.0.2.1:5060"]})))


def decide(model: Model, ds: Dataset, rules: RuleSet | None = None) -> tuple[NDArray[np.float64], list[Action]]:
    """Scores (the JSON model's own) and the rule decision of every row, as ``Detector.verdict`` does."""
    rules = rules or default_rules()
    s = scores(model, ds.X)
    return s, actions_for(ds, s, rules)


def support_of(ds: Dataset, s: NDArray[np.float64], rules: RuleSet) -> NDArray[np.float64]:
    """Each row's corroboration support (:func:`antibot.detect.corroboration.supports`) when
    the rows of ``ds`` (a whole day, any order) are replayed with scores ``s``; all 1.0 when
    ``rules`` does not corroborate."""
    if rules.corroboration <= 0.0:
        return np.ones(len(ds))
    return np.asarray(_replay(ds, s, rules)[0], dtype=np.float64)


def sweeps_of(ds: Dataset, rules: RuleSet) -> list[tuple[str, str]]:
    """Each row's sweep ``(reason, action)`` ("" for none, :func:`antibot.detect.corroboration.judge_flow`)
    when the rows of ``ds`` (a whole day) are replayed: per flow, whatever the scores, with the
    simulated calls' outcomes fed back as the proxy learns them."""
    return _replay(ds, np.zeros(len(ds)), rules)[1]


def _replay(ds: Dataset, s: NDArray[np.float64], rules: RuleSet) -> tuple[list[float], list[tuple[str, str]]]:
    """:func:`antibot.detect.corroboration.campaigns` over ``ds`` with scores ``s``: the flows
    (source + fingerprint), their callees and neighbour-spoofed callers, as the proxy counts them."""
    neighbour = ds.X[:, FEATURE_NAMES.index("from_neighbour")] > 0.0 if len(ds) else np.zeros(0, dtype=bool)
    return campaigns(
        ds.ts.tolist(),
        [f.source_ip for f in ds.facts],
        [f.ua_fingerprint for f in ds.facts],
        s.tolist(),
        rules.suspect_threshold,
        [f.to_number for f in ds.facts],
        [f.from_number for f in ds.facts],
        neighbour.tolist(),
        rules.sweep,
        [(flow_learns(t, f.ended, f.metrics), f.metrics) for t, f in zip(ds.ts.tolist(), ds.facts, strict=True)],
        [f.flow for f in ds.facts],
    )


def decisions_for(
    ds: Dataset,
    s: NDArray[np.float64],
    rules: RuleSet | None = None,
    support: NDArray[np.float64] | None = None,
    sweeps: Sequence[tuple[str, str]] | None = None,
) -> list[Decision]:
    """The rule decision of every row of ``ds`` given its model score, corroboration support
    and sweep reason (defaults: :func:`support_of` and :func:`sweeps_of` over ``ds`` itself;
    rules: :func:`default_rules`), as ``Detector.verdict`` decides: a call of a listed costly
    number needs no support; a sweeping flow's call is decided by the ``sweep`` rule unless an
    operator rule decided it."""
    rules = rules or default_rules()
    if support is None or sweeps is None:
        backing_day, swept_day = _replay(ds, s, rules)
        if support is None:
            support = np.ones(len(ds)) if rules.corroboration <= 0.0 else np.asarray(backing_day, dtype=np.float64)
        if sweeps is None:
            sweeps = swept_day
    out: list[Decision] = []
    rows = zip(ds.X.tolist(), ds.facts, s.tolist(), support.tolist(), sweeps, strict=True)
    for row, facts, score, backing, swept in rows:
        values = dict(zip(FEATURE_NAMES, row, strict=True))
        backing = 1.0 if costly(values) else backing
        f = Facts(
            facts.source_ip,
            facts.from_number,
            facts.to_number,
            facts.user_agent,
            score,
            values,
            backing,
            facts.dialled,
            facts.transport,
            facts.tls,
        )
        decision = rules.decide(f)
        decision = with_sweep(decision, swept[0], swept[1], rules.sweep.status or rules.reject_status)
        out.append(decision)
    return out


def actions_for(
    ds: Dataset,
    s: NDArray[np.float64],
    rules: RuleSet | None = None,
    support: NDArray[np.float64] | None = None,
    sweeps: Sequence[tuple[str, str]] | None = None,
) -> list[Action]:
    return [d.action for d in decisions_for(ds, s, rules, support, sweeps)]


def by_rule(decisions: list[Decision], rows: NDArray[np.bool_]) -> dict[str, int]:
    """How many of ``rows`` each rule (not the score thresholds) decided."""
    counts = Counter(decisions[i].rule or "" for i in np.flatnonzero(rows))
    return {rule: n for rule, n in sorted(counts.items()) if rule and not rule.startswith("score-")}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rates(y: NDArray[np.int64], actions: list[Action]) -> dict[str, Any]:
    """Counts and precision / recall / FPR for "flagged" and "blocked"."""
    out: dict[str, Any] = {"positives": int((y == 1).sum()), "negatives": int((y == 0).sum())}
    for what, hit in (("flagged", FLAGGED), ("blocked", BLOCKED)):
        flag = np.fromiter((a in hit for a in actions), dtype=bool, count=len(actions))
        tp = int((flag & (y == 1)).sum())
        fp = int((flag & (y == 0)).sum())
        out[what] = {
            "tp": tp,
            "fp": fp,
            "precision": _rate(tp, tp + fp),
            "recall": _rate(tp, out["positives"]),
            "fpr": _rate(fp, out["negatives"]),
        }
    return out


def _auc(y: NDArray[np.int64], s: NDArray[np.float64]) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else None


def _target(fold: Fold, r: dict[str, Any]) -> dict[str, Any] | None:
    if fold.kind == "attack" and fold.name in RECALL_TARGETS:
        goal = RECALL_TARGETS[fold.name]
        got = r["flagged"]["recall"]
        return {"metric": "recall (flagged)", "goal": goal, "value": got, "met": got is not None and got >= goal}
    if fold.kind == "legitimate":
        got = r["flagged"]["fpr"]
        return {
            "metric": "FPR (flagged)",
            "goal": FPR_TARGET,
            "value": got,
            "met": got is not None and got <= FPR_TARGET,
        }
    return None


def per_profile(test: Dataset, actions: list[Action], s: NDArray[np.float64]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in [n for n in PROFILES if n in set(test.profile.tolist())]:
        idx = np.flatnonzero(test.profile == name)
        acts = [actions[i] for i in idx]
        out[name] = {
            "label": PROFILES[name].label,
            "rows": len(idx),
            "flagged": sum(a in FLAGGED for a in acts) / len(idx),
            "blocked": sum(a in BLOCKED for a in acts) / len(idx),
            "mean_score": float(np.mean(s[idx])),
        }
    return out


def evaluate(
    train: Dataset,
    test: Dataset,
    params: TrainParams,
    full_model: Model,
    *,
    rules: RuleSet | None = None,
    log: Log | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]]]:
    """The report (JSON-ready) and the score sets for the curves: ``{name: (labels, scores)}``,
    the shipped model's first, then each held-out profile's fold (its own test set and model)."""
    rules = rules or default_rules()
    started = time.monotonic()
    all_folds = list(folds(train, test))
    pooled = np.full(len(test), np.nan)
    pooled_support = np.ones(len(test))
    sweep_day = sweeps_of(test, rules)  # per flow, whatever the scores: one replay for every fold
    fold_curves: dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
    results: list[dict[str, Any]] = []
    bar = _bar(len(all_folds) + 1, progress)
    skipped: list[str] = []
    for fold in all_folds:
        part = train.subset(fold.train_mask)
        if len(set(part.y.tolist())) < 2:  # e.g. the only attack profile of a short simulation
            skipped.append(fold.name)
            bar(fold.name)
            continue
        model = export(fit(part, params))
        sub = test.subset(fold.test_mask)
        s_day = scores(model, test.X)  # the whole day: every call counts toward corroboration
        support_day = support_of(test, s_day, rules)
        s, support = s_day[fold.test_mask], support_day[fold.test_mask]
        verdicts = decisions_for(sub, s, rules, support, [sweep_day[i] for i in np.flatnonzero(fold.test_mask)])
        actions = [d.action for d in verdicts]
        r = rates(sub.y, actions)
        held = np.isin(sub.profile, fold.held_out)
        if fold.kind != "family":
            pooled[np.flatnonzero(fold.test_mask)[held]] = s[held]
            pooled_support[np.flatnonzero(fold.test_mask)[held]] = support[held]
            fold_curves[f"held out: {fold.name}"] = (sub.y, s)
        why = errors(model, sub, actions, held, label=PROFILES[fold.held_out[0]].label)
        results.append(
            {
                "held_out": fold.name,
                "kind": fold.kind,
                "profiles": list(fold.held_out),
                "train_profiles": sorted(set(part.profile.tolist())),
                "train_rows": len(part),
                "test_rows": len(sub),
                "held_out_rows": int(held.sum()),
                **r,
                "auc": _auc(sub.y, s),
                "held_out_decided_by_rules": by_rule(verdicts, held),
                "target": _target(fold, r),
                "errors": why,
            }
        )
        if log is not None:
            log(_line(results[-1]))
        bar(fold.name)
    s_full = scores(full_model, test.X)
    verdicts_full = decisions_for(test, s_full, rules, support_of(test, s_full, rules), sweep_day)
    actions_full = [d.action for d in verdicts_full]
    bar("full model")
    overall = {
        **rates(test.y, actions_full),
        "auc": _auc(test.y, s_full),
        "by_profile": per_profile(test, actions_full, s_full),
        "decided_by_rules": {
            name: by_rule(verdicts_full, test.profile == name)
            for name in PROFILES
            if name in set(test.profile.tolist())
        },
    }
    curves = {"shipped model (all of the evaluation simulation)": (test.y, s_full), **fold_curves}
    report: dict[str, Any] = {
        "thresholds": {"suspect": rules.suspect_threshold, "reject": rules.reject_threshold},
        "corroboration": rules.corroboration,
        "rules": [spec.id for spec in rules.specs] or "defaults (no operator rules)",
        "flagged_means": "suspect, reject or drop",
        "blocked_means": "reject or drop",
        "targets": {"recall_flagged": RECALL_TARGETS, "fpr_flagged_max": FPR_TARGET},
        "held_out": [r for r in results if r["kind"] != "family"],
        "held_out_families": [r for r in results if r["kind"] == "family"],
        "overall": overall,
        "skipped": skipped,
    }
    done = ~np.isnan(pooled)
    pooled_actions: list[Action | None] = [None] * len(test)
    if done.any():
        keep = np.flatnonzero(done)
        held_out = test.subset(done)
        acts = actions_for(held_out, pooled[keep], rules, pooled_support[keep], [sweep_day[i] for i in keep])
        for i, a in zip(keep.tolist(), acts, strict=True):
            pooled_actions[i] = a
        report["overall_held_out"] = {
            **rates(held_out.y, acts),
            "auc": _auc(held_out.y, pooled[keep]),
            "note": "every evaluation row scored by the model that never saw its profile",
        }
    report["shared_addresses"] = shared_table(test, {"shipped": actions_full, "held_out": pooled_actions})
    report["targets_met"] = all(r["target"]["met"] for r in results if r["target"] is not None)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report, curves


def _product(ua: str) -> str:
    return ua.split("/")[0].split(" ")[0] or "(no User-Agent)"


def errors(
    model: Model, ds: Dataset, actions: list[Action], held: NDArray[np.bool_], label: int, sample: int = 2000
) -> dict[str, Any]:
    """Why a held-out group is misjudged: its wrong rows (people flagged, bots not flagged) per
    User-Agent product, and for flagged people the features that pushed their score most."""
    idx = np.flatnonzero(held)
    wrong = [int(i) for i in idx if (actions[i] in FLAGGED) != (label == 1)]
    total = Counter(_product(ds.facts[i].user_agent) for i in idx)
    bad = Counter(_product(ds.facts[i].user_agent) for i in wrong)
    out: dict[str, Any] = {
        "rows": len(wrong),
        "by_user_agent": {ua: {"wrong": n, "of": total[ua]} for ua, n in bad.most_common(5)},
    }
    if label == 0 and wrong:
        contrib: dict[str, float] = {}
        picked = wrong[:: max(1, len(wrong) // sample)]
        for i in picked:
            for name, c in model.explain(ds.X[i].tolist(), top=5)[1]:
                contrib[name] = contrib.get(name, 0.0) + c
        top = sorted(contrib.items(), key=lambda kv: kv[1], reverse=True)[:5]
        out["pushed_by"] = {name: round(c / len(picked), 3) for name, c in top}
    return out


def _line(r: dict[str, Any]) -> str:
    f, b = r["flagged"], r["blocked"]
    what = "recall" if r["kind"] != "legitimate" else "fpr"
    return (
        f"held out {r['held_out']:<17} {what} flagged {_pct(f[what])} blocked {_pct(b[what])}"
        f"  precision {_pct(f['precision'])}  ({r['held_out_rows']} rows)"
    )


def _pct(v: float | None) -> str:
    return "   n/a " if v is None else f"{100.0 * v:6.2f}%"


def _bar(total: int, enabled: bool) -> Callable[[str], None]:
    if not enabled:
        return lambda name: None
    import sys

    from tqdm import tqdm

    bar = tqdm(total=total, unit="fold", file=sys.stderr, desc="evaluate", dynamic_ncols=True)

    def step(name: str) -> None:
        bar.set_postfix_str(name, refresh=False)
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step
