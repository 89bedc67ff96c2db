"""Export to the shipped JSON format is exact, and the card pins the exact model file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import Model, ModelError, _Tree, load_model
from antibot.train.card import Paths, make_card, write_json, write_model
from antibot.train.dataset import Dataset
from antibot.train.train import (
    TELLS,
    Bag,
    ExportError,
    TrainParams,
    add_tell_rows,
    cap_profiles,
    export,
    fit,
    sample_weights,
    train_model,
    verify_export,
)

TINY = TrainParams(trees=12, depth=3, max_features=None, min_samples_leaf=5, tell_rows=0)


def test_export_equals_sklearn_decision_function(small_train: Dataset, small_eval: Dataset) -> None:
    clf = fit(small_train, TINY)
    model = export(clf)
    assert model.features == FEATURE_NAMES and len(model.trees) == TINY.trees and model.rate == TINY.learning_rate
    assert verify_export(clf, model, small_train.X) <= 1e-9
    # Rows the trees never saw, and random ones far outside the training ranges.
    rng = np.random.default_rng(7)
    noise = small_eval.X + rng.normal(0.0, 0.5, small_eval.X.shape)
    for X in (small_eval.X, noise):
        ours = np.array([model.raw(row) for row in X.tolist()])
        assert np.max(np.abs(ours - clf.decision_function(X))) <= 1e-9
        assert len(set(np.round(ours, 6).tolist())) > 10  # a real model, not a constant


def test_export_keeps_the_prior_of_unbalanced_data(small_train: Dataset) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    clf = GradientBoostingClassifier(n_estimators=5, max_depth=2, learning_rate=0.3).fit(small_train.X, small_train.y)
    model = export(clf)
    prior = small_train.y.mean()
    assert model.base == pytest.approx(np.log(prior / (1 - prior))) and model.base < -0.5
    assert verify_export(clf, model, small_train.X) <= 1e-9


def test_verify_export_refuses_a_wrong_export(small_train: Dataset) -> None:
    clf = fit(small_train, TINY)
    model = export(clf)
    t = model.trees[0]
    leaf = t.feature.index(-1)
    value = list(t.value)
    value[leaf] += 0.5
    model.trees = (_Tree(t.feature, t.threshold, t.left, t.right, tuple(value)), *model.trees[1:])
    with pytest.raises(ExportError):
        verify_export(clf, model, small_train.X)


def test_inner_node_values_are_the_mean_of_their_leaves(small_train: Dataset) -> None:
    # Saabas attribution (child value - node value) needs each inner node to hold the expected
    # output below it; sklearn's inner values are raw residual means, on another scale.
    clf = fit(small_train, TINY)
    assert not isinstance(clf, Bag)
    model = export(clf)
    for i, t in enumerate(model.trees):
        sk = clf.estimators_[i, 0].tree_
        w = sk.weighted_n_node_samples
        for node, f in enumerate(t.feature):
            if f < 0:
                assert t.value[node] == sk.value[node, 0, 0]
            else:
                a, b = t.left[node], t.right[node]
                expected = (t.value[a] * w[a] + t.value[b] * w[b]) / (w[a] + w[b])
                assert t.value[node] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    scanner_like = small_train.X[small_train.y == 1][0].tolist()
    score, top = model.explain(scanner_like)
    assert score == pytest.approx(model.score(scanner_like)) and top and all(c > 0 for _, c in top)


def test_weights_balance_labels_and_profiles(small_train: Dataset) -> None:
    w = sample_weights(small_train)
    n = len(small_train)
    for label in (0, 1):
        assert w[small_train.y == label].sum() == pytest.approx(n / 2)
        totals = {
            p: w[(small_train.y == label) & (small_train.profile == p)].sum()
            for p in set(small_train.profile[small_train.y == label].tolist())
        }
        assert max(totals.values()) == pytest.approx(min(totals.values()))
    plain = sample_weights(small_train, balance_profiles=False)
    assert len(set(plain[small_train.y == 0].tolist())) == 1


def test_tell_rows_are_people_with_one_tool_tell_set(small_train: Dataset) -> None:
    out = add_tell_rows(small_train, 15, seed=0)
    assert len(out) == len(small_train) + 15 * len(TELLS)
    for tell in TELLS:
        rows = out.subset(out.profile == f"tell:{tell}")
        assert len(rows) == 15 and set(rows.y.tolist()) == {1} and set(rows.family.tolist()) == {"tell"}
        col = FEATURE_NAMES.index(tell)
        assert (rows.X[:, col] == 1.0).all()
        people = small_train.X[small_train.y == 0]
        for row in rows.X:  # a person's row, but for the tell
            same = (people == row) | (np.arange(len(FEATURE_NAMES)) == col)
            assert same.all(axis=1).any()
    assert add_tell_rows(small_train, 0, seed=0) is small_train
    w = sample_weights(out, tell_share=0.25)
    bots = {p: w[out.profile == p].sum() for p in set(out.profile[out.y == 1].tolist())}
    assert bots["tell:ua_scanner"] == pytest.approx(0.25 * bots["low_and_slow"])


def test_a_scanner_user_agent_alone_makes_a_bot(small_train: Dataset) -> None:
    params = TrainParams(trees=30, learning_rate=0.2, min_samples_leaf=5, exclude=(), tell_rows=1000, tell_share=0.5)
    model = export(fit(small_train, params))
    people = small_train.X[small_train.y == 0]
    col = FEATURE_NAMES.index("ua_scanner")
    scanner_ua = people.copy()
    scanner_ua[:, col] = 1.0
    assert np.mean([model.score(r) for r in people.tolist()]) < 0.2
    assert min(model.score(r) for r in scanner_ua.tolist()) >= 0.5  # every one flagged


def test_cap_keeps_at_most_n_rows_per_profile(small_train: Dataset) -> None:
    capped = cap_profiles(small_train, 20, seed=0)
    counts = {p: int((capped.profile == p).sum()) for p in set(small_train.profile.tolist())}
    assert max(counts.values()) == 20
    assert counts["toll_fraud"] == int((small_train.profile == "toll_fraud").sum())
    assert np.all(np.diff(capped.ts) >= 0)


def _ship(ds: Dataset, out: Path) -> Paths:
    _, model, error = train_model(ds, TINY)
    paths = Paths.under(out)
    sha = write_model(model, paths.model)
    card = make_card(
        model=model,
        sha256=sha,
        training=ds.counts(),
        evaluation=None,
        params=TINY.describe(),
        export_error=error,
        report=None,
    )
    write_json(card, paths.card)
    return paths


def test_card_pins_the_written_model(small_train: Dataset, tmp_path: Path) -> None:
    paths = _ship(small_train, tmp_path)
    card = json.loads(paths.card.read_text())
    assert card["sha256"] == hashlib.sha256(paths.model.read_bytes()).hexdigest()
    assert card["features"] == list(FEATURE_NAMES)
    assert card["model"]["trees"] == TINY.trees and card["model"]["max_depth"] <= TINY.depth
    assert card["model"]["export_max_abs_error"] <= 1e-9
    assert set(card["libraries"]) == {"python", "sklearn", "numpy"}
    assert card["created"].endswith("Z") and card["name"] == "antibot-gbt"
    model, loaded = load_model(paths.model, FEATURE_NAMES)
    assert loaded == card and len(model.trees) == TINY.trees


def test_a_tampered_model_is_refused(small_train: Dataset, tmp_path: Path) -> None:
    paths = _ship(small_train, tmp_path)
    data = json.loads(paths.model.read_text())
    data["trees"][0]["value"][-1] += 1.0
    paths.model.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    with pytest.raises(ModelError, match="sha256"):
        load_model(paths.model, FEATURE_NAMES)


def test_a_card_for_other_features_is_refused(small_train: Dataset, tmp_path: Path) -> None:
    paths = _ship(small_train, tmp_path)
    card = json.loads(paths.card.read_text())
    card["features"] = card["features"][::-1]
    paths.card.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="feature"):
        load_model(paths.model, FEATURE_NAMES)


def _used(model: Model) -> set[str]:
    return {FEATURE_NAMES[f] for t in model.trees for f in t.feature if f >= 0}


def test_excluded_features_are_never_split_on(small_train: Dataset) -> None:
    favourites = sorted(_used(export(fit(small_train, TINY))))[:3]
    assert len(favourites) == 3
    model = export(fit(small_train, replace(TINY, exclude=tuple(favourites))))
    assert _used(model) and _used(model).isdisjoint(favourites)
    with pytest.raises(ValueError, match="unknown"):
        fit(small_train, replace(TINY, exclude=("no_such_feature",)))


def test_params_round_trip_through_the_card() -> None:
    params = replace(TINY, exclude=("hdr_count",))
    assert TrainParams.from_dict(json.loads(json.dumps(params.describe()))) == params


def test_training_needs_both_labels(small_train: Dataset) -> None:
    people = small_train.subset(small_train.y == 0)
    with pytest.raises(ValueError, match="both labels"):
        fit(people, replace(TINY, trees=2))


def test_unknown_constrained_features_are_refused(small_train: Dataset) -> None:
    with pytest.raises(ValueError, match="unknown"):
        fit(small_train, replace(TINY, monotone=("no_such_feature",)))


def test_a_constrained_or_shifted_fit_exports_exactly(small_train: Dataset, small_eval: Dataset) -> None:
    params = replace(TINY, monotone=("src_fail_ratio", "log_src_distinct_to_60s"), score_shift=-0.3)
    assert params.describe()["estimator"] == "antibot.train.boost.MonotoneGBT"
    assert TrainParams.from_dict(json.loads(json.dumps(params.describe()))) == params
    clf = fit(small_train, params)
    model = export(clf)
    assert verify_export(clf, model, small_train.X) <= 1e-9
    assert verify_export(clf, model, small_eval.X) <= 1e-9
    plain = export(fit(small_train, replace(params, score_shift=0.0)))
    assert model.base == pytest.approx(plain.base - 0.3)


def test_one_bag_is_the_plain_booster(small_train: Dataset) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    one = fit(small_train, replace(TINY, bags=1))
    assert isinstance(one, GradientBoostingClassifier)  # not wrapped: bags=1 is the model as before
    assert (one.random_state, one.n_estimators) == (TINY.random_state, TINY.trees)
    again = export(fit(small_train, TINY))
    model = export(one)
    assert (model.base, model.rate) == (again.base, again.rate) and model.trees == again.trees


def test_bags_export_the_mean_of_their_boosters(small_train: Dataset, small_eval: Dataset) -> None:
    bag = fit(small_train, replace(TINY, bags=2))
    assert isinstance(bag, Bag) and len(bag.boosters) == 2
    model = export(bag)
    assert len(model.trees) == 2 * TINY.trees and model.rate == TINY.learning_rate / 2
    # each booster has its own seed (and so its own row sample and trees) ...
    first, second = (export(fit(small_train, replace(TINY, random_state=s))) for s in (0, 1))
    assert model.trees == first.trees + second.trees and first.trees != second.trees
    # ... and the exported model scores as the mean of their log-odds, on rows never trained on
    X = small_eval.X
    mean = (bag.boosters[0].decision_function(X) + bag.boosters[1].decision_function(X)) / 2
    ours = np.array([model.raw(row) for row in X.tolist()])
    assert np.max(np.abs(ours - mean)) <= 1e-9
    assert np.max(np.abs(ours - np.array([first.raw(row) for row in X.tolist()]))) > 1e-3
    assert verify_export(bag, model, X) <= 1e-9


def test_verify_export_checks_a_bag_against_the_mean(small_train: Dataset) -> None:
    bag = fit(small_train, replace(TINY, bags=2))
    assert isinstance(bag, Bag)
    with pytest.raises(ExportError):  # one booster's export is not the bag's
        verify_export(bag, export(bag.boosters[0]), small_train.X)


def test_bags_must_be_positive_and_round_trip(small_train: Dataset) -> None:
    with pytest.raises(ValueError, match="bags"):
        fit(small_train, replace(TINY, bags=0))
    params = replace(TINY, bags=3)
    assert TrainParams.from_dict(json.loads(json.dumps(params.describe()))) == params
