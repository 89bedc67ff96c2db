"""Detector.decide with a real Redis behind its local counters: the call log, two nodes, and a late or down Redis."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.features import FEATURE_NAMES
from antibot.detect.logform import read_features
from antibot.detect.model import FORMAT, Model
from antibot.detect.rules import RuleSet, RuleSpec
from antibot.detect.unscored import UnscoredRules
from antibot.proxy.decision import Action
from antibot.proxy.effects import Addr, TlsFacts
from antibot.store.embedded import EmbeddedRedis
from antibot.store.hotpath import CounterSync
from antibot.store.redis import Store

from ..store.resp import Resp
from ._sip import PHONE, PHONE_SDP, PHONE_SRC, addr, parse

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


def detector(log: Log) -> Detector:
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
    return Detector(rules=RuleSet(), model=model, counters=LocalCounters(), calllog=log, clock=lambda: T0)


def syncer(d: Detector, store: Store, timeout: float = 0.1) -> CounterSync:
    assert d.counters is not None
    return CounterSync(store.hot, d.counters, timeout=timeout, clock=lambda: T0)


def test_counters_reach_the_features_and_the_call_log(server: EmbeddedRedis) -> None:
    async def go() -> list[dict[str, str]]:
        log = Log()
        async with await Store.connect(server.url) as store:
            d = detector(log)
            sync = syncer(d, store)
            for _ in range(3):
                verdict = d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
                assert "store-unavailable" not in verdict.reasons
            d.outcome(verdict.call_ref, PHONE_SRC, 486, None)
            assert await sync.sync() == 6  # source, caller, callee, prefix, User-Agent, flow
            d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
        return log.entries

    entries = run(go())
    features = [read_features(e["features"]) or {} for e in entries if "features" in e]
    assert [f["log_src_60s"] for f in features] == pytest.approx([math.log1p(n) for n in (1, 2, 3, 4)], rel=1e-6)
    assert features[-1]["log_src_outcomes_1h"] > 0 and features[2]["log_src_outcomes_1h"] == 0
    assert [e for e in entries if "outcome" in e][0]["outcome"] == "486"
    scores = [float(e["score"]) for e in entries if "score" in e]
    assert scores[0] < 0.5 < scores[-1]  # the counters reached the model
    assert json.loads(entries[-1]["explanation"])[0][0] == "log_src_60s"


def test_two_nodes_see_each_others_calls_after_a_sync(server: EmbeddedRedis) -> None:
    async def go() -> list[float]:
        async with await Store.connect(server.url) as store:
            a, b = detector(Log()), detector(Log())
            sa, sb = syncer(a, store), syncer(b, store)
            for _ in range(3):
                a.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
            await sa.sync()
            b.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)  # b has not synced yet: its own call only
            await sb.sync()  # b's first sync writes its call and reads Redis's totals back
            b.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)  # so b knows a's calls already
            await sb.sync()
            seen = b.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
            await sb.sync()
            await sa.sync()
            again = a.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
            logged = [read_features(e["features"]) or {} for e in b.calllog.entries]  # type: ignore[union-attr]
            return [seen.score, again.score, *(f["log_src_60s"] for f in logged)]

    seen, again, *b_counts = run(go())
    assert b_counts == pytest.approx([math.log1p(n) for n in (1, 5, 6)], rel=1e-6)  # b's 1st, then with a's 3
    assert seen > 0.5 and again > 0.5


def test_a_late_redis_never_delays_a_verdict_and_loses_no_count(server: EmbeddedRedis) -> None:
    busy = (
        "local t = redis.call('TIME') "
        "while true do local n = redis.call('TIME') if (n[1] - t[1]) > 1 then return 1 end end"
    )

    async def go() -> tuple[list[Any], float, int]:
        log = Log()
        async with await Store.connect(server.url) as store:
            d = detector(log)
            sync = syncer(d, store)
            d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
            assert await sync.sync() == 6  # connected, scripts loaded
            blocker = threading.Thread(target=lambda: Resp(str(server.socket_path))("EVAL", busy, 0))
            blocker.start()
            await asyncio.sleep(0.2)  # Redis is now stuck in the script for ~1-2 s
            d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
            assert await sync.sync() == 0  # late: failed, the counts are kept
            loop = asyncio.get_running_loop()
            started = loop.time()
            late = d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
            waited = loop.time() - started
            await asyncio.to_thread(blocker.join)
            while not await sync.sync():  # the late replies are drained, then the sync succeeds
                await asyncio.sleep(0.05)
            after = d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
            await sync.sync()
            key = f"ab:{{src:{PHONE_SRC}}}:inv:1h:{int(T0 // 3600)}"
            stored = await asyncio.to_thread(Resp(str(server.socket_path)), "GET", key)
            return [late, after], waited, int(stored)

    (late, after), waited, stored = run(go())
    assert "store-unavailable" in late.reasons and late.action is Action.RELAY
    assert waited < 0.05  # decided from this node's counts at once, not after Redis's 1-2 s
    assert "store-unavailable" not in after.reasons
    assert stored == 4  # every INVITE reached Redis once: none lost, none counted twice


def test_redis_down_then_back(server: EmbeddedRedis) -> None:
    async def go() -> list[tuple[str, ...]]:
        log = Log()
        reasons = []
        async with await Store.connect(server.url, timeout=0.5) as store:
            store.wire.retry_after = 0.05
            d = detector(log)
            sync = syncer(d, store, timeout=0.5)
            reasons.append(d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0).reasons)
            await sync.sync()
            await asyncio.to_thread(server.stop)
            d.outcome("x", PHONE_SRC, 200, 3.0)  # does not raise either
            assert await sync.sync() == 0
            reasons.append(d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0).reasons)
            await asyncio.to_thread(server.start)
            await asyncio.sleep(0.1)
            assert await sync.sync() == 6
            reasons.append(d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0).reasons)
        return reasons

    up, down, back = run(go())
    assert "store-unavailable" not in up and "store-unavailable" in down and "store-unavailable" not in back


def test_outcomes_reach_the_flow_of_their_call_and_the_map_stays_bounded() -> None:
    """An outcome counts for the flow whose INVITE it answers (found by its call ref), not for
    the address's other flows; call refs whose outcome never comes are forgotten oldest first."""
    d = detector(Log())
    d.flow_refs = 4
    counters = d.counters
    assert counters is not None
    phone = d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
    other = parse(PHONE.replace("Yealink SIP-T46S 66.86.0.15", "Zoiper rv2.10.20.2"), PHONE_SDP)
    zoiper = d.decide(other, addr(PHONE_SRC), 0.0)
    d.outcome(zoiper.call_ref, PHONE_SRC, 404, None)
    d.outcome("unknown-ref", PHONE_SRC, 404, None)  # the source still counts it
    flows = {e.value: e for (kind, _), e in counters.entities.items() if kind == "flow"}
    assert len(flows) == 2
    failed = {value: e.counts[4].value(T0) for value, e in flows.items()}
    assert sorted(failed.values()) == [0.0, 1.0]
    assert phone.call_ref in d._flows and zoiper.call_ref not in d._flows
    for _ in range(6):
        d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0)
    assert len(d._flows) == 4 and phone.call_ref not in d._flows
    src = counters.entities["src", PHONE_SRC]
    assert src.counts[5].value(T0) == 2.0  # both outcomes for the source (its "failed" counter)


def test_the_transport_and_tls_facts_reach_the_rules_and_the_call_log() -> None:
    """A rule on a TLS handshake without SNI nor client certificate decides INVITEs and other
    requests alike (with detection and without); the call log records the transport and facts."""
    log = Log()
    d = detector(log)
    bare = RuleSpec("bare-tls", action="reject", status=403, tls_sni="absent", tls_client_cert=False)
    d.rules = RuleSet([bare])
    scanner = Addr("tls", PHONE_SRC, 40000, TlsFacts("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "", False))
    phone = Addr("tls", PHONE_SRC, 40001, TlsFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", "sip.example.net", True))
    assert d.decide(parse(PHONE, PHONE_SDP), scanner, 0.0).rule == "bare-tls"
    assert d.decide(parse(PHONE, PHONE_SDP), phone, 0.0).rule != "bare-tls"
    assert d.decide(parse(PHONE, PHONE_SDP), addr(PHONE_SRC), 0.0).rule != "bare-tls"
    options = parse(PHONE.replace("INVITE", "OPTIONS"))
    assert d.decide(options, scanner, 0.0).rule == "bare-tls"
    assert UnscoredRules(d.rules).decide(options, scanner, 0.0).rule == "bare-tls"
    assert UnscoredRules(d.rules).decide(options, phone, 0.0).rule is None
    link = [{k: v for k, v in e.items() if k == "transport" or k.startswith("tls_")} for e in log.entries]
    assert link == [
        {
            "transport": "tls",
            "tls_version": "TLSv1.2",
            "tls_cipher": "ECDHE-RSA-AES256-GCM-SHA384",
            "tls_sni": "",
            "tls_client_cert": "0",
        },
        {
            "transport": "tls",
            "tls_version": "TLSv1.3",
            "tls_cipher": "TLS_AES_128_GCM_SHA256",
            "tls_sni": "sip.example.net",
            "tls_client_cert": "1",
        },
        {"transport": "udp"},
    ]
