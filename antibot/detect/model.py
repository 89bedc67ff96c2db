"""The shipped bot model: gradient-boosted trees stored as plain JSON, scored in pure Python.

Why JSON: a model file must not be able to run code when it is loaded (pickle and joblib
can). The file holds only numbers and feature names; :func:`load_model` checks it against
its model card (sha256, feature list) and against the features this build can compute, and
refuses anything that does not match.

Scoring walks each tree once and also yields per-feature contributions to the log-odds
(Saabas path attribution), so every verdict can say which features pushed it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "antibot-gbt/1"


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
        self.trees = tuple(trees)

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
        total = 0.0
        for t in self.trees:
            node = 0
            feature = t.feature
            while feature[node] >= 0:
                node = t.left[node] if x[feature[node]] <= t.threshold[node] else t.right[node]
            total += t.value[node]
        return self.base + self.rate * total

    def score(self, x: Sequence[float]) -> float:
        return _sigmoid(self.raw(x))

    def explain(self, x: Sequence[float], top: int = 3) -> tuple[float, list[tuple[str, float]]]:
        """Score plus the ``top`` features with the largest positive log-odds contribution."""
        contrib = [0.0] * len(self.features)
        total = 0.0
        for t in self.trees:
            node = 0
            feature = t.feature
            value = t.value
            while feature[node] >= 0:
                f = feature[node]
                nxt = t.left[node] if x[f] <= t.threshold[node] else t.right[node]
                contrib[f] += value[nxt] - value[node]
                node = nxt
            total += value[node]
        score = _sigmoid(self.base + self.rate * total)
        ranked = sorted(range(len(contrib)), key=lambda i: contrib[i], reverse=True)
        return score, [(self.features[i], self.rate * contrib[i]) for i in ranked[:top] if contrib[i] > 0]


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
