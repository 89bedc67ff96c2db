"""The monotone booster: scikit-learn's log-loss boosting with trees grown under monotone
constraints."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from antibot.train.boost import MonotoneGBT


def _data(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    logit = 1.5 * X[:, 0] - X[:, 1] + np.sin(3 * X[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return X, y


def _booster(cst: list[int] | None, **kw: float) -> MonotoneGBT:
    args: dict = dict(
        n_estimators=30, max_depth=3, learning_rate=0.2, subsample=1.0, min_samples_leaf=20, max_features=None
    )
    args.update(kw)
    return MonotoneGBT(monotonic_cst=cst, random_state=0, **args)


def test_unconstrained_it_is_sklearns_log_loss_boosting() -> None:
    X, y = _data()
    ours = _booster(None).fit(X, y, np.ones(len(y)))
    theirs = GradientBoostingClassifier(
        n_estimators=30, max_depth=3, learning_rate=0.2, min_samples_leaf=20, random_state=0
    ).fit(X, y)
    assert np.corrcoef(ours.decision_function(X), theirs.decision_function(X))[0, 1] > 0.99


def _violations(model: MonotoneGBT | GradientBoostingClassifier, X: np.ndarray, j: int, sign: int) -> float:
    """Share of grid steps along feature ``j`` where the score moves against ``sign``."""
    grid = np.linspace(-4, 4, 41)
    rows = np.repeat(X[:100], len(grid), axis=0)  # each row once per grid value, in order
    rows[:, j] = np.tile(grid, 100)
    steps = np.diff(model.decision_function(rows).reshape(100, len(grid)), axis=1) * sign
    return float((steps < -1e-12).mean())


def test_constraints_make_the_score_far_closer_to_monotone() -> None:
    X, y = _data()
    # x2 enters as sin(3 x): unconstrained trees follow its ups and downs
    free = _booster(None, subsample=0.8).fit(X, y, np.ones(len(y)))
    tied = _booster([1, -1, 1, 0], subsample=0.8).fit(X, y, np.ones(len(y)))
    assert _violations(free, X, 2, 1) > 0.1
    for j, sign in ((0, 1), (1, -1), (2, 1)):
        # not exactly 0: the Newton step can bend the order between leaves (see boost.py)
        assert _violations(tied, X, j, sign) < min(0.01, _violations(free, X, j, sign) / 10)


def test_shift_moves_only_the_base() -> None:
    X, y = _data()
    plain = _booster([1, 0, 0, 0]).fit(X, y, np.ones(len(y)))
    shifted = _booster([1, 0, 0, 0], shift=-0.5).fit(X, y, np.ones(len(y)))
    assert shifted.decision_function(X) == pytest.approx(plain.decision_function(X) - 0.5, abs=1e-12)


def test_one_label_is_refused() -> None:
    X, y = _data(100)
    with pytest.raises(ValueError, match="both labels"):
        _booster(None).fit(X, np.zeros_like(y), np.ones(len(y)))
