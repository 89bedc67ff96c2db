"""Bearer tokens, roles, the hashed tokens file and the refusal to listen openly without tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.auth import TokenError, TokenStore, hash_token
from api.main import create_app, serve
from api.settings import ApiSettings, InsecureSettingsError, check_listen, is_loopback, parse_listen

from .conftest import ADMIN, VIEWER, auth, client


async def test_health_is_public_and_the_rest_needs_a_token(app: FastAPI) -> None:
    async with client(app, token=None) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/openapi.json")).status_code == 200
        for method, path in [
            ("GET", "/api/v1/me"),
            ("GET", "/api/v1/rules"),
            ("GET", "/readyz"),
            ("GET", "/metrics"),
            ("POST", "/api/v1/rules"),
            ("GET", "/api/v1/no-such-thing"),
        ]:
            r = await c.request(method, path, content=b"{not json")
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
        r = await c.get("/api/v1/rules", headers=auth("wrong-token-0123456789"))
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await c.get("/api/v1/rules", headers={"Authorization": f"Basic {ADMIN}"})
        assert r.status_code == 401


async def test_roles(app: FastAPI) -> None:
    async with client(app, VIEWER) as c:
        assert (await c.get("/api/v1/me")).json()["role"] == "viewer"
        assert (await c.get("/api/v1/rules")).status_code == 200
        assert (await c.get("/api/v1/settings")).status_code == 200
        assert (await c.get("/readyz")).json() == {"status": "ready", "redis": True}
        r = await c.post("/api/v1/rules", json={"cidrs": ["192.0.2.0/24"]})
        assert r.status_code == 403
        assert "admin" in r.json()["message"]
        assert (await c.patch("/api/v1/settings", json={"mode": "monitor"})).status_code == 403
        assert (await c.post("/api/v1/lists/deny/cidrs", json={"value": "192.0.2.1"})).status_code == 403
        assert (await c.delete("/api/v1/lists/deny/cidrs", params={"value": "192.0.2.1"})).status_code == 403
        assert (await c.post("/api/v1/calls/abc/feedback", json={"label": "bot"})).status_code == 403
        assert (await c.get("/api/v1/settings")).json()["version"] == 0  # nothing was written
    async with client(app, ADMIN) as c:
        me = (await c.get("/api/v1/me")).json()
        assert me == {"role": "admin", "id": hash_token(ADMIN)[:8]}
        assert (await c.post("/api/v1/rules", json={"cidrs": ["192.0.2.0/24"]})).status_code == 201


async def test_tokens_file_holds_only_hashes(tmp_path: Path, url: str) -> None:
    viewer, admin = "v" * 32, "a" * 32
    path = tmp_path / "tokens"
    path.write_text(f"# role:sha256\n\nviewer:{hash_token(viewer)}\nadmin:{hash_token(admin).upper()}\n")
    tokens = TokenStore.from_env({"ANTIBOT_API_TOKENS_FILE": str(path)})
    assert tokens.authenticate(viewer).role == "viewer"  # type: ignore[union-attr]
    assert tokens.authenticate(admin).role == "admin"  # type: ignore[union-attr]
    assert tokens.authenticate(hash_token(admin)) is None  # the digest itself is no token
    app = create_app(url, tokens=tokens, static_dir=None)
    async with client(app, viewer) as c:
        assert (await c.get("/api/v1/me")).json()["role"] == "viewer"
        assert (await c.post("/api/v1/rules", json={"cidrs": ["192.0.2.0/24"]})).status_code == 403

    both = TokenStore.from_env({"ANTIBOT_API_TOKEN": "e" * 20, "ANTIBOT_API_TOKENS_FILE": str(path)})
    assert both.authenticate("e" * 20).role == "admin"  # type: ignore[union-attr]

    for text, error in [
        ("root:" + "0" * 64, "role must be one of"),
        ("admin:1234", "SHA-256"),
        ("admin " + "0" * 64, "role:sha256hex"),
    ]:
        path.write_text(text + "\n")
        with pytest.raises(TokenError, match=error) as info:
            TokenStore.from_env({"ANTIBOT_API_TOKENS_FILE": str(path)})
        assert f"{path}:1" in str(info.value)
    with pytest.raises(TokenError, match="cannot read"):
        TokenStore.from_env({"ANTIBOT_API_TOKENS_FILE": str(tmp_path / "missing")})


def test_weak_tokens_are_refused() -> None:
    for weak in ("short", "changethis", "x" * 15):
        with pytest.raises(TokenError, match="weak"):
            TokenStore.from_env({"ANTIBOT_API_TOKEN": weak})
    for odd in ("tøken-0123456789abcdef", "token 0123456789abcdef", "token\t0123456789abcdef"):
        with pytest.raises(TokenError, match="printable ASCII"):
            TokenStore.from_env({"ANTIBOT_API_TOKEN": odd})
    assert not TokenStore.from_env({}).configured
    store, token = TokenStore.with_ephemeral_admin()
    assert len(token) >= 16 and store.authenticate(token).is_admin  # type: ignore[union-attr]


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen("8081") == ("127.0.0.1", 8081)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    for bad in ("::1:80", "host:", "host:99999", "[::1]", ""):
        with pytest.raises(ValueError, match="bad listen address"):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.1.2.3") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1") and not is_loopback("::")


def test_refuses_non_loopback_without_tokens(tokens: TokenStore) -> None:
    empty = TokenStore()
    check_listen("127.0.0.1", empty)
    check_listen("0.0.0.0", tokens)
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(InsecureSettingsError, match="ANTIBOT_API_TOKEN"):
            check_listen(host, empty)
        with pytest.raises(InsecureSettingsError):
            ApiSettings(redis_url="redis://127.0.0.1", host=host)
    assert ApiSettings(redis_url="redis://127.0.0.1", host="0.0.0.0", tokens=tokens).port == 8080


async def test_serve_refuses_and_serves(url: str, tokens: TokenStore) -> None:
    open_app = create_app(url, tokens=TokenStore(), static_dir=None)
    with pytest.raises(InsecureSettingsError):
        await serve(open_app, "0.0.0.0", 0)
    app = create_app(url, tokens=tokens, static_dir=None)
    server = await serve(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as c:
            assert (await c.get("/healthz")).json() == {"status": "ok"}
            assert (await c.get("/readyz")).status_code == 401
            r = await c.get("/readyz", headers=auth(VIEWER))
            assert r.json() == {"status": "ready", "redis": True}
            assert r.headers["cache-control"] == "no-store"
        with pytest.raises(OSError):
            await serve(app, "127.0.0.1", server.port)  # taken: a clean error, not sys.exit
    finally:
        await server.stop()
    assert server.task is not None and server.task.done()
    await asyncio.sleep(0)
