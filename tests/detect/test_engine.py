"""Detector.decide with a real Redis: counters, the call log, and degrading when Redis is late or down."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from antibot.detect.engine import Detector, features_json
from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import FORMAT, Model
from antibot.detect.rules import RuleSet
from antibot.detect.verdict import Action
from antibot.store.embedded import EmbeddedRedis
from antibot.store.redis import Store

from ..store.resp import Resp
from ._sip import PHONE, PHONE_SDP, PHONE_SRC, parse

T = TypeVar("T")
T0 = 1_700_000_000.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    redis = EmbeddedRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


class Log:
    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    def submit(self, entry: dict[str, str]) -> bool:
        self.entries.append(entry)
        return True


def detector(store: Store, log: Log, timeout: float = 0.1) -> Detector:
    # one tree: a source placing more than ~3 calls a minute looks like a bot (independent of the shipped model)
    tree = {
        "feature": [FEATURE_NAMES.index("log_src_60s"), -1, -1],
        "threshold": [1.4, 0.0, 0.0],
        "left": [1, -1, -1],
        "right": [2, -1, -1],
        "value": [0.0, -1.0, 1.0],
    }
    model = Model.from_dict(
        {"format": FORMAT, "features": list(FEATURE_NAMES), "base": 0.0, "rate": 1.0, "trees": [tree]}
    )
    return Detector(rules=RuleSet(), model=model, store=store, calllog=log, store_timeout=timeout, clock=lambda: T0)


def test_counters_reach_the_features_and_the_call_log(server: EmbeddedRedis) -> None:
    async def go() -> list[dict[str, str]]:
        log = Log()
        async with await Store.connect(server.url) as store:
            d = detector(store, log)
            for _ in range(3):
                verdict = await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)
                assert "store-unavailable" not in verdict.reasons
            await d.outcome(verdict.call_ref, PHONE_SRC, 486, None)
            await store.flush_outcomes()
            await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)
        return log.entries

    entries = run(go())
    features = [json.loads(e["features"]) for e in entries if "features" in e]
    assert [f["log_src_60s"] for f in features] == [round(math.log1p(n), 4) for n in (1, 2, 3, 4)]
    assert features[-1]["log_src_outcomes_1h"] > 0 and features[2]["log_src_outcomes_1h"] == 0
    assert [e for e in entries if "outcome" in e][0]["outcome"] == "486"
    scores = [float(e["score"]) for e in entries if "score" in e]
    assert scores[0] < 0.5 < scores[-1]  # the counters reached the model
    assert json.loads(entries[-1]["explanation"])[0][0] == "log_src_60s"


def test_a_late_redis_degrades_to_no_counters_within_the_deadline(server: EmbeddedRedis) -> None:
    busy = (
        "local t = redis.call('TIME') "
        "while true do local n = redis.call('TIME') if (n[1] - t[1]) > 1 then return 1 end end"
    )

    async def go() -> tuple[list[Any], float]:
        log = Log()
        async with await Store.connect(server.url) as store:
            d = detector(store, log, timeout=0.1)
            await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)  # connected, scripts loaded
            blocker = threading.Thread(target=lambda: Resp(str(server.socket_path))("EVAL", busy, 0))
            blocker.start()
            await asyncio.sleep(0.2)  # Redis is now stuck in the script for ~1-2 s
            loop = asyncio.get_running_loop()
            started = loop.time()
            late = await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)
            waited = loop.time() - started
            await asyncio.to_thread(blocker.join)
            after = await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)
            return [late, after, d.stats.store_errors], waited

    (late, after, errors), waited = run(go())
    assert "store-unavailable" in late.reasons and late.action is Action.RELAY
    assert waited < 1.0  # the 0.1 s deadline, not Redis's 1-2 s
    assert "store-unavailable" not in after.reasons and errors == 1


def test_redis_down_then_back(server: EmbeddedRedis) -> None:
    async def go() -> list[tuple[str, ...]]:
        log = Log()
        reasons = []
        async with await Store.connect(server.url, timeout=0.5) as store:
            store.wire.retry_after = 0.05
            d = detector(store, log)
            reasons.append((await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)).reasons)
            await asyncio.to_thread(server.stop)
            reasons.append((await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)).reasons)
            await d.outcome("x", PHONE_SRC, 200, 3.0)  # does not raise either
            await store.flush_outcomes()
            assert store.hot.outcomes_lost == 1
            await asyncio.to_thread(server.start)
            await asyncio.sleep(0.1)
            reasons.append((await d.decide(parse(PHONE, PHONE_SDP), PHONE_SRC, 0.0)).reasons)
        return reasons

    up, down, back = run(go())
    assert "store-unavailable" not in up and "store-unavailable" in down and "store-unavailable" not in back


def test_features_json_is_json_of_the_rounded_vector() -> None:
    vector = [0.0, 1.0, 2.123456, -0.5, 1e20, 3.0] + [0.25] * (len(FEATURE_NAMES) - 6)
    assert json.loads(features_json(vector)) == {n: round(v, 4) for n, v in zip(FEATURE_NAMES, vector, strict=True)}
    vector[3] = float("inf")
    assert json.loads(features_json(vector))[FEATURE_NAMES[3]] == float("inf")
