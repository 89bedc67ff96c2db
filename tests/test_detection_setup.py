"""Start-up of the detection pipeline against a real Redis: the store settings reach it."""

from __future__ import annotations

import asyncio

from antibot.config import load
from antibot.detection_setup import start_detection


def test_sync_interval_setting_reaches_the_counter_sync(url: str) -> None:
    settings = load(None, {"upstream": ["sip:127.0.0.1:5080"], "redis_url": url, "sync_interval": 0.2})

    async def main() -> float:
        detection = await start_detection(settings, None)
        try:
            return detection.sync.interval
        finally:
            await detection.close()

    assert asyncio.run(main()) == 0.2
