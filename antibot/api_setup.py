"""``antibot run`` serves the admin API in the same process, and follows policy changes.

The API and every proxy share one Redis: a policy change is published on a channel and this
process rebuilds its rules from the stored document (well within a second), with no restart.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from api.auth import TokenError, TokenStore
from api.main import ApiServer, create_app
from api.main import serve as serve_api
from api.metrics import LatencyHistogram, MetricsSnapshot
from api.settings import InsecureSettingsError, is_loopback, parse_listen

from .config import ConfigError, Settings
from .detect.rules import RuleError
from .detection_setup import Detection
from .proxy.core import ProxyCore
from .sip.message import Request
from .transport.loop import DecideFn

log = logging.getLogger("antibot")


class ProxyStats:
    """The running proxy's counters, exported by the API at /metrics."""

    def __init__(self, core: ProxyCore, detection: Detection, latency: LatencyHistogram) -> None:
        self.core = core
        self.detection = detection
        self.latency = latency

    def metrics_snapshot(self) -> MetricsSnapshot:
        stats = dict(self.core.stats)
        verdicts = {k[8:]: v for k, v in stats.items() if k.startswith("verdict_") and k != "verdict_timeout"}
        sip = {k: v for k, v in stats.items() if not k.startswith("verdict_")}
        d = self.detection
        errors = d.detector.stats.store_errors + d.sync.failures + d.calllog.write_errors
        isolated = d.detector.stats.isolated
        return MetricsSnapshot(sip, verdicts, self.latency.sample(), errors, d.calllog.dropped, isolated)


async def follow_policy(detection: Detection) -> None:
    """Load the stored policy and rebuild the rules on every published change (pub/sub)."""
    from .detect.policy import ruleset_from_doc

    store = detection.store
    detector = detection.detector

    async def reload() -> None:
        doc = await store.get_policy()
        if doc is None:
            return
        try:
            detector.rules = ruleset_from_doc(doc)
            log.info("policy applied", extra={"version": doc.get("version")})
        except RuleError as exc:
            log.error("stored policy refused; keeping the previous rules", extra={"error": str(exc)})

    pending: set[asyncio.Task[None]] = set()

    def on_subscribed() -> None:
        # Catch up on changes made while we were not subscribed.
        task = asyncio.get_running_loop().create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    while True:
        try:
            async for _ in store.policy_changes(ready=on_subscribed):
                await reload()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - resubscribe on any store failure
            log.warning("policy subscription lost; retrying", extra={"error": repr(exc)})
            await asyncio.sleep(1.0)


async def start_api(
    s: Settings, core: ProxyCore, detection: Detection, model: Path | None
) -> tuple[DecideFn, ApiServer]:
    assert s.api_listen is not None
    latency = LatencyHistogram()
    detector = detection.detector

    def timed(req: Request, source: Any, now: float) -> Any:
        started = time.perf_counter()
        try:
            return detector.decide(req, source, now)
        finally:
            latency.observe(time.perf_counter() - started)

    try:
        host, port = parse_listen(s.api_listen)
        tokens = TokenStore.from_env()
    except (TokenError, ValueError) as exc:
        raise ConfigError(f"admin API: {exc}") from None
    if not tokens.configured and is_loopback(host):
        tokens, token = TokenStore.with_ephemeral_admin()
        print(f"antibot: admin API token for this run: {token}", file=sys.stderr)
    url = detection.url
    app = create_app(url, tokens=tokens, model_card=model, metrics=ProxyStats(core, detection, latency))
    try:
        server = await serve_api(app, host, port)
    except (InsecureSettingsError, OSError) as exc:
        raise ConfigError(f"admin API: {exc}") from None
    detection.tasks.append(asyncio.get_running_loop().create_task(follow_policy(detection)))
    log.info("admin API listening", extra={"listen": s.api_listen})
    return timed, server
