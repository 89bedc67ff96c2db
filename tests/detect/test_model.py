"""The JSON tree model: scoring, explanations, and refusing mismatched files."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from antibot.detect.model import FORMAT, Model, ModelError, load_model

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
