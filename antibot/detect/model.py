"""The shipped bot model: gradient-boosted trees stored as plain JSON, scored in pure Python.

Why JSON: a model file must not be able to run code when it is loaded (pickle and joblib
can). The file holds only numbers and feature names; :func:`load_model` checks it against
its model card (sha256, feature list) and against the features this build can compute, and
refuses anything that does not match.

Scoring walks each tree once and also yields per-feature contributions to the log-odds
(Saabas path attribution), so every verdict can say which features pushed it.

Speed: at load, the trees become one Python function that returns the leaf each tree
reaches (nested conditional expressions, generated from the validated integer feature
indices only; thresholds are read from a tuple, so no number from the file is ever parsed
as code), and every leaf keeps its value and the (feature, contribution) steps of its
path. Scoring is then a few comparisons per tree plus a sum; the explanation adds those
steps. Results are bit-identical to walking the arrays. The leaves reached determine the
score and the explanation, so recent explanations are kept by leaf combination (traffic
repeats itself: most INVITEs land in a combination seen shortly before).

The shipped model's function is also generated as source with its thresholds as literals
(:func:`walker_source`) and compiled with the hot path by ``setup.py``
(:data:`NATIVE_MODULE`): a loaded model whose trees have that module's :func:`trees_digest`
walks them in C, any other model (a retrained one, a test's) with the function above.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

FORMAT: Final = "antibot-gbt/1"
#: Explanations kept by leaf combination (the cache is emptied when full).
EXPLAIN_CACHE: Final = 4096
#: Deeper trees are walked instead of compiled (nested expressions have a compiler limit).
COMPILE_MAX_DEPTH: Final = 24
#: The shipped model's generated, compiled ``leaves`` (absent in a pure-Python install).
NATIVE_MODULE: Final = "antibot.detect._shipped_trees"


class ModelError(ValueError):
    """The model or its card is missing, corrupt, or does not fit this build."""


@dataclass(frozen=True, slots=True)
class _Tree:
    feature: tuple[int, ...]  # -1 at leaves
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]


class Model:
    """Binary classifier: P(bot) = sigmoid(base + rate * sum(tree outputs))."""

    def __init__(self, features: Sequence[str], base: float, rate: float, trees: Sequence[_Tree]) -> None:
        self.features = tuple(features)
        self.base = base
        self.rate = rate
        self._explained: dict[tuple[int, Sequence[int]], tuple[float, tuple[tuple[str, float], ...]]] = {}
        self.trees = tuple(trees)  # compiles them (see the setter)
        #: Explanations served from the cache, and computed.
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def trees(self) -> tuple[_Tree, ...]:
        return self._trees

    @trees.setter
    def trees(self, trees: Sequence[_Tree]) -> None:
        """Replacing the trees recompiles them and forgets cached explanations."""
        self._trees = tuple(trees)
        self._leaves, self._leaf_value, self._leaf_path = _compile(self._trees)
        self._explained.clear()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        if data.get("format") != FORMAT:
            raise ModelError(f"unknown model format {data.get('format')!r} (expected {FORMAT})")
        try:
            features = [str(f) for f in data["features"]]
            trees = []
            for t in data["trees"]:
                tree = _Tree(
                    tuple(int(x) for x in t["feature"]),
                    tuple(float(x) for x in t["threshold"]),
                    tuple(int(x) for x in t["left"]),
                    tuple(int(x) for x in t["right"]),
                    tuple(float(x) for x in t["value"]),
                )
                n = len(tree.feature)
                sizes = {len(tree.threshold), len(tree.left), len(tree.right), len(tree.value)}
                if sizes != {n} or n == 0:
                    raise ModelError("tree arrays differ in length")
                for node in range(n):
                    f = tree.feature[node]
                    if f >= len(features) or (
                        f >= 0 and not (node < tree.left[node] < n and node < tree.right[node] < n)
                    ):
                        raise ModelError("tree refers to a missing feature or node")
                trees.append(tree)
            return cls(features, float(data["base"]), float(data["rate"]), trees)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"malformed model: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "features": list(self.features),
            "base": self.base,
            "rate": self.rate,
            "trees": [
                {
                    "feature": list(t.feature),
                    "threshold": list(t.threshold),
                    "left": list(t.left),
                    "right": list(t.right),
                    "value": list(t.value),
                }
                for t in self.trees
            ],
        }

    def raw(self, x: Sequence[float]) -> float:
        """Log-odds of "bot" for one feature vector (in ``features`` order)."""
        return self.base + self.rate * sum(map(self._leaf_value.__getitem__, self._leaves(x)))

    def score(self, x: Sequence[float]) -> float:
        return _sigmoid(self.raw(x))

    def explain(self, x: Sequence[float], top: int = 3) -> tuple[float, list[tuple[str, float]]]:
        """Score plus the ``top`` features with the largest positive log-odds contribution."""
        leaves = self._leaves(x)
        key = (top, leaves)
        known = self._explained.get(key)
        if known is not None:
            self.cache_hits += 1
            return known[0], list(known[1])
        self.cache_misses += 1
        if len(self._explained) >= EXPLAIN_CACHE:
            self._explained.clear()
        score, explanation = self._explain(leaves, top)
        self._explained[key] = (score, tuple(explanation))
        return score, explanation

    def _explain(self, leaves: Sequence[int], top: int) -> tuple[float, list[tuple[str, float]]]:
        values, paths = self._leaf_value, self._leaf_path
        total = 0.0
        contrib = [0.0] * len(self.features)
        for leaf in leaves:
            total += values[leaf]
            for f, delta in paths[leaf]:
                contrib[f] += delta
        score = _sigmoid(self.base + self.rate * total)
        pushed = [i for i, c in enumerate(contrib) if c > 0]
        pushed.sort(key=lambda i: -contrib[i])  # stable: ties keep feature order
        return score, [(self.features[i], self.rate * contrib[i]) for i in pushed[:top]]


_Leaves = Callable[[Sequence[float]], Sequence[int]]
_Path = tuple[tuple[int, float], ...]


def _compile(trees: Sequence[_Tree]) -> tuple[_Leaves, tuple[float, ...], tuple[_Path, ...]]:
    """``(leaves, leaf_value, leaf_path)``: ``leaves(x)`` gives the leaf id each tree reaches;
    a leaf id indexes its value and its path's (feature, value change) steps, root first."""
    exprs, values, paths, thresholds, walkers = _expressions(trees, literal=False)
    source = "def leaves(x):\n    return (" + ", ".join(exprs) + ",)\n"
    namespace: dict[str, object] = {"__builtins__": {}, "T": tuple(thresholds), "W": tuple(walkers)}
    exec(compile(source, "<antibot-gbt>", "exec"), namespace)  # noqa: S102 - integers and names only
    leaves = namespace["leaves"]
    assert callable(leaves)
    return _native(trees) or leaves, tuple(values), tuple(paths)


def trees_digest(trees: Sequence[_Tree]) -> str:
    """What a generated ``leaves`` was made from: the trees' arrays, thresholds exactly."""
    return hashlib.sha256(repr(tuple(trees)).encode()).hexdigest()


def walker_source(trees: Sequence[_Tree]) -> str | None:
    """A module whose ``leaves(x: list[float])`` is :func:`_compile`'s with the thresholds as
    literals and the features read once, for mypyc (``setup.py`` generates it for the shipped
    model); None when a tree is too deep to be one expression or a threshold is not finite."""
    if not all(math.isfinite(v) for t in trees for v in t.threshold):
        return None
    exprs, _, _, _, walkers = _expressions(trees, literal=True)
    if walkers:
        return None
    # Each feature read once into a local: the comparisons are then plain C doubles.
    loads = "".join(f"    v{f} = x[{f}]\n" for f in sorted({f for t in trees for f in t.feature if f >= 0}))
    body = "".join(f"        {e},\n" for e in exprs)
    return (
        '"""Generated by setup.py from the shipped model (antibot.detect.model.walker_source): do not edit."""\n\n'
        f'DIGEST = "{trees_digest(trees)}"\n\n\n'
        f"def leaves(x: list[float]) -> tuple[int, ...]:\n{loads}    return (\n{body}    )\n"
    )


def _native(trees: Sequence[_Tree]) -> _Leaves | None:
    """The compiled ``leaves`` of :data:`NATIVE_MODULE` when it was generated from these trees."""
    try:
        module: Any = importlib.import_module(NATIVE_MODULE)
    except ImportError:
        return None
    if getattr(module, "DIGEST", None) != trees_digest(trees):
        return None
    native: Callable[[list[float]], Sequence[int]] = module.leaves

    def leaves(x: Sequence[float]) -> Sequence[int]:
        return native(x if isinstance(x, list) else list(x))

    return leaves


def _expressions(
    trees: Sequence[_Tree], *, literal: bool
) -> tuple[list[str], list[float], list[_Path], list[float], list[Callable[[Sequence[float]], int]]]:
    """Per tree, the conditional expression giving its leaf id (thresholds as ``T[i]`` or as
    literals), then the leaves' values and paths, the thresholds, and the walkers of trees too
    deep for one expression (``W[i](x)``)."""
    values: list[float] = []
    paths: list[_Path] = []
    thresholds: list[float] = []
    exprs: list[str] = []
    walkers: list[Callable[[Sequence[float]], int]] = []  # trees too deep to compile

    def leaf_ids(t: _Tree) -> dict[int, int]:
        ids: dict[int, int] = {}
        stack: list[tuple[int, _Path]] = [(0, ())]
        while stack:
            node, path = stack.pop()
            f = t.feature[node]
            if f < 0:
                ids[node] = len(values)
                values.append(t.value[node])
                paths.append(path)
                continue
            for child in (t.right[node], t.left[node]):
                stack.append((child, (*path, (f, t.value[child] - t.value[node]))))
        return ids

    def expr(t: _Tree, node: int, ids: dict[int, int]) -> str:
        f = t.feature[node]
        if f < 0:
            return str(ids[node])
        thresholds.append(t.threshold[node])
        test = f"v{int(f)} <= {t.threshold[node]!r}" if literal else f"x[{int(f)}] <= T[{len(thresholds) - 1}]"
        return f"({expr(t, t.left[node], ids)} if {test} else {expr(t, t.right[node], ids)})"

    for t in trees:
        ids = leaf_ids(t)
        if max(len(p) for p in paths[-len(ids) :]) <= COMPILE_MAX_DEPTH:
            exprs.append(expr(t, 0, ids))
        else:
            exprs.append(f"W[{len(walkers)}](x)")
            walkers.append(_walker(t, ids))
    return exprs, values, paths, thresholds, walkers


def _walker(t: _Tree, ids: dict[int, int]) -> Callable[[Sequence[float]], int]:
    """A tree too deep to compile, walked over its arrays; returns the leaf id."""
    feature, threshold, left, right = t.feature, t.threshold, t.left, t.right

    def leaf(x: Sequence[float]) -> int:
        node = 0
        while feature[node] >= 0:
            node = left[node] if x[feature[node]] <= threshold[node] else right[node]
        return ids[node]

    return leaf


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name.removesuffix(".json") + ".card.json")


def load_model(path: str | Path, expected_features: Sequence[str]) -> tuple[Model, dict[str, Any]]:
    """Load a model and its card, refusing a mismatch with a clear :class:`ModelError`."""
    model_path = Path(path)
    cpath = card_path(model_path)
    try:
        raw = model_path.read_bytes()
        card = json.loads(cpath.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"model file or card missing: {exc.filename}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"model card {cpath} is not JSON: {exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if card.get("sha256") != digest:
        raise ModelError(f"model {model_path.name}: sha256 {digest[:12]}… does not match its card")
    try:
        model = Model.from_dict(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ModelError(f"model {model_path.name} is not JSON: {exc}") from None
    if list(card.get("features", [])) != list(model.features):
        raise ModelError(f"model {model_path.name}: feature list differs from its card")
    missing = [f for f in model.features if f not in expected_features]
    if missing:
        raise ModelError(f"model {model_path.name} needs features this build cannot compute: {', '.join(missing)}")
    if list(model.features) != list(expected_features):
        raise ModelError(f"model {model_path.name}: feature order differs from this build's FEATURE_NAMES")
    return model, card
