"""Fit gradient-boosted trees with scikit-learn (or, on request, under monotone constraints: see
:mod:`.boost`) and export them to ``antibot-gbt/1`` JSON.

The export is checked, not trusted: :func:`export` rebuilds the model as
:class:`antibot.detect.model.Model` and :func:`verify_export` requires its :meth:`Model.raw` to
equal the booster's ``decision_function`` on every training row (within 1e-9), or raises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import GradientBoostingClassifier

from ..detect.features import FEATURE_NAMES
from ..detect.model import Model, _Tree
from .boost import MonotoneGBT
from .dataset import FEEDBACK, Dataset

#: Binary features that by construction only tools produce: a scanner's own User-Agent
#: (lists.SCANNER_UAS: "a person's phone never sends these") and SIPVicious' branch format.
#: The simulated scanners always carry several other tells too, so without help the trees
#: spread the weight over all of them and a phone-like message with a scanner UA scores low.
TELLS: tuple[str, ...] = ("ua_scanner", "via_branch_dash_digits")
#: Family/profile prefix of the rows :func:`add_tell_rows` makes.
TELL = "tell"

#: Features that say which product or installation wrote the message rather than what the caller
#: does: the raw Max-Forwards value (70 from a phone, 60-69 behind 1-10 hops), the number of header
#: lines, and whether Allow, Supported or a User-Agent are there (SBCs strip them, admins switch
#: them off) are set by the vendor and the path, and every site has other vendors and paths. A
#: model splitting on them memorises the trunks it was trained on and flags any unseen one (in the
#: held-out evaluation they were among the top reasons a legitimate profile never seen in
#: training was flagged). They stay in the feature vector (the card's list and the proxy's code do
#: not change, operator rules may still use them); the trees may not split on them. The tool tells
#: that are not identity of a product but of a scanner (``max_forwards_odd``, the branch format,
#: the scanner User-Agents) stay in.
IDENTITY_FEATURES: tuple[str, ...] = ("max_forwards", "hdr_count", "no_allow", "no_supported", "no_user_agent")

#: Counters that more of is never evidence of a person, for ``TrainParams(monotone=MONOTONE)``
#: (monotone constraints, see :mod:`.boost`): bursts from one source (``log_src_1s``,
#: ``log_src_10s``), one caller ID in more calls and one callee called more (``log_from_*``,
#: ``log_to_*``), more distinct callees and a larger share of new ones (``log_*_distinct_to_*``,
#: ``src_to_diversity_*``), one caller ID or fingerprint on more addresses (spoofing, botnets),
#: larger failed / short-call shares, more sequential dialling. Volumes stay free (a trunk is the
#: busiest legitimate source, a botnet spreads itself thin).
#:
#: NOT the default. Tried for the held-out FPR target of issue 3 (with ``score_shift=-0.3``, both
#: chosen on the validation simulation, seed 3, with a simulator whose carriers and collections
#: platform send caller identity only on most calls): on seed 3 the unseen low-and-slow botnet
#: went from 80 % to 99.5 % flagged (unconstrained, a fingerprint on many addresses had been
#: learnt as "popular softphone, so human") and 5 of 9 held-out legitimate profiles were within
#: 0.1 %. It did not carry over to other days: held-out robodialer recall 69 % (seed 2) and 24 %
#: (seed 4), the collections centre 95 % flagged on seed 4, 3 of 9 legitimate profiles within
#: 0.1 % on seed 2. The shipped model is therefore still scikit-learn's unconstrained booster.
MONOTONE: tuple[str, ...] = (
    "log_src_1s",
    "log_src_10s",
    "log_from_60s",
    "log_from_1h",
    "log_to_60s",
    "log_to_1h",
    "log_src_distinct_to_60s",
    "log_src_distinct_to_1h",
    "log_from_distinct_to_60s",
    "log_from_distinct_to_1h",
    "log_from_distinct_src_1h",
    "log_ua_distinct_src_1h",
    "src_to_diversity_60s",
    "src_to_diversity_1h",
    "src_fail_ratio",
    "src_short_ratio",
    "seq_near",
    "seq_run",
    "seq_score",
)

#: Largest |Model.raw - decision_function| accepted by :func:`verify_export`.
EXPORT_TOLERANCE = 1e-9


class ExportError(RuntimeError):
    """The exported JSON model does not score like the scikit-learn model it came from."""


@dataclass(frozen=True, slots=True)
class TrainParams:
    """Model size and fitting parameters (recorded in the model card)."""

    trees: int = 100
    depth: int = 3
    learning_rate: float = 0.15
    subsample: float = 0.8
    #: Large leaves: a leaf must speak for many calls, not for one installation's quirk (on the
    #: simulation, 20 -> 100 took the held-out collections-centre FPR from 4-60 % to under 1 %).
    min_samples_leaf: int = 100
    #: Fraction of the features each split may choose from: 4x faster fits, and trees that
    #: cannot all lean on the same one or two tells.
    max_features: float = 0.3
    #: Rows kept per simulated profile (a seeded uniform sample; feedback rows are all kept):
    #: a day of carrier traffic adds little beyond its first few thousand rows but cost.
    max_rows_per_profile: int = 5000
    random_state: int = 0
    #: Features the trees may not split on (they stay in the vector, with no effect on the score).
    exclude: tuple[str, ...] = IDENTITY_FEATURES
    #: Features the score may only rise with (see :data:`MONOTONE`); any, or a ``score_shift``,
    #: fits :class:`.boost.MonotoneGBT` instead of scikit-learn's booster.
    monotone: tuple[str, ...] = ()
    #: Log-odds added to the fitted model: moves where the policy's fixed thresholds (suspect 0.5,
    #: reject 0.9) fall, since the trees are fitted with both labels weighted equally.
    score_shift: float = 0.0
    #: Within each label, give every simulated profile the same total weight (a big profile
    #: such as the carrier must not drown a small one such as the office phones).
    balance_profiles: bool = True
    #: Tells that no person's phone sends (see :data:`TELLS`): for each, copies of up to this many
    #: legitimate rows with the tell set are added as bots, so that the tell alone decides even
    #: when the rest of the message looks like a phone. With the varied legitimate traffic the
    #: held-out scanner recall without them swung between 93 % and 100 % from one simulation to
    #: the next (the trees spread the weight over tells that phones share); with them it is 100 %.
    tell_rows: int = 1000
    #: Weight of each tell's rows, as a fraction of one simulated bot profile's weight.
    tell_share: float = 0.2
    #: Boosters fitted with seeds ``random_state``, ``random_state + 1``, ... (each on its own
    #: row sample and tell rows) and averaged in log-odds (:class:`Bag`); exported as one model.
    bags: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainParams:
        """Parameters as :meth:`describe` wrote them (in a model card); unknown keys ignored."""
        known: dict[str, Any] = {}
        for key in cls.__dataclass_fields__:
            if key in data:
                known[key] = tuple(data[key]) if isinstance(data[key], list) else data[key]
        return cls(**known)

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["exclude"] = list(self.exclude)
        out["monotone"] = list(self.monotone)
        estimator = (
            "antibot.train.boost.MonotoneGBT"
            if self.monotone or self.score_shift
            else "sklearn.ensemble.GradientBoostingClassifier"
        )
        return {"estimator": estimator, "loss": "log_loss", **out}


def sample_weights(ds: Dataset, balance_profiles: bool = True, tell_share: float = 0.2) -> NDArray[np.float64]:
    """Class-balanced weights (each label sums to half the rows), times each row's own weight.

    With ``balance_profiles``, each profile also gets an equal share of its label's weight, but
    the :func:`add_tell_rows` profiles only ``tell_share`` of a simulated profile's share.
    Feedback rows keep their own weight relative to an average row of their label.
    """
    n = len(ds)
    w = np.zeros(n, dtype=np.float64)
    for label in (0, 1):
        in_label = ds.y == label
        count = int(in_label.sum())
        if not count:
            continue
        if balance_profiles:
            profiles = sorted(set(ds.profile[in_label].tolist()))
            share = {p: tell_share if p.startswith(f"{TELL}:") else 1.0 for p in profiles}
            total = sum(share.values())
            for p in profiles:
                rows = in_label & (ds.profile == p)
                w[rows] = n / 2.0 * share[p] / total / rows.sum()
        else:
            w[in_label] = n / 2.0 / count
    return w * ds.weight


def cap_profiles(ds: Dataset, limit: int, seed: int) -> Dataset:
    """At most ``limit`` rows of each simulated profile (seeded sample, time order kept)."""
    rng = np.random.default_rng(seed)
    keep = np.ones(len(ds), dtype=bool)
    for name in sorted(set(ds.profile.tolist()) - {FEEDBACK}):
        idx = np.flatnonzero(ds.profile == name)
        if len(idx) > limit > 0:
            keep[idx] = False
            keep[rng.choice(idx, limit, replace=False)] = True
    return ds if keep.all() else ds.subset(keep)


def add_tell_rows(ds: Dataset, limit: int, seed: int) -> Dataset:
    """``ds`` plus, for each of :data:`TELLS`, up to ``limit`` of its legitimate rows (a seeded
    sample) with that tell set to 1 and labelled bot (profile ``tell:<feature>``)."""
    people = np.flatnonzero(ds.y == 0)
    if limit <= 0 or not len(people):
        return ds
    rng = np.random.default_rng(seed)
    parts = [ds]
    for tell in TELLS:
        mask = np.zeros(len(ds), dtype=bool)
        mask[rng.choice(people, min(limit, len(people)), replace=False)] = True
        part = ds.subset(mask)
        part.X[:, FEATURE_NAMES.index(tell)] = 1.0
        part.y[:] = 1
        part.family = np.asarray([TELL] * len(part))
        part.profile = np.asarray([f"{TELL}:{tell}"] * len(part))
        parts.append(part)
    return Dataset.concat(parts)


#: One fitted booster: this module's or scikit-learn's own.
Booster: TypeAlias = GradientBoostingClassifier | MonotoneGBT


class Bag:
    """Boosters averaged in log-odds: ``decision_function`` is the mean of theirs. The mean of
    additive tree models is one additive tree model (mean base, learning rate / K, all trees),
    which is how :func:`export` writes it."""

    def __init__(self, boosters: Sequence[Booster]) -> None:
        if not boosters:
            raise ValueError("a bag needs at least one booster")
        rates = {float(b.learning_rate) for b in boosters}
        widths = {int(b.n_features_in_) for b in boosters}
        if len(rates) != 1 or len(widths) != 1:
            raise ValueError("bagged boosters must share the learning rate and the features")
        self.boosters: tuple[Booster, ...] = tuple(boosters)
        self.n_features_in_ = widths.pop()

    def decision_function(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        total = np.zeros(X.shape[0], dtype=np.float64)
        for b in self.boosters:
            total += np.asarray(b.decision_function(X), dtype=np.float64)
        return total / len(self.boosters)


#: What :func:`fit` returns and :func:`export` accepts: one booster (``bags=1``) or a :class:`Bag`.
Fitted: TypeAlias = Booster | Bag


def fit(ds: Dataset, params: TrainParams) -> Fitted:
    """A binary log-loss GBT on ``ds`` (both labels required); with ``params.bags`` > 1, a
    :class:`Bag` of that many, seeded ``random_state + i``."""
    if len(set(ds.y.tolist())) < 2:
        raise ValueError("training data needs both labels (people and bots)")
    if params.bags < 1:
        raise ValueError("bags must be at least 1")
    if params.bags == 1:
        return _fit_one(ds, params)
    return Bag([_fit_one(ds, replace(params, random_state=params.random_state + i)) for i in range(params.bags)])


def _fit_one(ds: Dataset, params: TrainParams) -> Booster:
    ds = add_tell_rows(
        cap_profiles(ds, params.max_rows_per_profile, params.random_state), params.tell_rows, params.random_state
    )
    for what, names in (("exclude", params.exclude), ("constrain", params.monotone)):
        unknown = set(names) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"cannot {what} unknown feature(s): {', '.join(sorted(unknown))}")
    shared: dict[str, Any] = {
        "n_estimators": params.trees,
        "max_depth": params.depth,
        "learning_rate": params.learning_rate,
        "subsample": params.subsample,
        "min_samples_leaf": params.min_samples_leaf,
        "max_features": params.max_features,
        "random_state": params.random_state,
    }
    clf: Booster
    if params.monotone or params.score_shift:
        cst = [1 if name in params.monotone else 0 for name in FEATURE_NAMES]
        clf = MonotoneGBT(**shared, monotonic_cst=cst, shift=params.score_shift)
    else:  # no constraint, no shift: scikit-learn's own booster (the same algorithm)
        clf = GradientBoostingClassifier(loss="log_loss", **shared)
    X = ds.X.copy()
    X[:, [FEATURE_NAMES.index(name) for name in params.exclude]] = 0.0  # constant: never split on
    clf.fit(X, ds.y, sample_weight=sample_weights(ds, params.balance_profiles, params.tell_share))
    return clf


def _base(clf: Booster) -> float:
    if isinstance(clf, MonotoneGBT):
        return float(clf.base_)
    prior = float(clf.init_.class_prior_[1])
    return math.log(prior / (1.0 - prior))


def _tree(est: Any) -> _Tree:
    """One regression tree: leaves keep sklearn's values; each inner node gets the training-
    weighted mean of the leaves below it, so that the path attribution of ``Model.explain``
    (Saabas: child value - node value) adds up to the tree's output minus its mean."""
    t = est.tree_
    feature = [int(f) if int(f) >= 0 else -1 for f in t.feature]
    left = [int(c) for c in t.children_left]
    right = [int(c) for c in t.children_right]
    weight = [float(w) for w in t.weighted_n_node_samples]
    value = [float(v) for v in t.value[:, 0, 0]]
    threshold = [float(th) if feature[i] >= 0 else 0.0 for i, th in enumerate(t.threshold)]

    def fill(node: int) -> float:
        if feature[node] < 0:
            return value[node]
        a, b = fill(left[node]), fill(right[node])
        wa, wb = weight[left[node]], weight[right[node]]
        value[node] = (a * wa + b * wb) / (wa + wb) if wa + wb > 0 else (a + b) / 2.0
        return value[node]

    fill(0)
    return _Tree(tuple(feature), tuple(threshold), tuple(left), tuple(right), tuple(value))


def export(clf: Fitted, features: Sequence[str] = FEATURE_NAMES) -> Model:
    """The fitted classifier as an :class:`antibot.detect.model.Model` (a :class:`Bag` as one
    model: the mean of the bases, the learning rate divided by the bag size, all the trees)."""
    if clf.n_features_in_ != len(features):
        raise ExportError(f"model has {clf.n_features_in_} features, expected {len(features)}")
    boosters = clf.boosters if isinstance(clf, Bag) else (clf,)
    trees = [_tree(b.estimators_[i, 0]) for b in boosters for i in range(b.estimators_.shape[0])]
    base = math.fsum(_base(b) for b in boosters) / len(boosters)
    return Model(features, base, float(boosters[0].learning_rate) / len(boosters), trees)


def verify_export(clf: Fitted, model: Model, X: NDArray[np.float64]) -> float:
    """Max |Model.raw - decision_function| over ``X``; raises :class:`ExportError` above tolerance."""
    expected = np.asarray(clf.decision_function(X), dtype=np.float64)
    worst = 0.0
    for i, row in enumerate(X.tolist()):
        diff = abs(model.raw(row) - float(expected[i]))
        if not diff <= EXPORT_TOLERANCE:  # also catches NaN
            raise ExportError(f"exported model differs from sklearn on row {i}: {diff:.3g}")
        worst = max(worst, diff)
    return worst


def train_model(ds: Dataset, params: TrainParams) -> tuple[Fitted, Model, float]:
    """Fit, export and verify on the whole of ``ds``: ``(sklearn model, Model, max export error)``."""
    clf = fit(ds, params)
    model = export(clf)
    return clf, model, verify_export(clf, model, ds.X)


def scores(model: Model, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(bot) of each row, computed by the shipped scorer itself."""
    return np.fromiter((model.score(row) for row in X.tolist()), dtype=np.float64, count=X.shape[0])
