"""The JSON tree model: scoring, explanations, and refusing mismatched files."""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import random
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from antibot.detect import model as model_module
from antibot.detect.model import (
    FORMAT,
    NATIVE_MODULE,
    Model,
    ModelError,
    _sigmoid,
    load_model,
    trees_digest,
    walker_source,
)

FEATURES = ["rate", "scanner_ua", "other"]


def tiny() -> dict[str, object]:
    # tree 1 splits on rate <= 5; tree 2 on scanner_ua <= 0.5
    return {
        "format": FORMAT,
        "features": FEATURES,
        "base": -2.0,
        "rate": 0.5,
        "trees": [
            {
                "feature": [0, -1, -1],
                "threshold": [5.0, 0, 0],
                "left": [1, -1, -1],
                "right": [2, -1, -1],
                "value": [0.0, -1.0, 3.0],
            },
            {
                "feature": [1, -1, -1],
                "threshold": [0.5, 0, 0],
                "left": [1, -1, -1],
                "right": [2, -1, -1],
                "value": [0.5, -0.5, 4.0],
            },
        ],
    }


def test_score_and_explanation() -> None:
    m = Model.from_dict(tiny())
    assert m.raw([1.0, 0.0, 0.0]) == pytest.approx(-2.0 + 0.5 * (-1.0 - 0.5))
    assert m.score([10.0, 1.0, 0.0]) == pytest.approx(1 / (1 + math.exp(-(-2.0 + 0.5 * 7.0))))
    score, top = m.explain([10.0, 1.0, 0.0])
    assert score == pytest.approx(m.score([10.0, 1.0, 0.0]))
    assert [name for name, _ in top] == ["scanner_ua", "rate"]
    assert top[0][1] == pytest.approx(0.5 * (4.0 - 0.5)) and top[1][1] == pytest.approx(0.5 * 3.0)
    assert m.explain([0.0, 0.0, 0.0])[1] == []  # nothing pushed towards "bot"
    assert Model.from_dict(m.to_dict()).to_dict() == m.to_dict()


def write(tmp_path: Path, model: dict[str, object], card_extra: dict[str, object] | None = None) -> Path:
    path = tmp_path / "m.json"
    raw = json.dumps(model).encode()
    path.write_bytes(raw)
    card = {"features": model["features"], "sha256": hashlib.sha256(raw).hexdigest(), **(card_extra or {})}
    (tmp_path / "m.card.json").write_text(json.dumps(card))
    return path


def test_load_checks_card_and_features(tmp_path: Path) -> None:
    path = write(tmp_path, tiny())
    model, card = load_model(path, FEATURES)
    assert model.features == tuple(FEATURES) and card["features"] == FEATURES
    with pytest.raises(ModelError, match="cannot compute: other"):
        load_model(path, ["rate", "scanner_ua"])
    with pytest.raises(ModelError, match="order differs"):
        load_model(path, ["scanner_ua", "rate", "other"])
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(ModelError, match="does not match its card"):
        load_model(path, FEATURES)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="pickle"), "unknown model format"),
        (lambda d: d["trees"][0].update(left=[1]), "differ in length"),
        (lambda d: d["trees"][0].update(feature=[7, -1, -1]), "missing feature or node"),
        (lambda d: d.pop("base"), "malformed model"),
    ],
)
def test_corrupt_models_are_refused(tmp_path: Path, mutate: object, message: str) -> None:
    data = json.loads(json.dumps(tiny()))
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ModelError, match=message):
        load_model(write(tmp_path, data), FEATURES)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        load_model(tmp_path / "nope.json", FEATURES)


def _walk(m: Model, x: list[float], top: int = 3) -> tuple[float, list[tuple[str, float]]]:
    """The reference: walk every tree over its arrays, adding path contributions as we go."""
    contrib = [0.0] * len(m.features)
    total = 0.0
    for t in m.trees:
        node = 0
        while t.feature[node] >= 0:
            f = t.feature[node]
            nxt = t.left[node] if x[f] <= t.threshold[node] else t.right[node]
            contrib[f] += t.value[nxt] - t.value[node]
            node = nxt
        total += t.value[node]
    ranked = sorted(range(len(contrib)), key=lambda i: contrib[i], reverse=True)
    score = _sigmoid(m.base + m.rate * total)
    return score, [(m.features[i], m.rate * contrib[i]) for i in ranked[:top] if contrib[i] > 0]


def _random_tree(rng: random.Random, depth: int, n_features: int) -> dict[str, list[float]]:
    feature: list[float] = []
    threshold: list[float] = []
    left: list[float] = []
    right: list[float] = []
    value: list[float] = []

    def node(d: int) -> int:
        i = len(feature)
        feature.append(-1)
        threshold.extend([0.0])
        left.append(-1)
        right.append(-1)
        value.append(rng.uniform(-2, 2))
        if d < depth and (d < 2 or rng.random() < 0.8):
            feature[i] = rng.randrange(n_features)
            threshold[i] = rng.choice([0.5, 1.0, rng.uniform(0, 3)])
            left[i] = node(d + 1)
            # Below depth 3 only the left side goes on: a deep tree is a spine, not 2**depth nodes.
            right[i] = node(d + 1 if d < 3 else depth)
        return i

    node(0)
    return {"feature": feature, "threshold": threshold, "left": left, "right": right, "value": value}


@pytest.mark.parametrize("depth", [3, 40])  # 40: deeper than COMPILE_MAX_DEPTH, walked instead
def test_compiled_trees_score_and_explain_exactly_like_the_walk(depth: int) -> None:
    rng = random.Random(depth)
    features = [f"f{i}" for i in range(12)]
    trees = [_random_tree(rng, depth if i % 5 == 0 else 3, len(features)) for i in range(30)]
    m = Model.from_dict({"format": FORMAT, "features": features, "base": -0.3, "rate": 0.1, "trees": trees})
    for _ in range(400):
        x = [rng.choice([0.0, 1.0, 0.5, rng.uniform(-1, 4), math.inf]) for _ in features]
        expected = _walk(m, x)
        assert m.explain(x) == expected  # bit-identical, not approximately
        assert m.explain(x) == expected  # and again from the explanation cache
        assert m.score(x) == expected[0]
    assert m.cache_hits >= 400


def test_replacing_the_trees_recompiles_them() -> None:
    m = Model.from_dict(tiny())
    x = [10.0, 1.0, 0.0]
    before = m.explain(x)
    t = m.trees[0]
    m.trees = (type(t)(t.feature, t.threshold, t.left, t.right, (0.0, -1.0, 5.0)), *m.trees[1:])
    assert m.raw(x) == pytest.approx(-2.0 + 0.5 * (5.0 + 4.0))
    assert m.explain(x) != before and m.explain(x) == _walk(m, x)


SHIPPED = Path(__file__).parents[2] / "models" / "antibot-gbt.json"


def _generated(m: Model) -> Any:
    source = walker_source(m.trees)
    assert source is not None and f'DIGEST = "{trees_digest(m.trees)}"' in source
    namespace: dict[str, Any] = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # the same text setup.py compiles
    return namespace["leaves"]


def test_the_generated_walker_reaches_the_same_leaves() -> None:
    m = Model.from_dict(json.loads(SHIPPED.read_text()))
    leaves = _generated(m)
    rng = random.Random(5)
    for _ in range(2000):
        x = [rng.choice([0.0, 0.5, 1.0, 3.0, rng.uniform(-1, 12), math.nan]) for _ in m.features]
        assert leaves(x) == tuple(m._leaves(x))


def test_no_walker_source_for_deep_trees_or_odd_thresholds() -> None:
    n = 30  # a spine 30 tests deep: node i tests, leaf i + n on the right, node i + 1 on the left
    spine = {
        "feature": [0] * n + [-1] * (n + 1),
        "threshold": [float(n - i) for i in range(n)] + [0.0] * (n + 1),
        "left": [*range(1, n), 2 * n] + [-1] * (n + 1),
        "right": [i + n for i in range(n)] + [-1] * (n + 1),
        "value": [0.0] * (2 * n + 1),
    }
    deep = {"format": FORMAT, "features": ["a"], "base": 0.0, "rate": 0.1, "trees": [spine]}
    assert walker_source(Model.from_dict(deep).trees) is None  # one expression would be too deep
    odd = tiny()
    odd["trees"][0]["threshold"][0] = math.inf  # type: ignore[index]
    assert walker_source(Model.from_dict(odd).trees) is None


def test_a_compiled_walker_serves_only_the_trees_it_was_made_from(monkeypatch: pytest.MonkeyPatch) -> None:
    made_from = Model.from_dict(tiny())
    real = _generated(made_from)
    seen: list[object] = []
    fake = types.ModuleType(NATIVE_MODULE)
    fake.DIGEST = trees_digest(made_from.trees)  # type: ignore[attr-defined]
    fake.leaves = lambda x: seen.append(x) or real(x)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, NATIVE_MODULE, fake)
    x = [10.0, 1.0, 0.0]
    same = Model.from_dict(tiny())
    assert same.explain(x) == made_from.explain(x) and same.score(tuple(x)) == made_from.score(x)
    assert seen == [x, x]  # a tuple comes in as a list: the compiled function takes list[float]
    other = tiny()
    other["trees"][0]["threshold"][0] = 4.0  # type: ignore[index]
    Model.from_dict(other).explain(x)
    assert len(seen) == 2  # other trees: the generated Python function, not this walker


@pytest.mark.skipif(not str(model_module.__file__).endswith(".so"), reason="pure-Python build: no compiled walker")
def test_a_compiled_build_walks_the_shipped_model_in_c() -> None:
    native = importlib.import_module(NATIVE_MODULE)  # setup.py made it from models/antibot-gbt.json
    assert str(native.__file__).endswith(".so")
    assert trees_digest(Model.from_dict(json.loads(SHIPPED.read_text())).trees) == native.DIGEST  # not stale
