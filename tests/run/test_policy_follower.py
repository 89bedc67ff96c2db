"""``antibot run``'s policy follower against a real, external Redis that loses its data."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from antibot.config import load
from antibot.run.detection import Detection, start_detection
from antibot.run.policy import follow_policy
from antibot.store.embedded import EmbeddedRedis
from antibot.store.redis import Store
from api.policy_edit import load_policy

from ..store.resp import Resp


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_running_policy_is_republished_when_redis_comes_back_empty(tmp_path: Path) -> None:
    """The proxy enforces v1; Redis is emptied (FLUSHALL), then restarted without its AOF: each
    time the API reads v1 again (deny list included), not a v0 default, within seconds."""
    redis = EmbeddedRedis(tmp_path / "redis")  # an external Redis (--redis-url), not supervised
    url = redis.start()
    settings = load(None, {"upstream": ["sip:127.0.0.1:5080"], "redis_url": url})
    detection = await start_detection(settings, None)
    follower = asyncio.create_task(follow_policy(detection))
    admin = await Store.connect(url)  # what the admin API reads through
    try:
        doc = await load_policy(admin)
        assert doc["version"] == 0
        doc["lists"]["deny"]["user_agents"].append("evil-dialer")
        doc["version"] = 1
        before = detection.detector.rules
        assert await admin.commit_policy(doc, 0, {"ts": "1", "who": "test", "action": "edit", "detail": ""})

        async def applied() -> bool:
            return detection.detector.rules is not before

        await eventually(applied, 5.0, "the proxy to apply v1")

        async def republished() -> bool:
            try:
                stored = await load_policy(admin)
            except Exception:  # noqa: BLE001 - Redis restarting
                return False
            return stored["version"] == 1 and "evil-dialer" in stored["lists"]["deny"]["user_agents"]

        client = Resp(str(redis.socket_path))
        client("FLUSHALL")
        client.close()
        await eventually(republished, 8.0, "v1 back in Redis after FLUSHALL")

        redis.stop()
        shutil.rmtree(tmp_path / "redis" / "appendonlydir")
        redis.start()  # empty
        await eventually(republished, 8.0, "v1 back in Redis after a restart without data")
        audit = [fields for _, fields in await admin.audit_log(10)]
        assert any(entry.get("action") == "policy republished" for entry in audit), audit
        history = await admin.policy_history(10)
        assert history and history[0][1]["version"] == "1"
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await admin.close()
        await detection.close()
        redis.stop()


async def test_a_nodes_mode_flag_stays_its_own(url: str) -> None:
    """Node A runs with ``--mode monitor``, node B without: A's flag is never written to the
    shared policy (not when A seeds it, not on an edit made through the admin API), so B keeps
    enforcing; the API's settings endpoint changes the shared mode, which B follows and A's flag
    still overrides."""
    from api.auth import TokenStore
    from api.main import create_app

    from ..api.conftest import ADMIN, client

    upstream = ["sip:127.0.0.1:5080"]
    a = await start_detection(load(None, {"upstream": upstream, "redis_url": url, "mode": "monitor"}), None)
    b = await start_detection(load(None, {"upstream": upstream, "redis_url": url}), None)
    followers = [asyncio.create_task(follow_policy(node)) for node in (a, b)]
    tokens = TokenStore([])
    tokens.add_token("admin", ADMIN)
    try:
        assert (a.detector.rules.mode, b.detector.rules.mode) == ("monitor", "enforce")

        async def modes(version: int) -> tuple[str, str]:
            for node in (a, b):
                await eventually(lambda n=node: _at(n, version), 5.0, f"policy version {version} applied")
            return a.detector.rules.mode, b.detector.rules.mode

        async with client(create_app(url, tokens=tokens, static_dir=None)) as api:
            added = await api.post("/api/v1/lists/deny/user_agents", json={"value": "Acme Robo"})
            assert added.status_code == 201, added.text
            assert await modes(1) == ("monitor", "enforce")
            assert (await api.get("/api/v1/settings")).json()["mode"] == "enforce"
            changed = await api.patch("/api/v1/settings", json={"mode": "monitor"})
            assert changed.status_code == 200, changed.text
            assert await modes(2) == ("monitor", "monitor")  # the shared mode: B follows it
            assert (await api.patch("/api/v1/settings", json={"mode": "enforce"})).status_code == 200
            assert await modes(3) == ("monitor", "enforce")  # A's flag still overrides
        assert a.policy["mode"] == b.policy["mode"] == "enforce"  # what either would republish
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        await a.close()
        await b.close()


async def _at(node: Detection, version: int) -> bool:
    return node.policy.get("version") == version
