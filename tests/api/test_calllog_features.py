"""The API reads a call-log entry's features in either form the proxy has written."""

from __future__ import annotations

import json

from antibot.detect.features import FEATURE_NAMES
from antibot.detect.logform import features_json, features_text
from api import calllog


def test_packed_and_json_features_read_alike() -> None:
    vector = [0.0] * len(FEATURE_NAMES)
    vector[1], vector[5], vector[9] = 1.0, 2.5, float("nan")
    want = {**dict.fromkeys(FEATURE_NAMES, 0.0), FEATURE_NAMES[1]: 1.0, FEATURE_NAMES[5]: 2.5}  # nan: left at 0
    assert calllog.features({"features": features_text(vector)}) == want
    assert calllog.features({"features": features_json(vector)}) == want
    assert calllog.features({"features": json.dumps({FEATURE_NAMES[1]: 1.0})})[FEATURE_NAMES[1]] == 1.0


def test_entries_without_readable_features_have_none() -> None:
    assert calllog.features({}) == {}
    assert calllog.features({"features": "f32:ffffffff:AAAA"}) == {}  # packed by a build with other features
    assert calllog.features({"features": "not json"}) == {}
