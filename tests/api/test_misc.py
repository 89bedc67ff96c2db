"""Model card, metrics, static dashboard files, Redis outages and the ``antibot api`` command."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI

from api import cli
from api.auth import TokenStore
from api.main import create_app
from api.metrics import HistogramSample, MetricsSnapshot
from api.settings import STATIC_DIR

from .conftest import ADMIN, VIEWER, call_entry, client, store


class FakeProxy:
    def __init__(self) -> None:
        self.calls = 0

    def metrics_snapshot(self) -> MetricsSnapshot:
        self.calls += 1
        return MetricsSnapshot(
            sip_messages={"requests": 120, "responses": 80, "malformed": 2},
            verdicts={"relay": 90, "reject": 25, "drop": 5},
            decision_latency=HistogramSample([(0.001, 50), (0.005, 110), (0.025, 119)], 120, 0.42),
            redis_errors=3,
            calllog_dropped=1,
            score_isolated=4,
        )


class BrokenProxy:
    def metrics_snapshot(self) -> MetricsSnapshot:
        raise RuntimeError("boom")


async def test_model_card(app: FastAPI, url: str, tokens: TokenStore, tmp_path: Path) -> None:
    async with client(app, VIEWER) as c:
        r = await c.get("/api/v1/model")
        assert r.status_code == 200 and r.json()["metrics"] == {"auc": 0.99}
    model = tmp_path / "m.json"
    (tmp_path / "m.card.json").write_text(json.dumps({"created": "x"}))
    async with client(create_app(url, tokens=tokens, model_card=model, static_dir=None)) as c:
        assert (await c.get("/api/v1/model")).json() == {"created": "x"}  # the card beside a model path
    for card in (None, tmp_path / "missing.card.json", tmp_path / "m.json"):
        if card is not None and card.name == "m.json":
            card = tmp_path / "broken.card.json"
            card.write_text("[1, 2")
        async with client(create_app(url, tokens=tokens, model_card=card, static_dir=None)) as c:
            assert (await c.get("/api/v1/model")).status_code == 404


async def test_metrics(url: str, tokens: TokenStore) -> None:
    async with store(url) as s:
        import time

        await s.log_calls([call_entry(i, time.time()) for i in range(10)], 1000)
    proxy = FakeProxy()
    app = create_app(url, tokens=tokens, metrics=proxy, static_dir=None)
    async with client(app, VIEWER) as c:
        await c.get("/api/v1/rules")
        await c.get("/api/v1/rules/missing")
        r = await c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
    for line in [
        'antibot_sip_messages_total{kind="requests"} 120.0',
        'antibot_verdicts_total{action="reject"} 25.0',
        'antibot_decision_latency_seconds_bucket{le="0.005"} 110.0',
        'antibot_decision_latency_seconds_bucket{le="+Inf"} 120.0',
        "antibot_decision_latency_seconds_count 120.0",
        "antibot_decision_latency_seconds_sum 0.42",
        "antibot_redis_errors_total 3.0",
        "antibot_calllog_dropped_total 1.0",
        "antibot_score_isolated_total 4.0",
        "antibot_redis_up 1.0",
        'antibot_recent_verdicts{verdict="pass",window="1h"} 4.0',
        'antibot_recent_verdicts{verdict="drop",window="24h"} 2.0',
        'antibot_api_requests_total{method="GET",route="/api/v1/rules",status="200"} 1.0',
        'antibot_api_requests_total{method="GET",route="/api/v1/rules/{rule_id}",status="404"} 1.0',
    ]:
        assert line in text, line
    assert proxy.calls == 1

    alone = create_app(url, tokens=tokens, metrics=BrokenProxy(), static_dir=None)
    async with client(alone) as c:
        text = (await c.get("/metrics")).text
    assert "antibot_proxy_metrics_up 0.0" in text and "antibot_sip_messages" not in text
    assert "antibot_recent_verdicts" in text


async def test_redis_down_is_503_never_500(tmp_path: Path, tokens: TokenStore) -> None:
    app = create_app(f"unix://{tmp_path}/none.sock", tokens=tokens, static_dir=None)
    async with client(app) as c:
        r = await c.get("/readyz")
        assert r.status_code == 503 and r.json() == {"status": "not ready", "redis": False}
        for method, path, body in [
            ("GET", "/api/v1/rules", None),
            ("POST", "/api/v1/rules", {"min_score": 0.5}),
            ("GET", "/api/v1/calls", None),
            ("GET", "/api/v1/stats", None),
        ]:
            r = await c.request(method, path, json=body)
            assert r.status_code == 503 and "store is unavailable" in r.json()["message"], (path, r.text)
        metrics = await c.get("/metrics")
        assert metrics.status_code == 200 and "antibot_redis_up 0.0" in metrics.text
        assert "antibot_api_redis_errors_total" in metrics.text
        assert (await c.get("/healthz")).status_code == 200


async def test_static_dashboard(url: str, tokens: TokenStore, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>antibot</h1>")
    (tmp_path / "app.js").write_text("console.log(1)")
    app = create_app(url, tokens=tokens, static_dir=tmp_path)
    async with client(app, token=None) as c:
        r = await c.get("/")
        assert r.status_code in (302, 307) and r.headers["location"] == "/index.html"
        assert (await c.get("/index.html")).text == "<h1>antibot</h1>"
        assert (await c.get("/app.js")).status_code == 200
        assert (await c.get("/api/v1/rules")).status_code == 401  # API routes win over the mount
        assert (await c.get("/healthz")).status_code == 200
    assert STATIC_DIR.name == "static" and STATIC_DIR.parent.name == "api"
    async with client(create_app(url, tokens=tokens, static_dir=tmp_path / "none"), token=ADMIN) as c:
        assert (await c.get("/")).status_code == 404


def _csp(value: str) -> dict[str, list[str]]:
    directives = [d.split() for d in value.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


async def test_security_headers_on_the_dashboard_and_the_api(url: str, tokens: TokenStore) -> None:
    """the dashboard is sent with a strict Content-Security-Policy (no inline
    script or style, no framing) and X-Frame-Options; every other response carries them too."""
    app = create_app(url, tokens=tokens, static_dir=STATIC_DIR)
    async with client(app, token=None) as c:
        responses = [
            await c.get("/index.html"),
            await c.get("/app.js"),
            await c.get("/style.css"),
            await c.get("/"),
            await c.get("/no-such-file.js"),
            await c.get("/api/v1/rules"),  # 401 from the gate
            await c.get("/healthz"),
        ]
        async with client(app) as admin:
            responses.append(await admin.get("/api/v1/settings"))
            responses.append(await admin.patch("/api/v1/settings", json={"mode": "off"}))  # 422
    assert [r.status_code for r in responses] == [200, 200, 200, 307, 404, 401, 200, 200, 422]
    for r in responses:
        where = f"{r.request.method} {r.request.url.path}"
        assert r.headers.get("x-frame-options") == "DENY", where
        assert r.headers.get("x-content-type-options") == "nosniff", where
        assert r.headers.get("referrer-policy") == "no-referrer", where
        csp = _csp(r.headers.get("content-security-policy", ""))
        assert csp.get("default-src") == ["'self'"], (where, csp)
        assert csp.get("frame-ancestors") == ["'none'"], (where, csp)
        assert csp.get("object-src") == ["'none'"] and csp.get("base-uri") == ["'none'"], (where, csp)
        for directive in ("script-src", "style-src"):
            assert csp.get(directive) == ["'self'"], (where, csp)  # no 'unsafe-inline', no 'unsafe-eval'
    assert len(responses[0].headers.get_list("content-security-policy")) == 1


def test_the_dashboard_page_has_nothing_inline() -> None:
    """Under ``script-src 'self'; style-src 'self'`` inline code would be blocked: there is none."""
    html = (STATIC_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    assert scripts == [(' src="app.js"', "")]
    assert not re.search(r"<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", html, re.I)
    js = (STATIC_DIR / "app.js").read_text()
    # a style attribute set from a string is inline style too (CSSOM properties are not)
    assert not re.search(r"\bstyle:\s*[`'\"]|setAttribute\(\s*['\"]style|\beval\(|new Function|\.innerHTML\s*=", js)


def test_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="antibot")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["api", "--redis-url", "unix:///tmp/r.sock", "--listen", "127.0.0.1:0", "--model", "m.json"]
    )
    settings, token = cli.settings_from_args(args, {})
    assert (settings.host, settings.port, settings.redis_url) == ("127.0.0.1", 0, "unix:///tmp/r.sock")
    assert token and settings.tokens.authenticate(token) is not None  # generated for a loopback run
    settings, token = cli.settings_from_args(args, {"ANTIBOT_API_TOKEN": ADMIN})
    assert token == "" and settings.tokens.authenticate(ADMIN) is not None

    monkeypatch.delenv("ANTIBOT_API_TOKEN", raising=False)
    monkeypatch.delenv("ANTIBOT_API_TOKENS_FILE", raising=False)
    monkeypatch.setattr("antibot.logs.setup", lambda level="info": None)
    wide = parser.parse_args(["api", "--redis-url", "redis://127.0.0.1:1", "--listen", "0.0.0.0:8080"])
    assert cli.run(wide) == 2  # no token: refuses to listen on every address
    monkeypatch.setenv("ANTIBOT_API_TOKEN", "short")
    assert cli.run(wide) == 2
    bad = parser.parse_args(["api", "--redis-url", "redis://127.0.0.1:1", "--listen", "nowhere"])
    assert cli.run(bad) == 2
