"""Evaluation holds out whole groups and scores the full verdict path; plots are real PNGs."""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from antibot.detect.corroboration import NEW_FLOW_CALLS
from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import Model, _Tree
from antibot.detect.rules import RuleSet, RuleSpec
from antibot.proxy.decision import Action
from antibot.sim.profiles import PROFILES
from antibot.train.card import markdown, plot_curves
from antibot.train.dataset import EVAL_START, Dataset, RowFacts, SimConfig, build_dataset
from antibot.train.evaluate import by_rule, decide, decisions_for, default_rules, evaluate, folds, rates
from antibot.train.train import TrainParams, export, fit

TINY = TrainParams(trees=8, depth=2, min_samples_leaf=5)


def test_folds_hold_out_whole_profiles_and_families(small_train: Dataset, small_eval: Dataset) -> None:
    seen = []
    sources = np.asarray([f.source_ip for f in small_train.facts])
    for fold in folds(small_train, small_eval):
        trained_on = set(small_train.profile[fold.train_mask].tolist())
        assert trained_on.isdisjoint(fold.held_out), fold.name
        left_out = ~fold.train_mask & ~np.isin(small_train.profile, fold.held_out)
        if fold.kind == "legitimate":  # besides the group, only rows from its own addresses
            own = set(sources[small_train.profile == fold.name].tolist())
            assert set(sources[left_out].tolist()) <= own, fold.name
        else:
            assert not left_out.any(), fold.name  # only the group is left out
        tested = small_eval.subset(fold.test_mask)
        held = np.isin(tested.profile, fold.held_out)
        assert held.sum() == np.isin(small_eval.profile, fold.held_out).sum() > 0  # all of the group is tested
        label = PROFILES[fold.held_out[0]].label
        assert set(tested.y[~held].tolist()) == {1 - label}  # beside it, only the other label
        seen.append((fold.kind, fold.name))
    assert ("attack", "low_and_slow") in seen and ("attack", "wangiri") in seen
    legitimate = {name for name, p in PROFILES.items() if p.label == 0 and name in set(small_eval.profile.tolist())}
    assert {name for kind, name in seen if kind == "legitimate"} == legitimate
    assert legitimate >= {"office_pbx", "call_centre", "mobile_softphone", "chatty_carrier", "regional_carrier"}
    assert ("family", "fraud") in seen  # wangiri + toll_fraud together


def _synthetic(ds: Dataset, rows: list[tuple[str, str]]) -> Dataset:
    """``len(rows)`` rows of ``ds`` relabelled as ``(profile, source address)``."""
    part = ds.subset(np.arange(len(ds)) < len(rows))
    part.profile = np.asarray([p for p, _ in rows])
    part.family = np.asarray([PROFILES[p].family for p, _ in rows])
    part.y = np.asarray([PROFILES[p].label for p, _ in rows], dtype=np.int64)
    part.facts = [RowFacts(ip, "", "", "") for _, ip in rows]
    return part


def test_a_held_out_trunk_takes_the_attacks_it_carried_with_it(small_train: Dataset) -> None:
    """Wangiri transiting the carrier's SBCs is the carrier's traffic: not trained on when it is held out."""
    rows = [("chatty_carrier", "208.93.64.21"), ("chatty_carrier", "208.93.64.22"), ("office_pbx", "64.124.0.9")]
    rows += [("wangiri", "208.93.64.21"), ("wangiri", "196.200.0.7"), ("low_and_slow", "2.80.0.1")]
    train = _synthetic(small_train, rows)
    by_name = {f.name: f for f in folds(train, train)}
    assert by_name["chatty_carrier"].train_mask.tolist() == [False, False, True, False, True, True]
    assert by_name["office_pbx"].train_mask.tolist() == [True, True, False, True, True, True]
    assert by_name["wangiri"].train_mask.tolist() == [True, True, True, False, False, True]  # attacks: the profile only


def test_evaluate_reports_each_held_out_group(small_train: Dataset, small_eval: Dataset) -> None:
    full = export(fit(small_train, TINY))
    report, curves = evaluate(small_train, small_eval, TINY, full)
    by_name = {r["held_out"]: r for r in report["held_out"] + report["held_out_families"]}
    for name, r in by_name.items():
        assert not set(r["profiles"]) & set(r["train_profiles"]), name
        assert r["held_out_rows"] == int(np.isin(small_eval.profile, r["profiles"]).sum())
        for what in ("flagged", "blocked"):
            assert r[what]["tp"] + r[what]["fp"] <= r["test_rows"]
    assert by_name["low_and_slow"]["target"]["goal"] == 0.95
    assert by_name["office_pbx"]["target"]["metric"] == "FPR (flagged)"
    assert by_name["wangiri"]["target"] is None  # reported, no fixed target
    overall = report["overall"]
    assert overall["positives"] + overall["negatives"] == len(small_eval)
    assert set(overall["by_profile"]) == set(small_eval.profile.tolist())
    assert list(curves)[0].startswith("shipped model")
    assert len(curves["shipped model (all of the evaluation simulation)"][0]) == len(small_eval)
    for r in report["held_out"]:
        y, s = curves[f"held out: {r['held_out']}"]
        assert len(y) == r["test_rows"] and np.all((s >= 0) & (s <= 1))
    pooled = report["overall_held_out"]
    assert pooled["positives"] + pooled["negatives"] == len(small_eval)
    text = markdown(report)
    assert "| low_and_slow |" in text and "| office_pbx |" in text


def test_a_fold_left_with_one_label_is_skipped(small_train: Dataset, small_eval: Dataset) -> None:
    only = small_train.subset(np.isin(small_train.profile, ["office_pbx", "call_centre", "low_and_slow"]))
    test = small_eval.subset(np.isin(small_eval.profile, ["office_pbx", "call_centre", "low_and_slow"]))
    report, _ = evaluate(only, test, TINY, export(fit(only, TINY)))
    assert report["skipped"] == ["low_and_slow"]  # without it, no bot is left to learn from
    assert {r["held_out"] for r in report["held_out"]} == {"office_pbx", "call_centre"}


def _constant(score_logit: float) -> Model:
    leaf = _Tree((-1,), (0.0,), (0,), (0,), (0.0,))
    return Model(FEATURE_NAMES, score_logit, 0.1, [leaf])


def test_the_verdict_path_applies_thresholds_and_rules(small_eval: Dataset) -> None:
    rows = small_eval.subset(np.arange(len(small_eval)) < 40)
    plain = RuleSet([], corroboration=0.0)  # the score alone
    _, actions = decide(_constant(4.0), rows, plain)  # score 0.982: reject
    assert set(actions) == {Action.REJECT}
    _, actions = decide(_constant(0.5), rows, plain)  # score 0.62: suspect
    assert set(actions) == {Action.SUSPECT}
    r = rates(rows.y, actions)
    assert r["flagged"]["tp"] + r["flagged"]["fp"] == 40 and r["blocked"]["tp"] + r["blocked"]["fp"] == 0
    source = rows.facts[0].source_ip
    allow = RuleSet([RuleSpec("trusted", phase="allow", action="relay", cidrs=(f"{source}/32",))])
    _, actions = decide(_constant(4.0), rows, allow)
    relayed = {rows.facts[i].source_ip for i, a in enumerate(actions) if a is Action.RELAY}
    assert relayed == {source}


def test_corroboration_replays_the_day_in_time_order(small_eval: Dataset) -> None:
    """Every call scores 0.982 and no call ends: a flow's first 20 calls are isolated (no
    outcome yet: relayed as suspect by default, as pass here), its 21st on are backed
    (rejected); shuffling the rows changes nothing (replayed by time)."""
    answered = small_eval.subset(np.arange(len(small_eval)) < 200)
    rows = answered.subset(np.ones(len(answered), dtype=bool))
    rows.facts = [dataclasses.replace(f, ended=0.0, metrics=()) for f in answered.facts]  # outcomes: below
    order = np.argsort(rows.ts, kind="stable")
    first: dict[tuple[str, str], list[int]] = {}
    for i in order:
        first.setdefault((rows.facts[i].source_ip, rows.facts[i].ua_fingerprint), []).append(int(i))
    firsts = {i for calls in first.values() for i in calls[: int(NEW_FLOW_CALLS)]}
    rules = RuleSet([], corroboration=0.5, isolated_verdict="pass")
    decisions = decisions_for(rows, np.full(len(rows), 0.982), rules)
    isolated = {i for i, d in enumerate(decisions) if d.rule == "score-isolated"}
    assert isolated and isolated <= firsts  # only first calls (a busy fingerprint may back some)
    assert any(decisions[i].action is Action.REJECT for i in range(len(rows)))
    assert all(decisions[i].action is Action.REJECT for i in range(len(rows)) if i not in isolated)
    assert all(decisions[i].action is Action.RELAY for i in isolated)
    perm = np.random.default_rng(1).permutation(len(rows))
    shuffled = rows.subset(np.ones(len(rows), dtype=bool))
    shuffled.X, shuffled.ts = rows.X[perm], rows.ts[perm]
    shuffled.facts = [rows.facts[i] for i in perm]
    again = decisions_for(shuffled, np.full(len(rows), 0.982), rules)
    assert [again[j].rule for j in range(len(rows))] == [decisions[perm[j]].rule for j in range(len(rows))]
    # with the calls' outcomes fed back, a flow's share counts from its first failed or
    # talked-through call or fifth hang-up (bots are backed sooner) and flows whose calls
    # people answer back nothing: a row isolated only then is a person's
    fed = decisions_for(answered, np.full(len(rows), 0.982), rules)
    fed_isolated = {i for i, d in enumerate(fed) if d.rule == "score-isolated"}
    assert all(answered.y[i] == 0 for i in fed_isolated - isolated)
    bots = [i for i in range(len(rows)) if answered.y[i] == 1]
    assert sum(i in fed_isolated for i in bots) < sum(i in isolated for i in bots)
    low = decisions_for(rows, np.full(len(rows), 0.1), rules)
    swept = [i for i, d in enumerate(low) if d.rule == "sweep"]  # whatever the score: bots only
    assert all(rows.y[i] == 1 for i in swept)
    assert all(d.action is Action.RELAY and not d.rule for i, d in enumerate(low) if i not in swept)


def test_a_listed_costly_number_needs_no_support_in_evaluation_either(small_eval: Dataset) -> None:
    rows = small_eval.subset(np.arange(len(small_eval)) < 4)
    rows.X = rows.X.copy()
    rows.X[:2, FEATURE_NAMES.index("to_premium")] = 1.0
    rules = RuleSet([], corroboration=0.5)
    decisions = decisions_for(rows, np.full(4, 0.982), rules, support=np.zeros(4))
    assert [d.rule for d in decisions] == ["score-reject", "score-reject", "score-isolated", "score-isolated"]


def test_the_destination_rule_acts_in_evaluation_as_in_the_proxy(small_eval: Dataset) -> None:
    """The replay keeps each call's dialled international numbers, so the default destination
    rule rejects a toll-fraud call whatever its score, as ``antibot run`` does."""
    rows = small_eval.subset(np.arange(len(small_eval)) < 3)
    assert all(isinstance(f.dialled, tuple) for f in rows.facts)
    rows.facts = [replace(rows.facts[0], dialled=("88213456789",)), *rows.facts[1:]]
    decisions = decisions_for(rows, np.zeros(3))
    assert decisions[0].action == Action.REJECT and decisions[0].rule == "deny-destination:premium"
    assert [d.action for d in decisions[1:]] == [Action.RELAY, Action.RELAY]


def test_a_toll_fraud_row_is_replayed_with_what_it_dialled(url: str) -> None:
    ds = build_dataset(SimConfig(seed=5, duration=1800.0, start=EVAL_START, profiles=("toll_fraud",)), url)
    assert len(ds) > 0 and all(f.dialled for f in ds.facts)


def test_the_default_verdict_path_is_antibot_runs(small_eval: Dataset) -> None:
    rules = default_rules()
    assert (rules.suspect_threshold, rules.reject_threshold, rules.mode) == (0.5, 0.9, "enforce")
    assert rules.corroboration == 0.5
    rows = small_eval.subset(np.arange(len(small_eval)) < 10)
    rows.facts = [replace(f, user_agent="friendly-scanner") if i % 2 else f for i, f in enumerate(rows.facts)]
    scores = np.zeros(len(rows))  # the model says "person" for all of them
    decisions = decisions_for(rows, scores)
    assert [d.action for d in decisions] == [Action.REJECT if i % 2 else Action.RELAY for i in range(10)]
    assert by_rule(decisions, np.ones(10, dtype=bool)) == {"deny-list:ua": 5}


def test_rates() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    acts = [Action.REJECT, Action.SUSPECT, Action.RELAY, Action.DROP, Action.RELAY, Action.RELAY, Action.RELAY]
    r = rates(y, acts)
    assert r["flagged"] == {"tp": 2, "fp": 1, "precision": 2 / 3, "recall": 2 / 3, "fpr": 0.25}
    assert r["blocked"] == {"tp": 1, "fp": 1, "precision": 0.5, "recall": 1 / 3, "fpr": 0.25}
    assert rates(np.array([0]), [Action.RELAY])["flagged"]["precision"] is None


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_curves_are_written_as_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = np.array([0] * 300 + [1] * 100)
    s = np.clip(np.concatenate([rng.beta(1, 8, 300), rng.beta(8, 1, 100)]), 0.0, 1.0)
    roc, pr = tmp_path / "m.roc.png", tmp_path / "m.pr.png"
    curves = {"model": (y, s), "held out: office_pbx": (y, s[::-1].copy())}
    plot_curves(curves, {"suspect": 0.5, "reject": 0.9}, roc, pr)
    for path in (roc, pr):
        width, height = _png_size(path)
        assert width >= 400 and height >= 300
    from matplotlib.image import imread

    pixels = imread(str(roc))
    assert pixels.std() > 0.05  # something was drawn


def test_png_check_catches_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    with pytest.raises(AssertionError):
        _png_size(bad)
