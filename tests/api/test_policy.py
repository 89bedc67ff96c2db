"""Lists, settings, versions, audit, history, change notifications and concurrent admins."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from antibot.detect.policy_doc import default_doc, ruleset_from_doc
from antibot.detect.rules import Facts, RuleSet
from antibot.store.redis import Store

from ..store.resp import Resp
from .conftest import VIEWER, auth, client, store


async def test_lists(app: FastAPI, url: str) -> None:
    async with client(app) as c:
        empty = {"cidrs": [], "numbers": [], "user_agents": []}
        assert (await c.get("/api/v1/lists")).json() == {"allow": empty, "deny": empty, "version": 0}
        added = [
            ("allow", "cidrs", "10.1.2.3", "10.1.2.3/32"),
            ("allow", "numbers", "+44 20 7946 0000", "+442079460000"),
            ("deny", "cidrs", "2001:db8::/32", "2001:db8::/32"),
            ("deny", "numbers", "900", "900"),
            ("deny", "user_agents", "  sipcli  ", "sipcli"),
        ]
        for kind, kind_type, value, stored in added:
            r = await c.post(f"/api/v1/lists/{kind}/{kind_type}", json={"value": value})
            assert r.status_code == 201, r.text
            assert r.json()["value"] == stored
        lists = (await c.get("/api/v1/lists")).json()
        assert lists["allow"]["cidrs"] == ["10.1.2.3/32"] and lists["deny"]["user_agents"] == ["sipcli"]
        assert lists["version"] == 5

        r = await c.post("/api/v1/lists/allow/cidrs", json={"value": "10.1.2.3/32"})
        assert r.status_code == 409 and "already" in r.json()["message"]
        for path, value, words in [
            ("allow/cidrs", "10.1.2.300", "not an IP address"),
            ("deny/numbers", "12ab", "not a number"),
            ("deny/user_agents", "bad\nua", "printable"),
            ("deny/user_agents", "   ", "1-200"),
        ]:
            r = await c.post(f"/api/v1/lists/{path}", json={"value": value})
            assert r.status_code == 422 and words in r.json()["message"], (path, r.text)
        assert (await c.post("/api/v1/lists/grey/cidrs", json={"value": "10.0.0.1"})).status_code == 422
        assert (await c.post("/api/v1/lists/allow/emails", json={"value": "x"})).status_code == 422
        assert (await c.post("/api/v1/lists/allow/cidrs", json={"value": "x" * 201})).status_code == 422

        async with store(url) as s:
            rules = ruleset_from_doc(await s.get_policy() or {})
        assert rules.decide(Facts("10.1.2.3", "", "", "sipcli", 1.0)).rule == "allow-list:cidr"
        assert rules.decide(Facts("192.0.2.1", "9001", "1", "x", 0.0)).rule == "deny-list:caller"
        assert rules.decide(Facts("192.0.2.1", "1", "1", "SIPCLI/1.0", 0.0)).rule == "deny-list:ua"

        assert (await c.delete("/api/v1/lists/deny/numbers", params={"value": "900"})).status_code == 204
        assert (await c.delete("/api/v1/lists/deny/numbers", params={"value": "900"})).status_code == 404
        r = await c.delete("/api/v1/lists/allow/cidrs", params={"value": "10.1.2.3"})  # found by its normal form
        assert r.status_code == 204
        assert (await c.delete("/api/v1/lists/allow/cidrs")).status_code == 422
        lists = (await c.get("/api/v1/lists")).json()
        assert lists["allow"]["cidrs"] == [] and lists["deny"]["numbers"] == [] and lists["version"] == 7


async def test_settings(app: FastAPI, url: str) -> None:
    async with client(app) as c:
        r = await c.get("/api/v1/settings")
        assert r.json() == {
            "mode": "enforce",
            "suspect_threshold": 0.5,
            "reject_threshold": 0.9,
            "corroboration": 0.5,
            "isolated_verdict": "suspect-above-reject",
            "reject_status": 603,
            "deny_action": "reject",
            "version": 0,
        }
        r = await c.patch("/api/v1/settings", json={"mode": "monitor", "reject_threshold": 0.8, "deny_action": "drop"})
        assert r.status_code == 200 and r.json()["mode"] == "monitor" and r.json()["version"] == 1
        same = await c.patch("/api/v1/settings", json={"mode": "monitor"})
        assert same.json()["version"] == 1  # unchanged: no new version
        for body, words in [
            ({"suspect_threshold": 0.85}, "suspect_threshold <= reject_threshold"),
            ({"mode": "off"}, "mode"),
            ({"reject_status": 99}, "reject_status"),
            ({"mode": None}, "cannot be null"),
            ({"reject_threshold": "high"}, "reject_threshold"),
            ({"corroboration": 1.5}, "corroboration"),
            ({"verbose": True}, "verbose"),
        ]:
            r = await c.patch("/api/v1/settings", json=body)
            assert r.status_code == 422 and words in r.json()["message"], (body, r.text)
        assert (await c.get("/api/v1/settings")).json()["reject_threshold"] == 0.8
        r = await c.patch("/api/v1/settings", json={"corroboration": 0})
        assert r.status_code == 200 and r.json()["corroboration"] == 0
    async with store(url) as s:
        doc = await s.get_policy()
    assert doc is not None and ruleset_from_doc(doc).mode == "monitor"
    assert ruleset_from_doc(doc).corroboration == 0.0


async def test_knobs_are_bounded_by_name(app: FastAPI, url: str) -> None:
    """``suspect_threshold: 6e-27`` was stored and then rejected every call.
    Each knob that reaches the policy is refused out of range with a 422 naming it."""
    async with client(app) as c:
        for body, words in [
            ({"suspect_threshold": 6e-27}, "suspect_threshold"),
            ({"suspect_threshold": 0.0}, "suspect_threshold"),
            ({"suspect_threshold": 0.01, "reject_threshold": 0.02}, "suspect_threshold"),
            ({"reject_threshold": 1.01}, "reject_threshold"),
            ({"corroboration": -0.5}, "corroboration"),
            ({"reject_status": 700}, "reject_status"),
        ]:
            r = await c.patch("/api/v1/settings", json=body)
            assert r.status_code == 422 and words in r.json()["message"], (body, r.text)
        for raw in (b'{"suspect_threshold": NaN}', b'{"reject_threshold": Infinity}', b'{"corroboration": -Infinity}'):
            r = await c.patch("/api/v1/settings", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 422, (raw, r.text)
        for body in ({"min_score": 6e-27}, {"min_score": 0}, {"feature": "to_len", "feature_min": 1e300}):
            r = await c.post("/api/v1/rules", json=body)
            assert r.status_code == 422 and str(next(iter(body))) in r.json()["message"], (body, r.text)
            r = await c.post("/api/v1/rules/dry-run", json={"rule": body})
            assert r.status_code == 422, (body, r.text)
        await c.post("/api/v1/rules", json={"id": "hi", "min_score": 0.95})
        r = await c.patch("/api/v1/rules/hi", json={"min_score": 1e-9})
        assert r.status_code == 422 and "min_score" in r.json()["message"], r.text
        assert (await c.get("/api/v1/rules")).json()["version"] == 1  # nothing bad was stored
        r = await c.patch("/api/v1/settings", json={"suspect_threshold": 0.05, "reject_threshold": 1.0})
        assert r.status_code == 200 and r.json()["version"] == 2  # the bounds themselves are allowed
        schema = (await c.get("/openapi.json")).json()["components"]["schemas"]["SettingsUpdate"]["properties"]
        assert schema["suspect_threshold"]["anyOf"][0]["minimum"] == 0.05


async def test_a_stored_document_out_of_range_is_refused_by_name(app: FastAPI, url: str) -> None:
    """A document already in Redis (an older release, a hand edit) with a bad threshold is shown
    as it is, but no change is committed on top of it until the threshold is fixed."""
    bad = default_doc()
    bad.update(suspect_threshold=6e-27)
    async with store(url) as s:
        assert await s.seed_policy(bad)
    async with client(app) as c:
        assert (await c.get("/api/v1/settings")).json()["suspect_threshold"] == 6e-27
        r = await c.post("/api/v1/lists/deny/numbers", json={"value": "900"})
        assert r.status_code == 422 and "suspect_threshold must be between 0.05 and 1" in r.json()["message"]
        r = await c.patch("/api/v1/settings", json={"suspect_threshold": 0.5})
        assert r.status_code == 200 and r.json()["version"] == 1
        assert (await c.post("/api/v1/lists/deny/numbers", json={"value": "900"})).status_code == 201


async def test_versions_audit_history_and_notifications(app: FastAPI, url: str, rc: Resp) -> None:
    async with store(url) as s:
        received: list[int] = []
        subscribed = asyncio.Event()

        async def listen() -> None:
            async for version in s.policy_changes(ready=subscribed.set):
                received.append(version)
                if len(received) == 3:
                    return

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 5)
        async with client(app) as c:
            await c.post("/api/v1/rules", json={"id": "r1", "min_score": 0.95, "action": "drop"})
            await c.patch("/api/v1/settings", json={"suspect_threshold": 0.4})
            await c.post("/api/v1/lists/deny/cidrs", json={"value": "192.0.2.0/24"})
            await asyncio.wait_for(listener, 5)
            assert received == [1, 2, 3]

            audit = (await c.get("/api/v1/audit")).json()["items"]
            assert [(a["action"], a["version"]) for a in audit] == [
                ("list.add", 3),
                ("settings.update", 2),
                ("rule.create", 1),
            ]
            assert all(a["who"].startswith("admin:") and a["ts"] > 1e9 for a in audit)
            assert audit[1]["detail"] == "suspect_threshold=0.4"
            assert len((await c.get("/api/v1/audit", params={"limit": 1})).json()["items"]) == 1
            assert (await c.get("/api/v1/audit", params={"limit": 0})).status_code == 422

            history = (await c.get("/api/v1/policy/history")).json()["items"]
            assert [h["version"] for h in history] == [3, 2, 1]
            assert history[0]["doc"]["lists"]["deny"]["cidrs"] == ["192.0.2.0/24"]
            assert history[1]["doc"]["suspect_threshold"] == 0.4 and history[2]["doc"]["rules"][0]["id"] == "r1"
            assert all(set(h["doc"]) >= set(default_doc()) for h in history)
            assert (await c.get("/api/v1/policy/history", params={"limit": 101})).status_code == 422
        assert rc("XLEN", "ab:{admin}:policy:history") == 3 and rc("XLEN", "ab:{admin}:audit") == 3


async def test_optimistic_concurrency(app: FastAPI, url: str) -> None:
    async with client(app) as c:
        r = await c.post("/api/v1/rules", json={"id": "base", "min_score": 0.99}, headers={"If-Match": '"0"'})
        assert r.status_code == 201 and r.headers["etag"] == '"1"'
        # two admins edit version 1: the first wins, the second is told to reload
        first = await c.patch("/api/v1/rules/base", json={"reason": "first"}, headers={"If-Match": '"1"'})
        second = await c.patch("/api/v1/rules/base", json={"reason": "second"}, headers={"If-Match": 'W/"1"'})
        assert first.status_code == 200 and second.status_code == 412
        assert "version 2, not 1" in second.json()["message"]
        assert (await c.get("/api/v1/rules/base")).json()["reason"] == "first"
        assert (
            await c.patch("/api/v1/settings", json={"mode": "monitor"}, headers={"If-Match": "2"})
        ).status_code == 200
        bad = await c.patch("/api/v1/settings", json={"mode": "enforce"}, headers={"If-Match": "latest"})
        assert bad.status_code == 422 and "If-Match" in bad.json()["message"]
        assert (
            await c.patch("/api/v1/settings", json={"mode": "enforce"}, headers={"If-Match": "*"})
        ).status_code == 200

        # racing writers without If-Match: every change lands, each in its own version
        results = await asyncio.gather(
            *(c.post("/api/v1/rules", json={"id": f"race-{i}", "cidrs": [f"192.0.2.{i}"]}) for i in range(12))
        )
        assert [r.status_code for r in results] == [201] * 12
        listed = (await c.get("/api/v1/rules")).json()
        assert {r["id"] for r in listed["rules"]} == {"base"} | {f"race-{i}" for i in range(12)}
        assert listed["version"] == 4 + 12
        history = (await c.get("/api/v1/policy/history", params={"limit": 100})).json()["items"]
        assert [h["version"] for h in history] == list(range(16, 0, -1))

    # racing writers with If-Match on one version: exactly one wins
    async with store(url) as s:
        doc = await s.get_policy()
        assert doc is not None
        base = doc["version"]
        outcomes = await asyncio.gather(
            *(
                s.commit_policy(dict(doc, version=base + 1, mode=m), base, {"who": "t"})
                for m in ("monitor", "enforce") * 4
            )
        )
        assert sorted(outcomes) == [False] * 7 + [True]
        assert (await s.get_policy() or {})["version"] == base + 1


async def test_seed_and_corrupt_policy(app: FastAPI, url: str, rc: Resp) -> None:
    s = await Store.connect(url)
    try:
        seeded = dict(default_doc(), mode="monitor")
        assert await s.seed_policy(seeded)
        assert not await s.seed_policy(default_doc())  # only when none is stored
        async with client(app) as c:
            assert (await c.get("/api/v1/settings")).json()["mode"] == "monitor"
            rc("SET", "ab:{admin}:policy", "not json")
            r = await c.get("/api/v1/settings")
            assert r.status_code == 503 and "ab:{admin}:policy" in r.json()["message"]
    finally:
        await s.close()


async def test_destination_policy(app: FastAPI, url: str) -> None:
    """The destination policy is on out of the box; an admin turns it off or adds exceptions,
    and the proxies' compiled rules follow."""

    async def compiled() -> RuleSet:
        async with store(url) as s:
            return ruleset_from_doc(await s.get_policy() or {})

    premium = Facts("192.0.2.1", "", "", "Yealink", 0.0, dialled=("882161234567",))
    irsf = Facts("192.0.2.1", "", "", "Yealink", 0.0, dialled=("53512345678",))
    async with client(app) as c:
        r = await c.get("/api/v1/destinations")
        got = r.json()
        assert r.status_code == 200 and r.headers["etag"] == '"0"'
        assert got["enabled"] is True and "+882" in got["premium_prefixes"] and "+53" in got["high_risk_prefixes"]
        assert got["exceptions"] == [] and got["rules"] == ["deny-destination:premium", "deny-destination:high-risk"]

        r = await c.post("/api/v1/destinations/exceptions", json={"value": "+882 16"})
        assert r.status_code == 201 and r.json() == {"value": "+88216", "version": 1}
        assert (await c.post("/api/v1/destinations/exceptions", json={"value": "0088216"})).status_code == 409
        rules = await compiled()
        assert rules.decide(premium).rule is None and rules.decide(irsf).rule == "deny-destination:high-risk"
        assert (await c.delete("/api/v1/destinations/exceptions", params={"value": "+88216"})).status_code == 204
        assert (await c.delete("/api/v1/destinations/exceptions", params={"value": "+88216"})).status_code == 404
        assert (await compiled()).decide(premium).rule == "deny-destination:premium"

        r = await c.patch("/api/v1/destinations", json={"enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["rules"] == []
        rules = await compiled()
        assert rules.decide(premium).rule is None and rules.decide(irsf).rule is None
        r = await c.patch("/api/v1/destinations", json={"enabled": True, "high_risk_prefixes": ["00 53", "+252"]})
        assert r.status_code == 200 and r.json()["high_risk_prefixes"] == ["+53", "+252"]
        assert (await compiled()).decide(irsf).rule == "deny-destination:high-risk"
        version = r.json()["version"]
        for body, words in [
            ({"premium_prefixes": ["09"]}, "'09' is not an international number or prefix"),
            ({"exceptions": ["+88a"]}, "not an international number"),
            ({"enabled": None}, "cannot be null"),
            ({"enabled": "maybe"}, "enabled"),
            ({"allowed": ["+1"]}, "allowed"),
            ({"exceptions": ["+1"] * 1001}, "exceptions"),
        ]:
            r = await c.patch("/api/v1/destinations", json=body)
            assert r.status_code == 422 and words in r.json()["message"], (body, r.text)
        r = await c.post("/api/v1/destinations/exceptions", json={"value": "09"})
        assert r.status_code == 422 and "international" in r.json()["message"]
        # the ids are reserved for the policy
        r = await c.post("/api/v1/rules", json={"id": "deny-destination:mine", "cidrs": ["192.0.2.0/24"]})
        assert r.status_code == 422 and "reserved" in r.json()["message"]
        assert (await c.get("/api/v1/destinations")).json()["version"] == version  # nothing bad was stored
        audit = [a["action"] for a in (await c.get("/api/v1/audit")).json()["items"]]
        assert audit == ["destinations.update", "destinations.update", "destinations.unexcept", "destinations.except"]
        viewer = await c.patch("/api/v1/destinations", json={"enabled": False}, headers=auth(VIEWER))
        assert viewer.status_code == 403


async def test_a_document_stored_before_the_destination_policy_gets_it(app: FastAPI, url: str) -> None:
    old = default_doc()
    del old["destinations"]
    async with store(url) as s:
        assert await s.seed_policy(old)
    assert ruleset_from_doc(old).reads_destinations  # the proxies compile the defaults
    async with client(app) as c:
        got = (await c.get("/api/v1/destinations")).json()
        assert got["enabled"] is True and got["premium_prefixes"] == default_doc()["destinations"]["premium_prefixes"]
        r = await c.post("/api/v1/destinations/exceptions", json={"value": "+88216"})
        assert r.status_code == 201
    async with store(url) as s:
        doc = await s.get_policy() or {}
    assert doc["destinations"]["exceptions"] == ["+88216"] and doc["destinations"]["enabled"] is True
