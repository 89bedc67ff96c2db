"""Rules: CRUD, validation messages, ordering, enable/disable and dry-run on logged calls."""

from __future__ import annotations

from fastapi import FastAPI

from antibot.detect.policy_doc import ruleset_from_doc
from antibot.detect.rules import Facts
from antibot.proxy.effects import TlsFacts

from .conftest import T0, call_entry, client, outcome_entry, store


async def test_crud(app: FastAPI, url: str) -> None:
    async with client(app) as c:
        assert (await c.get("/api/v1/rules")).json() == {"version": 0, "rules": []}
        r = await c.post(
            "/api/v1/rules",
            json={"id": "scanners", "ua_pattern": "sipvicious|friendly-scanner", "action": "drop", "reason": "scanner"},
        )
        assert r.status_code == 201, r.text
        assert r.headers["etag"] == '"1"'
        rule = r.json()
        assert rule["id"] == "scanners" and rule["phase"] == "deny" and rule["enabled"] is True
        assert rule["cidrs"] == [] and rule["status"] == 603

        r = await c.post(
            "/api/v1/rules", json={"cidrs": ["203.0.113.7", "2001:db8::1/64"], "phase": "allow", "action": "relay"}
        )
        assert r.status_code == 201
        generated = r.json()["id"]
        assert generated.startswith("r-")
        assert r.json()["cidrs"] == ["203.0.113.7/32", "2001:db8::/64"]  # normalised

        assert (await c.post("/api/v1/rules", json={"id": "scanners", "min_score": 0.5})).status_code == 409
        got = await c.get("/api/v1/rules/scanners")
        assert got.status_code == 200 and got.json() == rule
        assert (await c.get("/api/v1/rules/nope")).status_code == 404

        r = await c.patch("/api/v1/rules/scanners", json={"reason": "SIP scanner", "status": 403, "action": "reject"})
        assert r.status_code == 200 and r.json()["reason"] == "SIP scanner" and r.json()["status"] == 403
        r = await c.patch("/api/v1/rules/scanners", json={"min_score": 0.2})
        assert r.json()["min_score"] == 0.2 and r.json()["ua_pattern"] == "sipvicious|friendly-scanner"
        r = await c.patch("/api/v1/rules/scanners", json={"min_score": None})
        assert r.json()["min_score"] is None
        assert (await c.patch("/api/v1/rules/nope", json={"enabled": False})).status_code == 404

        listed = (await c.get("/api/v1/rules")).json()
        assert [x["id"] for x in listed["rules"]] == ["scanners", generated]
        assert listed["version"] == 5

        r = await c.delete(f"/api/v1/rules/{generated}")
        assert r.status_code == 204 and r.headers["etag"] == '"6"'
        assert (await c.delete(f"/api/v1/rules/{generated}")).status_code == 404
        assert [x["id"] for x in (await c.get("/api/v1/rules")).json()["rules"]] == ["scanners"]

    async with store(url) as s:  # what the proxies compile
        doc = await s.get_policy()
    assert doc is not None and doc["version"] == 6
    rules = ruleset_from_doc(doc)
    decision = rules.decide(Facts("192.0.2.1", "100", "200", "friendly-scanner", 0.0))
    assert (decision.rule, decision.status, decision.reason) == ("scanners", 403, "SIP scanner")


async def test_validation_messages(app: FastAPI) -> None:
    async with client(app) as c:
        cases = [
            ({"cidrs": ["10.0.0.300"]}, "is not an IP address or network"),
            ({"from_prefixes": ["44abc"]}, "from_prefixes.0"),
            ({"ua_pattern": "("}, "bad ua_pattern"),
            ({"cidrs": ["10.0.0.0/8"], "feature": "log_src_60s"}, "feature and feature_min go together"),
            ({"min_score": 1.5}, "min_score"),
            ({"feature": "no_such", "feature_min": 1}, "unknown feature 'no_such'"),
            ({"reason": "line\r\nInjected: yes", "min_score": 0.5}, "reason"),
            ({"id": "deny-list:cidr", "min_score": 0.5}, "reserved"),
            ({"id": "has space", "min_score": 0.5}, "id"),
            ({"action": "explode", "min_score": 0.5}, "action"),
            ({"status": 200, "min_score": 0.5}, "status"),
            ({"min_score": 0.5, "colour": "red"}, "colour"),
            ({}, "needs at least one matcher"),
        ]
        for body, words in cases:
            r = await c.post("/api/v1/rules", json=body)
            assert r.status_code == 422, (body, r.text)
            assert words in r.json()["message"], (body, r.json())
        r = await c.post("/api/v1/rules", content=b'{"min_score": NaN}', headers={"content-type": "application/json"})
        assert r.status_code == 422
        r = await c.post("/api/v1/rules", content=b"[1, 2", headers={"content-type": "application/json"})
        assert r.status_code == 422
        await c.post("/api/v1/rules", json={"id": "a", "min_score": 0.9})
        r = await c.patch("/api/v1/rules/a", json={"phase": None})
        assert r.status_code == 422 and "phase cannot be null" in r.json()["message"]
        r = await c.patch("/api/v1/rules/a", json={"min_score": None})  # would leave no matcher
        assert r.status_code == 422 and "needs at least one matcher" in r.json()["message"]
        r = await c.patch("/api/v1/rules/a", json={"id": "b"})
        assert r.status_code == 422
        assert (await c.get("/api/v1/rules")).json()["version"] == 1  # nothing bad was stored


async def test_order_and_enable(app: FastAPI, url: str) -> None:
    async with client(app) as c:
        for rid, cidr in (("one", "192.0.2.0/24"), ("two", "192.0.2.0/25"), ("three", "192.0.2.0/26")):
            assert (await c.post("/api/v1/rules", json={"id": rid, "cidrs": [cidr], "reason": rid})).status_code == 201
        r = await c.put("/api/v1/rules/order", json={"ids": ["three", "one", "two"]})
        assert r.status_code == 200 and [x["id"] for x in r.json()["rules"]] == ["three", "one", "two"]
        version = r.json()["version"]
        for bad, words in [
            (["three", "one"], "missing: two"),
            (["three", "one", "two", "four"], "unknown: four"),
            (["three", "one", "one"], "exactly once"),
        ]:
            r = await c.put("/api/v1/rules/order", json={"ids": bad})
            assert r.status_code == 422 and words in r.json()["message"], r.text
        same = await c.put("/api/v1/rules/order", json={"ids": ["three", "one", "two"]})
        assert same.json()["version"] == version  # no change, no new version

        async with store(url) as s:
            doc = await s.get_policy()
        assert ruleset_from_doc(doc or {}).decide(Facts("192.0.2.1", "", "", "", 0.0)).rule == "three"

        r = await c.patch("/api/v1/rules/three", json={"enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False
        async with store(url) as s:
            doc = await s.get_policy()
        assert ruleset_from_doc(doc or {}).decide(Facts("192.0.2.1", "", "", "", 0.0)).rule == "one"
        audit = (await c.get("/api/v1/audit")).json()["items"]
        assert audit[0]["action"] == "rule.disable" and audit[0]["detail"] == "three"
        assert audit[1]["action"] == "rule.order"
        r = await c.patch("/api/v1/rules/three", json={"enabled": True})
        assert r.json()["enabled"] is True
        assert (await c.get("/api/v1/audit")).json()["items"][0]["action"] == "rule.enable"


async def test_dry_run(app: FastAPI, url: str) -> None:
    async with store(url) as s:
        entries = [call_entry(i, T0 + i) for i in range(300)]
        entries += [outcome_entry(e["call"], 486, None, T0 + 400) for e in entries[:20]]
        await s.log_calls(entries, 10_000)
    async with client(app) as c:
        rule = {"ua_pattern": "friendly-scanner", "action": "drop"}
        r = await c.post("/api/v1/rules/dry-run", json={"rule": rule})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["checked"] == 300
        assert body["hits"] == 120  # reject and drop entries carry the scanner UA
        assert len(body["calls"]) == 50
        assert all(x["ua"] == "friendly-scanner" for x in body["calls"])
        assert body["calls"][0]["ts"] > body["calls"][-1]["ts"]  # newest first

        r = await c.post("/api/v1/rules/dry-run", json={"rule": rule, "last": 100})
        assert r.json()["checked"] == 100 and r.json()["hits"] == 40

        # features, score and source as logged; a disabled rule is tried as if enabled
        r = await c.post(
            "/api/v1/rules/dry-run",
            json={"rule": {"feature": "log_src_60s", "feature_min": 19, "cidrs": ["198.51.100.9"], "enabled": False}},
        )
        assert r.json()["hits"] == 15  # i % 20 == 19 (and so i % 10 == 9)
        r = await c.post("/api/v1/rules/dry-run", json={"rule": {"min_score": 0.99}})
        assert r.json()["hits"] == 3  # score == 0.99 for i = 99, 199, 299
        old = await c.post("/api/v1/rules/dry-run", json={"rule": {"from_prefixes": ["+442079460001"]}})
        assert old.json()["hits"] == 3 and {x["from"] for x in old.json()["calls"]} == {"442079460001"}
        first = (await c.post("/api/v1/rules/dry-run", json={"rule": {"from_prefixes": ["442079460000"]}})).json()
        assert [x["call"] for x in first["calls"]] == [f"{i:016x}" for i in (200, 100, 0)]
        assert first["calls"][-1]["outcome"] == {"status": 486, "duration": None}  # outcomes were logged for i < 20
        assert first["calls"][0]["outcome"] is None

        assert (await c.post("/api/v1/rules/dry-run", json={"rule": {"ua_pattern": "("}})).status_code == 422
        assert (await c.post("/api/v1/rules/dry-run", json={"rule": rule, "last": 0})).status_code == 422
        assert (await c.post("/api/v1/rules/dry-run", json={"rule": rule, "last": 10_001})).status_code == 422
        assert (await c.get("/api/v1/rules")).json()["version"] == 0  # a dry run changes nothing


async def test_rules_on_the_transport_and_tls_facts(app: FastAPI, url: str) -> None:
    """``transports``, ``tls_sni`` and ``tls_client_cert``: validated, stored, compiled by the
    proxies, and tried on logged calls (their transport and TLS facts as logged)."""
    tls = {"transport": "tls", "tls_version": "TLSv1.3", "tls_cipher": "TLS_AES_128_GCM_SHA256"}
    async with store(url) as s:
        entries = [call_entry(0, T0, transport="udp")]
        entries.append(call_entry(1, T0 + 1, **tls, tls_sni="", tls_client_cert="0"))  # a scanner's handshake
        entries.append(call_entry(2, T0 + 2, **tls, tls_sni="sip.example.net", tls_client_cert="1"))
        entries.append(call_entry(3, T0 + 3))  # logged before the transport was
        await s.log_calls(entries, 10_000)
    async with client(app) as c:
        for bad, message in [
            ({"transports": ["sctp"]}, "transports.0"),
            ({"tls_sni": "not a name!"}, "tls_sni must be 'absent', 'present' or a server name"),
            ({"tls_client_cert": "maybe"}, "tls_client_cert"),
        ]:
            r = await c.post("/api/v1/rules", json=bad)
            assert r.status_code == 422 and message in r.text, (bad, r.text)

        async def hits(rule: dict[str, object]) -> list[str]:
            r = await c.post("/api/v1/rules/dry-run", json={"rule": rule})
            assert r.status_code == 200, r.text
            return sorted(x["call"][-1] for x in r.json()["calls"])

        assert await hits({"transports": ["tls", "wss"]}) == ["1", "2"]
        assert await hits({"transports": ["udp"]}) == ["0"]
        assert await hits({"tls_sni": "absent"}) == ["1"]  # never a call not over TLS
        assert await hits({"tls_sni": "SIP.example.net"}) == ["2"]
        assert await hits({"tls_client_cert": False}) == ["1"]

        r = await c.post("/api/v1/rules", json={"id": "bare-tls", "tls_sni": "Absent", "tls_client_cert": False})
        assert r.status_code == 201, r.text
        assert r.json()["tls_sni"] == "absent" and r.json()["tls_client_cert"] is False
        assert r.json()["transports"] == []
        r = await c.patch("/api/v1/rules/bare-tls", json={"tls_client_cert": None, "transports": ["tls"]})
        assert r.status_code == 200 and r.json()["tls_client_cert"] is None and r.json()["transports"] == ["tls"]
    async with store(url) as s:
        doc = await s.get_policy()
    assert doc is not None
    rules = ruleset_from_doc(doc)
    bare = TlsFacts("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "", False)
    named = TlsFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", "pbx.example.net", False)
    assert rules.decide(Facts("192.0.2.1", "1", "2", "x", 0.0, transport="tls", tls=bare)).rule == "bare-tls"
    assert rules.decide(Facts("192.0.2.1", "1", "2", "x", 0.0, transport="tls", tls=named)).rule is None
    assert rules.decide(Facts("192.0.2.1", "1", "2", "x", 0.0, transport="wss", tls=bare)).rule is None
