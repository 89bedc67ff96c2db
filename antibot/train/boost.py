"""Gradient-boosted trees for binary log loss with monotone constraints.

scikit-learn's :class:`~sklearn.ensemble.GradientBoostingClassifier` cannot constrain a feature's
direction, and :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (which can) bins the
features and lacks row subsampling; on the held-out evaluation it lost the unseen low-and-slow
botnet entirely. This is the same algorithm as ``GradientBoostingClassifier(loss="log_loss")``
(prior log-odds to start, then per stage: a regression tree fitted to the residuals ``y - p`` of
a row subsample, leaves set by one Newton step, shrunk by the learning rate), with each tree
grown by :class:`~sklearn.tree.DecisionTreeRegressor` under ``monotonic_cst``.

The constraint shapes how each tree splits (a split on a constrained feature must order its
sides the right way while the tree grows); the Newton step then divides each leaf's residual sum
by its own hessian sum, as scikit-learn does, which can bend that order between leaves of very
different confidence. Clipping the leaves back into order after the step was tried: on the
validation simulation it cost most of what the constraint had gained (held-out low-and-slow
recall 99.5 % -> 87 %), so the model is constrained in its splits, not strictly monotone in its
score (``tests/train/test_boost.py`` measures how much closer to monotone it is).
The fitted model exposes what :func:`antibot.train.train.export` reads: ``estimators_``
(an ``(n, 1)`` array of trees whose ``tree_.value`` are the leaf values), ``base_`` (the
starting log-odds), ``learning_rate``, ``n_features_in_`` and :meth:`decision_function`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sklearn.tree import DecisionTreeRegressor


class MonotoneGBT:
    """Binary log-loss gradient boosting; ``monotonic_cst[i]`` is +1 (score may only rise with
    feature ``i``), -1 (only fall) or 0 (free); ``shift`` is added to the fitted log-odds."""

    def __init__(
        self,
        *,
        n_estimators: int,
        max_depth: int,
        learning_rate: float,
        subsample: float,
        min_samples_leaf: int,
        max_features: float | None,
        monotonic_cst: Sequence[int] | None,
        random_state: int,
        shift: float = 0.0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.monotonic_cst = list(monotonic_cst) if monotonic_cst is not None else None
        self.random_state = random_state
        self.shift = shift
        self.base_ = 0.0
        self.n_features_in_ = 0
        self.estimators_: NDArray[np.object_] = np.empty((0, 1), dtype=object)

    def fit(self, X: NDArray[np.float64], y: NDArray[np.int64], sample_weight: NDArray[np.float64]) -> MonotoneGBT:
        y = np.asarray(y, dtype=np.float64)
        w = np.asarray(sample_weight, dtype=np.float64)
        prior = float(np.average(y, weights=w))
        if not 0.0 < prior < 1.0:
            raise ValueError("training data needs both labels (people and bots)")
        rng = np.random.RandomState(self.random_state)
        self.n_features_in_ = X.shape[1]
        self.base_ = math.log(prior / (1.0 - prior))
        raw = np.full(len(y), self.base_)
        trees = []
        for _ in range(self.n_estimators):
            p = _sigmoid(raw)
            residual = y - p
            bag = rng.rand(len(y)) < self.subsample if self.subsample < 1.0 else np.ones(len(y), dtype=bool)
            tree = DecisionTreeRegressor(
                criterion="squared_error",
                max_depth=self.max_depth,
                min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features,
                monotonic_cst=self.monotonic_cst,
                random_state=rng.randint(np.iinfo(np.int32).max),
            )
            tree.fit(X[bag], residual[bag], sample_weight=w[bag])
            self._newton(tree, X[bag], residual[bag], (w * p * (1.0 - p))[bag], w[bag])
            raw += self.learning_rate * tree.predict(X)
            trees.append(tree)
        self.estimators_ = np.asarray(trees, dtype=object).reshape(-1, 1)
        self.base_ += self.shift  # after fitting: moves the operating point, not the trees
        return self

    def _newton(
        self,
        tree: DecisionTreeRegressor,
        X: NDArray[np.float64],
        residual: NDArray[np.float64],
        hessian: NDArray[np.float64],
        w: NDArray[np.float64],
    ) -> None:
        """Leaf value = sum(w * residual) / sum(w * p * (1 - p)) over the leaf's in-bag rows (as
        scikit-learn's log loss does)."""
        t = tree.tree_
        leaf = tree.apply(X)
        n = t.node_count
        num = np.bincount(leaf, weights=w * residual, minlength=n)
        den = np.bincount(leaf, weights=hessian, minlength=n)
        value = t.value  # a view: (nodes, 1, 1)
        is_leaf = t.children_left == -1
        newton = np.divide(num, den, out=np.zeros(n), where=den > 1e-150)
        value[is_leaf, 0, 0] = newton[is_leaf]

    def decision_function(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.full(X.shape[0], self.base_)
        for tree in self.estimators_[:, 0]:
            out += self.learning_rate * tree.predict(X)
        return out


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)
