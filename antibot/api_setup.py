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
from .proxy.decision import Decide
from .sip.message import Request

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
        internal = d.detector.stats.internal_errors + sip.pop("internal_error", 0)
        restarts = d.embedded.restarts if d.embedded is not None else 0
        return MetricsSnapshot(
            sip,
            verdicts,
            self.latency.sample(),
            errors,
            d.calllog.dropped,
            isolated,
            internal_errors=internal,
            redis_restarts=restarts,
            counters_evicted_unsynced=d.sync.counters.evicted_unsynced,
        )


#: Seconds between checks that Redis still holds the running policy (a Redis restarted empty or
#: flushed does not always drop the subscription, so the follower looks for itself).
POLICY_CHECK_INTERVAL = 2.0


def _version(doc: dict[str, Any]) -> int:
    """A policy document's integer ``version`` (-1 when missing or not an integer)."""
    version = doc.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) and version >= 0 else -1


async def follow_policy(detection: Detection, check_every: float = POLICY_CHECK_INTERVAL) -> None:
    """Load the stored policy and rebuild the rules on every published change (pub/sub).

    On each (re)subscription and every ``check_every`` seconds it also checks that Redis still
    holds the running policy (``detection.policy``): when Redis holds none, or an older version
    (restarted empty, flushed, or behind after losing its last AOF second), the running
    document is written back as it is (``Store.commit_policy``: history, audit entry and
    publication included), so the API shows the policy the proxy enforces, never a v0 default.
    """
    from .detect.policy import ruleset_from_doc

    store = detection.store
    detector = detection.detector
    lock = asyncio.Lock()

    async def republish(stored: dict[str, Any] | None) -> None:
        running = detection.policy
        base = 0 if stored is None else _version(stored)
        held = "no policy" if stored is None else f"version {base}"
        detail = f"Redis held {held}; the running version {_version(running)} was written back"
        audit = {"ts": f"{time.time():.3f}", "who": "antibot", "action": "policy republished", "detail": detail}
        if await store.commit_policy(running, base, audit):
            log.warning("policy republished", extra={"version": _version(running), "stored": held})

    async def reload() -> None:
        async with lock:
            doc = await store.get_policy()
            if doc is None or 0 <= _version(doc) < _version(detection.policy):
                await republish(doc)
                return
            if doc == detection.policy:
                return
            try:
                detector.rules = ruleset_from_doc(doc)
            except RuleError as exc:
                log.error("stored policy refused; keeping the previous rules", extra={"error": str(exc)})
                return
            detection.policy = doc
            log.info("policy applied", extra={"version": doc.get("version")})

    async def check() -> None:
        try:
            await reload()
        except Exception as exc:  # noqa: BLE001 - Redis down: the next check (or resubscription) retries
            log.debug("policy check failed", extra={"error": repr(exc)})

    pending: set[asyncio.Task[None]] = set()

    def spawn_check() -> None:
        task = asyncio.get_running_loop().create_task(check())
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def periodic() -> None:
        while True:
            await asyncio.sleep(check_every)
            await check()

    watcher = asyncio.get_running_loop().create_task(periodic())
    try:
        while True:
            try:
                # on_subscribed: catch up on changes made while we were not subscribed.
                async for _ in store.policy_changes(ready=spawn_check):
                    await reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - resubscribe on any store failure
                log.warning("policy subscription lost; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1.0)
    finally:
        watcher.cancel()
        for task in (watcher, *pending):
            task.cancel()
        await asyncio.gather(watcher, *pending, return_exceptions=True)


async def start_api(
    s: Settings, core: ProxyCore, detection: Detection, model: Path | None
) -> tuple[Decide, ApiServer]:
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
    return timed, server
