"""The call log API: filters, cursor paging, detail with outcome, feedback, stats; and the
indexes Store.log_calls keeps for them."""

from __future__ import annotations

import asyncio
import json
import math
import time

from fastapi import FastAPI

from antibot.detect.features import FEATURE_NAMES
from antibot.detect.logform import features_text

from ..store.resp import Resp
from .conftest import VIEWER, call_entry, client, outcome_entry, store

N = 180


async def seed(url: str, now: float, n: int = N) -> list[dict[str, str]]:
    """``n`` calls, one a second up to ``now``, logged in batches like the CallLog writer."""
    entries = [call_entry(i, now - n + i) for i in range(n)]
    async with store(url) as s:
        for start in range(0, n, 64):
            await s.log_calls(entries[start : start + 64], 100_000)
        await s.log_calls([outcome_entry(entries[-1]["call"], 200, 42.5, now + 1)], 100_000)
        await s.log_calls([outcome_entry(entries[-2]["call"], 486, None, now + 1)], 100_000)
    return entries


async def test_log_calls_keeps_indexes(url: str, rc: Resp) -> None:
    now = 1_800_000_000.0  # a minute boundary
    entries = [call_entry(i, now + i) for i in range(5)]
    async with store(url) as s:
        await s.log_calls([*entries, {}, outcome_entry(entries[0]["call"], 200, 3.0, now + 9)], 1000)
    minute, hour = int(now // 60), int(now // 3600)
    assert rc("HGETALL", f"ab:stats:m:{minute}") == ["pass", "2", "suspect", "1", "reject", "1", "drop", "1"]
    assert rc("HGET", f"ab:stats:h:{hour}", "pass") == "2"
    assert 2 * 86400 - 5 < rc("TTL", f"ab:stats:m:{minute}") <= 2 * 86400
    assert 30 * 86400 - 5 < rc("TTL", f"ab:stats:h:{hour}") <= 30 * 86400
    assert rc("ZRANGE", f"ab:top:src:{hour}", 0, -1, "WITHSCORES") == [
        "198.51.100.2",
        "1",
        "198.51.100.3",
        "1",
        "198.51.100.4",
        "1",
    ]
    assert rc("ZSCORE", f"ab:top:ua:{hour}", "friendly-scanner") == "2"
    assert rc("ZCARD", f"ab:top:num:{hour}") == 3
    ids = rc("XRANGE", "ab:calls", "-", "+")
    assert rc("GET", f"ab:call:{entries[3]['call']}") == ids[3][0]
    assert 7 * 86400 - 5 < rc("TTL", f"ab:call:{entries[3]['call']}") <= 7 * 86400
    assert rc("HGETALL", f"ab:outcome:{entries[0]['call']}") == [
        "status",
        "200",
        "duration",
        "3.0",
        "ts",
        f"{now + 9:.3f}",
    ]
    assert rc("TTL", f"ab:outcome:{entries[0]['call']}") > 7 * 86400 - 5
    assert not rc("EXISTS", f"ab:call:{entries[0]['call']}x")


async def test_top_sets_stay_bounded(url: str, rc: Resp) -> None:
    now = 1_800_000_000.0
    async with store(url) as s:
        await s.log_calls(
            [call_entry(i, now, verdict="drop", src=f"10.0.{i // 256}.{i % 256}") for i in range(600)], 10_000
        )
        await s.log_calls([call_entry(i, now, verdict="drop", src="10.9.9.9") for i in range(50)], 10_000)
    key = f"ab:top:src:{int(now // 3600)}"
    assert rc("ZCARD", key) <= 201
    assert rc("ZREVRANGE", key, 0, 0, "WITHSCORES") == ["10.9.9.9", "50"]


async def test_filters_and_cursor_paging(app: FastAPI, url: str) -> None:
    now = float(int(time.time()))
    entries = await seed(url, now)
    async with client(app, VIEWER) as c:
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
            page = (await c.get("/api/v1/calls", params=params)).json()
            pages += 1
            seen += [x["call"] for x in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [e["call"] for e in reversed(entries)]  # newest first, none lost or repeated
        assert pages == 4

        first = (await c.get("/api/v1/calls", params={"limit": 2})).json()["items"]
        assert first[0]["outcome"] == {"status": 200, "duration": 42.5}
        assert first[1]["outcome"] == {"status": 486, "duration": None}
        assert set(first[0]) >= {
            "call",
            "ts",
            "verdict",
            "action",
            "score",
            "reasons",
            "rule",
            "src",
            "from",
            "to",
            "ua",
        }

        async def calls(**params: object) -> list[dict[str, object]]:
            r = await c.get("/api/v1/calls", params={"limit": 200, **params})
            assert r.status_code == 200, r.text
            return list(r.json()["items"])

        assert {x["verdict"] for x in await calls(verdict="drop")} == {"drop"}
        assert len(await calls(verdict="drop")) == N // 5
        blocked = await calls(verdict="reject,drop")
        assert len(blocked) == 2 * N // 5 and {x["verdict"] for x in blocked} == {"reject", "drop"}
        assert len(await calls(src="198.51.100.3")) == N // 10
        assert len(await calls(src="198.51.100.0/30")) == 4 * N // 10
        assert len(await calls(**{"from": "+442079460007"})) == 2  # i % 100 == 7
        assert len(await calls(to="103")) == len([i for i in range(N) if i % 7 == 3])
        assert len(await calls(ua="SCANNER")) == 2 * N // 5
        assert {x["rule"] for x in await calls(rule="score-reject")} == {"score-reject"}
        assert all(0.5 <= float(str(x["score"])) <= 0.6 for x in await calls(min_score=0.5, max_score=0.6))
        window = await calls(since=now - 30, until=now - 10)
        assert len(window) == 21 and all(now - 30 <= float(str(x["ts"])) <= now - 10 for x in window)
        assert await calls(since=now + 1000) == []
        assert await calls(until=now - 10_000) == []
        both = await calls(verdict="reject", src="198.51.100.3")
        assert both and all(x["verdict"] == "reject" and x["src"] == "198.51.100.3" for x in both)

        # paging with a filter continues exactly where it stopped
        got, cursor = [], None
        while True:
            page = (
                await c.get(
                    "/api/v1/calls", params={"verdict": "suspect", "limit": 7} | ({"cursor": cursor} if cursor else {})
                )
            ).json()
            got += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert [x["call"] for x in got] == [e["call"] for e in reversed(entries) if e["verdict"] == "suspect"]

        for bad in (
            {"cursor": "abc"},
            {"limit": 0},
            {"limit": 201},
            {"verdict": "maybe"},
            {"verdict": "reject,,drop"},
            {"min_score": 2},
            {"since": "x"},
            {"bogus": 1},
        ):
            r = await c.get("/api/v1/calls", params=bad)
            assert r.status_code == 422, (bad, r.text)
        assert (await c.get("/api/v1/calls", params={"cursor": "0-0"})).json() == {"items": [], "next_cursor": None}
        r = await c.get("/api/v1/calls", params={"cursor": "99999999999999999999-0"})
        assert r.status_code == 200


async def test_call_detail(app: FastAPI, url: str) -> None:
    entries = await seed(url, time.time(), n=20)
    async with client(app, VIEWER) as c:
        last = entries[-1]
        r = await c.get(f"/api/v1/calls/{last['call']}")
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["call"] == last["call"] and d["call_id"] == last["call_id"] and d["mode"] == "enforce"
        assert d["features"] == {**dict.fromkeys(FEATURE_NAMES, 0.0), **json.loads(last["features"])}  # 0s left out
        assert d["explanation"] == [
            {"feature": "log_src_60s", "contribution": 0.8},
            {"feature": "from_e164", "contribution": 0.3},
        ]
        assert d["outcome"] == {"status": 200, "duration": 42.5}
        assert d["from"] == last["from"] and d["score"] == float(last["score"])
        assert (await c.get(f"/api/v1/calls/{entries[0]['call']}")).json()["outcome"] is None
        assert (await c.get("/api/v1/calls/00000000deadbeef")).status_code == 404
        assert (await c.get("/api/v1/calls/bad%20ref")).status_code == 422


async def test_call_detail_reads_reasons_in_words(app: FastAPI, url: str) -> None:
    """The proxy logs short codes, the explanation and the features; the API renders what was
    seen ("no P-Asserted-Identity", "87 distinct callees"), never a feature name with a weight
    that reads as the opposite. The codes filter the listing."""
    now = time.time()
    values = dict.fromkeys(FEATURE_NAMES, 0.0) | {"log_src_distinct_to_60s": math.log1p(87), "max_forwards": 70.0}
    new = call_entry(
        1,
        now - 2,
        verdict="suspect",
        score=0.7,
        rule="score-suspect",
        reasons="score-suspect,no-identity,src-callees-60s",
        explanation=json.dumps([["has_identity", 1.18], ["log_src_distinct_to_60s", 0.7]]),
        features=features_text([values[n] for n in FEATURE_NAMES]),
    )
    # an entry from an older build: feature names in reasons, features as JSON
    old = call_entry(2, now - 1, verdict="suspect", rule="vip-hold", rule_text="hold our VIP callers")
    async with store(url) as s:
        await s.log_calls([new, old], 100_000)
    async with client(app, VIEWER) as c:
        d = (await c.get(f"/api/v1/calls/{new['call']}")).json()
        assert d["why"] == [
            {"code": "score-suspect", "text": "score at or above the suspect threshold", "weight": None},
            {"code": "no-identity", "text": "no P-Asserted-Identity or Remote-Party-ID", "weight": 1.18},
            {"code": "src-callees-60s", "text": "87 distinct callees in 60 s from this source", "weight": 0.7},
        ]
        assert d["reasons"] == ["score-suspect", "no-identity", "src-callees-60s"]
        d = (await c.get(f"/api/v1/calls/{old['call']}")).json()
        assert [(r["code"], r["text"]) for r in d["why"]] == [
            ("vip-hold", "rule vip-hold: hold our VIP callers"),
            ("src-calls-60s", "6 calls in 60 s from this source"),  # log_src_60s = 2.0 = log1p(6.4)
            ("caller-e164", f"caller ID is a valid E.164 number ({old['from']})"),
        ]
        listed = (await c.get("/api/v1/calls", params={"reason": "no-identity", "verdict": "suspect"})).json()
        assert [x["call"] for x in listed["items"]] == [new["call"]]
        assert (await c.get("/api/v1/calls", params={"reason": "no identity"})).status_code == 422


async def test_feedback(app: FastAPI, url: str, rc: Resp) -> None:
    entries = await seed(url, time.time(), n=20)
    bot, person = entries[-2], entries[-1]
    async with client(app) as c:
        r = await c.post(f"/api/v1/calls/{bot['call']}/feedback", json={"label": "bot"})
        assert r.status_code == 200 and r.json() == {"stored": True, "allowlisted": None, "version": 0}
        r = await c.post(f"/api/v1/calls/{person['call']}/feedback", json={"label": "human", "allowlist": "caller"})
        assert r.json() == {"stored": True, "allowlisted": {"type": "numbers", "value": person["from"]}, "version": 1}
        r = await c.post(f"/api/v1/calls/{person['call']}/feedback", json={"label": "human", "allowlist": "source"})
        assert r.json()["allowlisted"] == {"type": "cidrs", "value": f"{person['src']}/32"} and r.json()["version"] == 2
        again = await c.post(f"/api/v1/calls/{person['call']}/feedback", json={"label": "human", "allowlist": "source"})
        assert again.json()["version"] == 2  # already listed: no new version

        lists = (await c.get("/api/v1/lists")).json()
        assert lists["allow"]["numbers"] == [person["from"]] and lists["allow"]["cidrs"] == [f"{person['src']}/32"]
        actions = [a["action"] for a in (await c.get("/api/v1/audit")).json()["items"]]
        assert actions == ["feedback", "list.add", "feedback", "list.add", "feedback", "feedback"]

        assert (await c.post("/api/v1/calls/00000000deadbeef/feedback", json={"label": "bot"})).status_code == 404
        assert (await c.post(f"/api/v1/calls/{bot['call']}/feedback", json={"label": "robot"})).status_code == 422
        assert (
            await c.post(f"/api/v1/calls/{bot['call']}/feedback", json={"label": "bot", "allowlist": "all"})
        ).status_code == 422

    stored = json.loads(rc("HGET", "ab:{admin}:feedback", bot["call"]))
    assert (
        stored["label"] == 1
        and stored["features"] == {**dict.fromkeys(FEATURE_NAMES, 0.0), **json.loads(bot["features"])}
        and stored["ts"] > 1e9
    )
    assert json.loads(rc("HGET", "ab:{admin}:feedback", person["call"]))["label"] == 0


async def test_stats(app: FastAPI, url: str) -> None:
    if 60 - time.time() % 60 < 2:  # keep the whole test inside one minute
        await asyncio.sleep(2.5)
    now = time.time()
    minute = int(now // 60) * 60
    entries = [call_entry(i, minute - 60 * (i % 3) + 1) for i in range(30)]  # this minute and the two before
    entries += [call_entry(i, now - 3 * 3600, verdict="drop", src="203.0.113.9") for i in range(7)]
    async with store(url) as s:
        await s.log_calls(entries, 10_000)
    async with client(app, VIEWER) as c:
        r = await c.get("/api/v1/stats", params={"bucket": "minute", "span": 5})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["bucket"] == "minute" and [p["t"] for p in body["series"]] == [
            minute - 60 * k for k in range(4, -1, -1)
        ]
        last = body["series"][-1]
        assert sum(last[v] for v in ("pass", "suspect", "reject", "drop")) == 10
        assert [sum(p[v] for v in ("pass", "suspect", "reject", "drop")) for p in body["series"]] == [0, 0, 10, 10, 10]
        top = body["top"]
        assert top["user_agents"][0] == ["friendly-scanner", 12]
        assert top["sources"] and all(src != "203.0.113.9" for src, _ in top["sources"])  # 3 h ago: outside the span
        assert len(top["numbers"]) <= 10

        hourly = (await c.get("/api/v1/stats", params={"bucket": "hour", "span": 6})).json()
        assert len(hourly["series"]) == 6 and hourly["series"][-4]["drop"] >= 7
        assert hourly["top"]["sources"][0] == ["203.0.113.9", 7]
        assert (await c.get("/api/v1/stats", params={"bucket": "hour", "span": 721})).status_code == 422
        assert (await c.get("/api/v1/stats", params={"bucket": "day"})).status_code == 422
        assert (await c.get("/api/v1/stats", params={"span": 0})).status_code == 422


async def test_call_detail_shows_the_transport_and_tls_facts(app: FastAPI, url: str) -> None:
    now = time.time()
    tls = {"tls_version": "TLSv1.3", "tls_cipher": "TLS_AES_256_GCM_SHA384", "tls_client_cert": "1"}
    entries = [
        call_entry(0, now - 3, transport="udp"),
        call_entry(1, now - 2, transport="wss", tls_sni="", **tls),
        call_entry(2, now - 1, transport="tls", tls_sni="sip.example.net", **tls),
        call_entry(3, now),  # logged before the transport was
    ]
    async with store(url) as s:
        await s.log_calls(entries, 100_000)
    async with client(app, VIEWER) as c:
        got = [(await c.get(f"/api/v1/calls/{e['call']}")).json() for e in entries]
        listed = {x["call"]: x["transport"] for x in (await c.get("/api/v1/calls")).json()["items"]}
    assert [d["transport"] for d in got] == ["udp", "wss", "tls", ""]
    assert [listed[e["call"]] for e in entries] == ["udp", "wss", "tls", ""]
    assert got[0]["tls"] is None and got[3]["tls"] is None
    assert got[1]["tls"] == {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "sni": None, "client_cert": True}
    assert got[2]["tls"]["sni"] == "sip.example.net"
