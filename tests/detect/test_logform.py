"""The call log's text forms of a decision: packed features, JSON features, the explanation."""

from __future__ import annotations

import json

import pytest

from antibot.detect.features import FEATURE_NAMES
from antibot.detect.logform import FEATURES_TAG, explanation_json, features_json, features_text, read_features


def test_features_json_is_json_of_the_rounded_vector_without_zeros() -> None:
    vector = [0.0, 1.0, 2.123456, -0.5, 1e20, 3.0] + [0.25] * (len(FEATURE_NAMES) - 6)
    want = {n: round(v, 4) for n, v in zip(FEATURE_NAMES, vector, strict=True) if v}
    assert json.loads(features_json(vector)) == want and FEATURE_NAMES[0] not in want
    vector[3] = float("inf")
    assert json.loads(features_json(vector))[FEATURE_NAMES[3]] == float("inf")
    assert features_json([0.0] * len(FEATURE_NAMES)) == "{}"


def test_features_are_logged_packed_and_read_back_by_name() -> None:
    vector = [0.0, 1.0, 2.123456, -0.5, 1e20, float("inf")] + [0.1] * (len(FEATURE_NAMES) - 6)
    text = features_text(vector)
    assert text.startswith(FEATURES_TAG) and len(text) < len(features_json(vector))
    read = read_features(text)
    assert read is not None and list(read) == list(FEATURE_NAMES)
    assert list(read.values()) == pytest.approx(vector, rel=1e-7) and read[FEATURE_NAMES[6]] == 0.1  # 7 digits
    # the JSON of earlier versions (0s left out) reads the same way
    assert read_features(features_json(vector)) == {
        **dict.fromkeys(FEATURE_NAMES, 0.0),
        **json.loads(features_json(vector)),
    }
    # a value too large for a float32 falls back to JSON; nothing is lost
    vector[4] = 1e300
    assert features_text(vector) == features_json(vector)
    # another build's feature order, damaged or foreign text: nothing rather than misnamed values
    assert read_features("f32:00000000:" + text[len(FEATURES_TAG) :]) is None
    assert read_features(text[:-4]) is None and read_features(text[:20] + "*" + text[21:]) is None
    assert read_features("") is None and read_features("[1, 2]") is None


def test_explanation_json() -> None:
    assert json.loads(explanation_json([("log_src_60s", 0.123456), ("to_len", -1.0)])) == [
        ["log_src_60s", 0.1235],
        ["to_len", -1.0],
    ]
