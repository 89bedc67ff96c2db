"""Start-up of the detection pipeline for ``antibot run``: store, model, rules, call log, outcomes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..cancel import cancel_and_wait
from ..config import ConfigError, Settings
from ..detect.counting import LocalCounters
from ..detect.engine import Detector
from ..detect.features import FEATURE_NAMES
from ..detect.lists import NumberLists
from ..detect.model import Model, ModelError, load_model
from ..detect.outcomes import CALLS_TIMED, OutcomeFeed
from ..detect.policy_doc import default_doc
from ..store import StoreError
from ..store.calllog import CallLog
from ..store.embedded import EmbeddedRedis, EmbeddedRedisError
from ..store.hotpath import CounterSync
from ..store.redis import Store
from .policy import build_rules, seed_doc

log = logging.getLogger("antibot")


class Detection:
    """The running detection pieces, closed in reverse order at shutdown."""

    def __init__(
        self,
        detector: Detector,
        store: Store,
        sync: CounterSync,
        calllog: CallLog,
        embedded: EmbeddedRedis | None,
        url: str,
        policy: dict[str, Any] | None = None,
        max_calls: int = CALLS_TIMED,
        mode_override: str | None = None,
    ) -> None:
        self.detector = detector
        self.store = store
        self.sync = sync
        self.calllog = calllog
        self.embedded = embedded
        self.url = url
        #: The policy document the rules were built from (republished if Redis loses it).
        self.policy: dict[str, Any] = policy if policy is not None else default_doc()
        #: This node's ``--mode``, applied over the shared policy's (None: the policy's).
        self.mode_override = mode_override
        #: The runner's ``on_outcome`` hook: calls' outcomes (answered calls timed) to the detector.
        self.outcomes = OutcomeFeed(detector, limit=max_calls)
        self.task = calllog.start()
        loop = asyncio.get_running_loop()
        self.tasks: list[asyncio.Task[None]] = [loop.create_task(sync.run())]
        if embedded is not None:  # restarts Redis whenever it dies; the SIP path fails open meanwhile
            self.tasks.append(loop.create_task(embedded.supervise(), name="antibot-redis-supervisor"))

    async def close(self) -> None:
        await cancel_and_wait(self.tasks)
        await self.sync.flush()  # the last counts of this node
        await self.calllog.stop()
        await self.store.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


def load_shipped_model(path: Path | None) -> Model | None:
    if path is None:
        log.warning("no model found: scoring disabled, rules and counters still apply")
        return None
    try:
        model, card = load_model(path, FEATURE_NAMES)
    except ModelError as exc:
        raise ConfigError(f"model refused: {exc}") from None
    log.info("model loaded", extra={"model": str(path), "trained": str(card.get("created", "?"))})
    return model


async def start_detection(s: Settings, model_path: Path | None) -> Detection:
    model = load_shipped_model(model_path)
    embedded = None
    url = s.redis_url
    if url is None:
        embedded = EmbeddedRedis(
            Path(s.data_dir),
            load_timeout=s.redis_load_timeout,
            maxmemory=s.redis_maxmemory,
            maxmemory_policy=s.redis_maxmemory_policy,
        )
        try:
            url = await asyncio.to_thread(embedded.start)
        except EmbeddedRedisError as exc:
            raise ConfigError(str(exc)) from None
        log.info("embedded redis started", extra={"url": url, "data_dir": s.data_dir})
    try:
        store = await Store.connect(url)
    except StoreError as exc:
        if embedded is not None:
            embedded.stop()
        raise ConfigError(f"cannot reach Redis at {url}: {exc}") from None
    store.hot.call_ttl, store.hot.outcome_ttl = s.call_ttl, s.outcome_ttl
    calllog = CallLog(store, maxlen=s.calllog_maxlen)
    defaults = NumberLists()
    lists = NumberLists(
        premium_prefixes=tuple(s.premium_prefixes) if s.premium_prefixes is not None else defaults.premium_prefixes,
        high_risk_prefixes=tuple(s.high_risk_prefixes)
        if s.high_risk_prefixes is not None
        else defaults.high_risk_prefixes,
        honeypot_numbers=frozenset(s.honeypot_numbers) if s.honeypot_numbers is not None else defaults.honeypot_numbers,
    )
    doc = seed_doc(s)
    try:
        await store.seed_policy(doc)  # the config seeds Redis once; afterwards the API owns the policy
        stored = await store.get_policy()
    except StoreError as exc:
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        hint = " (raise store.redis_maxmemory)" if embedded is not None and "maxmemory" in str(exc) else ""
        raise ConfigError(f"cannot read the policy from Redis: {exc}{hint}") from None
    rules = build_rules(stored or doc, s.mode_override)
    counters = LocalCounters()
    detector = Detector(
        rules=rules,
        model=model,
        counters=counters,
        calllog=calllog,
        lists=lists,
        reason_prefix=s.reason_prefix,
        reject_phrase=s.reject_phrase,
    )
    sync = CounterSync(store.hot, counters, interval=s.counter_sync_interval(), timeout=s.store_timeout)
    return Detection(detector, store, sync, calllog, embedded, url, stored or doc, s.max_calls, s.mode_override)
