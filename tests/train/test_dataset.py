"""The dataset is the real pipeline: parser, features, Redis counters and fed-back outcomes."""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import Counter

import numpy as np

from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.features import FEATURE_NAMES, PRIOR_FAIL
from antibot.detect.logform import read_features
from antibot.detect.model import FORMAT, Model
from antibot.detect.rules import RuleSet
from antibot.proxy.effects import Addr
from antibot.sim.generator import SimEvent
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram
from antibot.store.hotpath import ReplaySync
from antibot.store.redis import Store
from antibot.train.dataset import (
    REJECT_DELAY,
    SimConfig,
    build_dataset,
    dataset_from_events,
    feedback_dataset,
    flow_learns,
    outcome_delay,
    replay,
)

from ._messages import PHONE_IP, desk_phone_invite, sweep_events

COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
T0 = 1.7e9 + 5000.0


def test_rows_are_the_simulated_invites_in_order(url: str) -> None:
    cfg = SimConfig(seed=4, duration=300.0, profiles=("office_pbx", "call_centre", "low_and_slow", "wangiri"))
    invites = [e for e in cfg.events() if e.method == "INVITE"]
    ds = build_dataset(cfg, url)
    assert len(ds) == len(invites) > 100
    assert ds.X.shape == (len(invites), len(FEATURE_NAMES))
    assert np.isfinite(ds.X).all()
    assert ds.y.tolist() == [e.label for e in invites]
    assert ds.profile.tolist() == [e.profile for e in invites]
    assert ds.family.tolist() == [e.family for e in invites]
    assert ds.ts.tolist() == [e.ts for e in invites]
    assert set(ds.y.tolist()) == {0, 1}
    assert [f.source_ip for f in ds.facts] == [e.src_ip for e in invites]
    others = Counter(e.method for e in cfg.events()) - Counter({"INVITE": len(invites)})
    assert ds.info["replay"]["events_INVITE"] == len(invites)
    assert ds.info["replay"].get("events_CANCEL", 0) == others["CANCEL"]


def test_several_days_are_independent_simulations_concatenated(url: str) -> None:
    cfg = SimConfig(seed=4, duration=200.0, profiles=("office_pbx", "call_centre", "low_and_slow"), days=3)
    days = [cfg.day(k) for k in range(3)]
    assert [d.seed for d in days] == [4, 4001, 4002]
    assert [d.start - cfg.start for d in days] == [0.0, 86400.0, 2 * 86400.0]
    ds = build_dataset(cfg, url)
    one = [build_dataset(d, url) for d in days]
    assert len(ds) == sum(len(d) for d in one)
    assert np.array_equal(ds.X, np.concatenate([d.X for d in one]))  # each day on a flushed store
    assert ds.info["simulation"]["day_seeds"] == [4, 4001, 4002]
    assert ds.info["replay"]["events_INVITE"] == len(ds)
    # another day is another draw of each installation, not a copy of the first
    agents = [{f.user_agent for f, p in zip(d.facts, d.profile, strict=True) if p == "call_centre"} for d in one]
    ips = [{f.source_ip for f in d.facts} for d in one]
    assert ips[0] != ips[1] and len(agents[0]) == 1
    assert cfg.day(0) == SimConfig(seed=4, duration=200.0, profiles=cfg.profiles)


def test_scanner_burst_counters_come_from_redis(url: str) -> None:
    burst = sweep_events(T0, 40, rate=20.0)
    ds = dataset_from_events(burst, url)
    first, last = ds.X[0], ds.X[-1]
    assert first[COL["log_src_1s"]] == math.log1p(1.0)
    assert last[COL["log_src_1s"]] >= math.log1p(15.0)  # ~20 INVITEs within the last second
    assert last[COL["log_src_10s"]] >= math.log1p(35.0)
    assert last[COL["log_src_distinct_to_60s"]] >= math.log1p(30.0)  # HyperLogLog of 40 extensions
    assert last[COL["seq_run"]] >= 5 and last[COL["seq_score"]] == 1.0
    assert first[COL["ua_scanner"]] == 1.0

    async def twice() -> tuple[float, float]:
        # Without a flush, the same burst again finds the first one's counts in Redis.
        async with await Store.connect(url) as store:
            await store.flush_db()
            one = await replay(burst, store)
            two = await replay(burst, store)
        return one.X[-1][COL["log_src_1h"]], two.X[-1][COL["log_src_1h"]]

    once, again = asyncio.run(twice())
    assert once == last[COL["log_src_1h"]]
    assert again >= math.log1p(75.0) > once


def test_replays_flush_first_so_they_repeat(url: str) -> None:
    burst = sweep_events(T0, 10, rate=5.0)
    a = dataset_from_events(burst, url)
    b = dataset_from_events(burst, url)
    assert np.array_equal(a.X, b.X)


def test_outcomes_are_fed_back_when_the_proxy_would_learn_them(url: str) -> None:
    burst = sweep_events(T0, 40, rate=20.0)  # every INVITE answered 401 at once
    ds = dataset_from_events(burst, url)
    outcomes = ds.X[:, COL["log_src_outcomes_1h"]]
    fail = ds.X[:, COL["src_fail_ratio"]]
    due = int(REJECT_DELAY * 20.0)  # INVITEs sent before the first 401 came back
    assert (outcomes[:due] == 0.0).all() and fail[0] == PRIOR_FAIL
    assert outcomes[due] == math.log1p(1.0)  # the first 401 is in before the INVITE sent with it
    assert outcomes[-1] == math.log1p(40 - due)
    assert fail[-1] > 0.9


def _phone(ts: float, status: int, method: str = "INVITE", data: bytes | None = None) -> SimEvent:
    return SimEvent(ts, PHONE_IP, 5062, data or desk_phone_invite(), 0, "legitimate", "office_pbx", method, status, 3.0)


def test_a_cancelled_call_counts_when_its_cancel_arrives(url: str) -> None:
    from antibot.sim.messages import cancel_for

    invite = desk_phone_invite()
    events = [
        _phone(T0, 487),
        _phone(T0 + 2.0, 200),  # still ringing: no outcome yet
        _phone(T0 + 3.0, 487, "CANCEL", cancel_for(invite)),
        _phone(T0 + 4.0, 200),  # after the CANCEL: one failed call
    ]
    ds = dataset_from_events(events, url)
    calls = ds.X[:, COL["log_src_outcomes_1h"]].tolist()
    assert calls == [0.0, 0.0, math.log1p(1.0)]
    assert ds.X[2, COL["src_fail_ratio"]] > ds.X[1, COL["src_fail_ratio"]]


class _Sink:
    """The Detector's call log: every entry it writes (each carries the scored vector)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    def submit(self, entry: dict[str, str]) -> bool:
        self.entries.append(entry)
        return True


def _zero_model() -> Model:
    """A real model (so that a compiled Detector takes it) scoring every call 0.5."""
    leaf = {"feature": [-1], "threshold": [0.0], "left": [-1], "right": [-1], "value": [0.0]}
    return Model.from_dict(
        {"format": FORMAT, "features": list(FEATURE_NAMES), "base": 0.0, "rate": 1.0, "trees": [leaf]}
    )


async def _through_the_detector(events: list[SimEvent], url: str) -> list[list[float]]:
    """The proxy's way: each INVITE decided by a Detector on synced LocalCounters, each outcome
    fed back with ``Detector.outcome`` when the proxy learns it (as the training replay times it)."""
    sink = _Sink()
    async with await Store.connect(url) as store:
        await store.flush_db()
        local = LocalCounters()
        counting = ReplaySync(store.hot, local)
        clock = [0.0]
        detector = Detector(rules=RuleSet(), model=_zero_model(), counters=local, calllog=sink, clock=lambda: clock[0])
        pending: list[tuple[float, int, str, str, int, float | None]] = []
        ringing: dict[tuple[str, str], str] = {}
        for n, ev in enumerate(events):
            while pending and pending[0][0] <= ev.ts:
                due, _, ref, source, status, duration = heapq.heappop(pending)
                await counting.advance(due)
                clock[0] = due
                detector.outcome(ref, source, status, duration)
            if ev.method not in ("INVITE", "CANCEL"):
                continue
            req = parse_datagram(ev.data)
            assert isinstance(req, Request)
            await counting.advance(ev.ts)
            clock[0] = ev.ts
            if ev.method == "CANCEL":
                if (ev.src_ip, req.call_id) in ringing:
                    detector.outcome(ringing.pop((ev.src_ip, req.call_id)), ev.src_ip, 487, None)
                continue
            verdict = detector.decide(req, Addr(ev.transport, ev.src_ip, ev.src_port, ev.tls), ev.ts)
            if ev.status == 487:
                ringing[ev.src_ip, req.call_id] = verdict.call_ref
            else:
                due = ev.ts + outcome_delay(ev.status, ev.duration)
                heapq.heappush(pending, (due, n, verdict.call_ref, ev.src_ip, ev.status, ev.duration))
    assert detector.stats.internal_errors == 0
    vectors = []
    for entry in sink.entries:
        if "features" not in entry:  # an outcome's entry
            continue
        values = read_features(entry["features"])
        assert values is not None
        vectors.append([values[name] for name in FEATURE_NAMES])
    return vectors


def test_training_rows_are_the_proxys_feature_vectors(url: str) -> None:
    """Training counts, syncs and builds vectors as the proxy's Detector does: a simulated
    stream (sweeps, floods, cancelled and failed calls) gives the same vectors both ways (read
    back from the Detector's call log, which packs them as float32)."""
    events = list(SimConfig(seed=5, duration=300.0).events())
    rows = dataset_from_events(events, url)
    assert rows.info["replay"].get("parse_errors", 0) == 0 and len(rows) > 300
    assert rows.info["replay"]["events_CANCEL"] > 10 and rows.info["replay"]["outcomes"] > 200
    vectors = asyncio.run(_through_the_detector(events, url))
    assert len(vectors) == len(rows)
    # as the call log keeps them: float32, read back to 7 significant digits
    assert np.allclose(np.asarray(vectors), rows.X, rtol=1e-6, atol=1e-9)
    assert (rows.X[:, COL["log_src_distinct_to_1h"]] > math.log1p(5.0)).any()  # counters at work
    assert len(set(rows.X[:, COL["src_fail_ratio"]].tolist())) > 5  # outcomes at work


def test_outcome_delays() -> None:
    assert outcome_delay(200, 60.0) > 60.0
    assert outcome_delay(404, None) < outcome_delay(480, None) < outcome_delay(0, None)


def test_a_flow_learns_a_talked_through_call_once_it_outlasts_a_hang_up() -> None:
    """The evaluation's replay feeds a flow an answered call's outcome as the proxy's detector
    does (``Detector.answered``): connected once it has lasted the short-call time after its
    answer; a short or failed call when it ends."""
    ended = 1000.0 + outcome_delay(200, 300.0)
    assert flow_learns(1000.0, ended, ("calls",)) == 1000.0 + outcome_delay(200, 6.0)
    assert flow_learns(1000.0, 1000.0 + outcome_delay(200, 2.0), ("calls", "short")) == 1000.0 + outcome_delay(200, 2.0)
    assert flow_learns(1000.0, 1000.5, ("calls", "failed")) == 1000.5
    assert flow_learns(1000.0, 0.0, ("calls",)) == 0.0  # never learnt within the day


def test_feedback_rows_are_read_from_redis(url: str) -> None:
    async def write() -> None:
        async with await Store.connect(url) as store:
            await store.flush_db()
            await store.write_feedback("c1", 1, {"log_src_1s": 2.5, "ua_scanner": 1.0})
            await store.write_feedback("c2", 0, dict.fromkeys(FEATURE_NAMES, 0.5))

    asyncio.run(write())
    ds = feedback_dataset(url, weight=3.0)
    assert ds.y.tolist() == [1, 0]
    assert ds.weight.tolist() == [3.0, 3.0]
    assert ds.X[0, COL["log_src_1s"]] == 2.5 and ds.X[0, COL["hdr_count"]] == 0.0
    assert (ds.X[1] == 0.5).all()
    assert set(ds.profile.tolist()) == {"feedback"}
