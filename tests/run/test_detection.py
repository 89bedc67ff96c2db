"""Start-up of the detection pipeline against a real Redis: the store settings reach it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from antibot.config import SYNC_EMBEDDED, SYNC_SHARED, Settings, load
from antibot.run.detection import start_detection

from ..store.resp import Resp


def test_sync_interval_setting_reaches_the_counter_sync(url: str) -> None:
    settings = load(None, {"upstream": ["sip:127.0.0.1:5080"], "redis_url": url, "sync_interval": 0.2})

    async def main() -> float:
        detection = await start_detection(settings, None)
        try:
            return detection.sync.interval
        finally:
            await detection.close()

    assert asyncio.run(main()) == 0.2


def test_default_sync_interval_depends_on_who_shares_redis(url: str, tmp_path: Path) -> None:
    """Nodes sharing a Redis sync every 50 ms; the embedded Redis has one writer and syncs every 0.5 s."""
    shared = load(None, {"upstream": ["sip:127.0.0.1:5080"], "redis_url": url})
    embedded = load(None, {"upstream": ["sip:127.0.0.1:5080"], "data_dir": str(tmp_path / "data")})

    async def interval(settings: Settings) -> tuple[float, bool]:
        detection = await start_detection(settings, None)
        try:
            return detection.sync.interval, detection.embedded is not None
        finally:
            await detection.close()

    assert asyncio.run(interval(shared)) == (SYNC_SHARED, False)
    assert asyncio.run(interval(embedded)) == (SYNC_EMBEDDED, True)
    assert SYNC_SHARED < SYNC_EMBEDDED


def test_store_settings_reach_redis(url: str, tmp_path: Path) -> None:
    """``[store] call_ttl`` / ``outcome_ttl`` set the call index and outcome hash TTLs (not 7 days)."""
    cfg = tmp_path / "store.toml"
    cfg.write_text(
        f'[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[store]\nredis_url = "{url}"\ncall_ttl = 7200\noutcome_ttl = 3600\n'
    )
    settings = load(str(cfg), {})

    async def main() -> None:
        detection = await start_detection(settings, None)
        try:
            detection.calllog.submit({"call": "c1", "verdict": "pass", "ts": "1700000000"})
            detection.calllog.submit({"call": "c1", "outcome": "200", "duration": "30", "ts": "1700000030"})
        finally:
            await detection.close()

    asyncio.run(main())
    client = Resp(url.removeprefix("unix://"))
    try:
        assert 7000 < client("TTL", "ab:call:c1") <= 7200
        assert 3400 < client("TTL", "ab:outcome:c1") <= 3600
    finally:
        client.close()
