"""The policy of ``antibot run``: the one the config file describes, and the one it follows.

The config's document (:func:`seed_doc`, compiled by :func:`build_rules`) seeds Redis the first
time with detection (the admin API owns it afterwards); with ``--no-detect`` it is the whole
policy, applied by :class:`antibot.detect.unscored.UnscoredRules`. A node's ``--mode`` is its
own: :func:`build_rules` applies it over the document's mode, and it is never part of a
document written to Redis (seeded or republished), so one node in monitor mode leaves the
others enforcing. The admin API's settings endpoint changes the shared mode. With the admin API, the API and
every proxy share one Redis: a policy change is published on a channel and :func:`follow_policy`
rebuilds this process's rules from the stored document (well within a second), with no restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..cancel import cancel_and_wait
from ..config import ConfigError, Settings
from ..detect.lists import NumberLists
from ..detect.policy_doc import default_doc, international_only, ruleset_from_doc
from ..detect.rules import RuleError, RuleSet

if TYPE_CHECKING:
    from .detection import Detection

__all__ = ["build_rules", "follow_policy", "seed_doc", "with_mode"]

log = logging.getLogger("antibot")


def seed_doc(s: Settings) -> dict[str, Any]:
    """The policy document the config file describes (used when Redis holds none yet); its
    mode is the config file's, not this node's ``--mode``."""
    doc = default_doc()
    doc.update(
        mode=s.mode,
        suspect_threshold=s.suspect_threshold,
        reject_threshold=s.reject_threshold,
        corroboration=s.corroboration,
        isolated_verdict=s.isolated_verdict,
        reject_status=int(s.reject_status),
        deny_action=s.reject_action,
    )
    doc["lists"]["deny"]["user_agents"] = list(s.deny_user_agents)
    # the destination policy: the international entries of [detect] premium/high_risk_prefixes
    defaults = NumberLists()
    premium = defaults.premium_prefixes if s.premium_prefixes is None else s.premium_prefixes
    high_risk = defaults.high_risk_prefixes if s.high_risk_prefixes is None else s.high_risk_prefixes
    doc["destinations"] = {
        "enabled": s.deny_destinations,
        "premium_prefixes": international_only(premium),
        "high_risk_prefixes": international_only(high_risk),
        "exceptions": list(s.destination_exceptions),
    }
    doc["rules"] = list(s.rules)
    return doc


def build_rules(doc: dict[str, Any], mode: str | None = None) -> RuleSet:
    """This node's rules: ``doc`` compiled, in ``mode`` when given (its ``--mode``)."""
    try:
        return ruleset_from_doc(with_mode(doc, mode))
    except RuleError as exc:
        raise ConfigError(f"rules: {exc}") from None


def with_mode(doc: dict[str, Any], mode: str | None) -> dict[str, Any]:
    """``doc`` as this node applies it: a copy in ``mode``, or ``doc`` itself when None."""
    return doc if mode is None else {**doc, "mode": mode}


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
                detector.rules = ruleset_from_doc(with_mode(doc, detection.mode_override))
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
        await cancel_and_wait([watcher, *pending])
