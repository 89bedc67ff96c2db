"""Start-up of the detection pipeline for ``antibot run``: store, model, rules, call log."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from .config import ConfigError, Settings
from .detect.engine import Detector
from .detect.features import FEATURE_NAMES
from .detect.lists import NumberLists
from .detect.model import Model, ModelError, load_model
from .detect.rules import RuleError, RuleSet, RuleSpec
from .detect.static import StaticRules
from .store import StoreError
from .store.calllog import CallLog
from .store.embedded import EmbeddedRedis, EmbeddedRedisError
from .store.redis import Store

log = logging.getLogger("antibot")


class Detection:
    """The running detection pieces, closed in reverse order at shutdown."""

    def __init__(self, detector: Detector, store: Store, calllog: CallLog, embedded: EmbeddedRedis | None) -> None:
        self.detector = detector
        self.store = store
        self.calllog = calllog
        self.embedded = embedded
        self.task = calllog.start()

    async def close(self) -> None:
        await self.calllog.stop()
        await self.store.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


def build_rules(s: Settings, static: StaticRules) -> RuleSet:
    """Operator rules from the config; the static User-Agent deny list becomes the first deny rule."""
    try:
        specs = [RuleSpec.from_dict(r) for r in s.rules]
        if static.patterns:
            pattern = "|".join(_re2_escape(p) for p in static.patterns)
            specs.append(
                RuleSpec(
                    "deny-ua-config",
                    phase="deny",
                    action=static.action.value,
                    ua_pattern=pattern,
                    status=static.status,
                    reason="scanner user-agent",
                )
            )
        return RuleSet(
            specs,
            suspect_threshold=s.suspect_threshold,
            reject_threshold=s.reject_threshold,
            reject_status=s.reject_status,
            mode=s.mode,
        )
    except (RuleError, TypeError) as exc:
        raise ConfigError(f"rules: {exc}") from None


def _re2_escape(text: str) -> str:
    return "".join("\\" + ch if not ch.isalnum() and ch not in " -_" else ch for ch in text)


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


async def start_detection(s: Settings, model_path: Path | None, static: StaticRules) -> Detection:
    rules = build_rules(s, static)
    model = load_shipped_model(model_path)
    embedded = None
    url = s.redis_url
    if url is None:
        embedded = EmbeddedRedis(Path(s.data_dir))
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
    calllog = CallLog(store, maxlen=s.calllog_maxlen)
    defaults = NumberLists()
    lists = NumberLists(
        premium_prefixes=tuple(s.premium_prefixes) if s.premium_prefixes is not None else defaults.premium_prefixes,
        high_risk_prefixes=tuple(s.high_risk_prefixes)
        if s.high_risk_prefixes is not None
        else defaults.high_risk_prefixes,
        honeypot_numbers=frozenset(s.honeypot_numbers) if s.honeypot_numbers is not None else defaults.honeypot_numbers,
    )
    detector = Detector(
        rules=rules,
        model=model,
        store=store,
        calllog=calllog,
        lists=lists,
        store_timeout=s.store_timeout,
        reason_prefix=s.reason_prefix,
    )
    return Detection(detector, store, calllog, embedded)
