"""``antibot run``'s policy follower against a real, external Redis that loses its data."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from antibot.config import load
from antibot.run.detection import start_detection
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
