"""Tokens, apps and clients for the admin API tests (the session Redis: tests/conftest.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from antibot.store.redis import Store
from api.auth import TokenStore, hash_token
from api.main import create_app

ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
T0 = 1_700_000_000.0


@pytest.fixture
def tokens() -> TokenStore:
    store = TokenStore([("viewer", hash_token(VIEWER))])
    store.add_token("admin", ADMIN)
    return store


@pytest.fixture
def card(tmp_path: Path) -> Path:
    path = tmp_path / "antibot-gbt.card.json"
    path.write_text(json.dumps({"format": "antibot-gbt/1", "created": "2024-01-01", "metrics": {"auc": 0.99}}))
    return path


@pytest.fixture
def app(url: str, tokens: TokenStore, card: Path) -> FastAPI:
    return create_app(url, tokens=tokens, model_card=card, static_dir=None)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def client(app: FastAPI, token: str | None = ADMIN) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client (lifespan run), authenticated with ``token``."""
    headers = auth(token) if token else {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api", headers=headers) as c,
    ):
        yield c


@contextlib.asynccontextmanager
async def store(url: str) -> AsyncIterator[Store]:
    s = await Store.connect(url)
    try:
        yield s
    finally:
        await s.close()


def call_entry(i: int, ts: float, **over: Any) -> dict[str, str]:
    """A call log entry shaped like :class:`antibot.detect.engine.Detector` writes it."""
    verdict = over.pop("verdict", ("pass", "pass", "suspect", "reject", "drop")[i % 5])
    action = {"pass": "relay", "suspect": "relay"}.get(verdict, verdict)
    score = over.pop("score", round((i % 100) / 100, 4))
    entry = {
        "call": f"{i:016x}",
        "ts": f"{ts:.3f}",
        "verdict": verdict,
        "action": action,
        "mode": "enforce",
        "score": f"{score:.4f}",
        "reasons": "from_e164,log_src_60s" if verdict != "pass" else "",
        "rule": "score-reject" if verdict == "reject" else "",
        "src": f"198.51.100.{i % 10}",
        "from": f"4420794600{i % 100:02d}",
        "to": f"10{i % 7}",
        "ua": "friendly-scanner" if verdict in ("reject", "drop") else "Zoiper rv2.10",
        "call_id": f"cid-{i}@198.51.100.{i % 10}",
        "explanation": json.dumps([["log_src_60s", 0.8], ["from_e164", 0.3]]),
        "features": json.dumps({"log_src_60s": float(i % 20), "from_e164": 1.0, "to_len": 3.0}),
    }
    entry.update({k: str(v) for k, v in over.items()})
    return entry


def outcome_entry(call: str, status: int, duration: float | None, ts: float) -> dict[str, str]:
    return {
        "call": call,
        "outcome": str(status),
        "duration": "" if duration is None else f"{duration:.1f}",
        "ts": f"{ts:.3f}",
    }
