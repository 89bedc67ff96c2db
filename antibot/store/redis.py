"""The one module that talks to Redis: windowed counters, call outcomes and the call log stream.

Key scheme (every key of one script call shares its entity's Redis Cluster hash tag)::

    ab:{<kind>:<value>}:<metric>:<window>:<bucket>    kind: src | from | to | pfx | ua
    ab:{src:<ip>}:recent                              the last To numbers this source dialled
    ab:calls                                          the call log stream

``metric`` is ``inv`` (INVITEs), ``dto`` (HyperLogLog of To numbers), ``dsrc`` (HyperLogLog
of source IPs) or ``calls``/``failed``/``short`` (outcomes); ``window`` is ``1s``, ``10s``,
``60s`` or ``1h``; ``bucket`` is ``floor(now / W)`` for the caller's ``now``, never Redis's
clock. A bucket's keys expire when it stops being the "previous" bucket (at most 2 W after
it began); ``recent`` expires 1 h after the last push.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from types import TracebackType
from typing import Any, Final, cast
from urllib.parse import quote

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, WatchError

from ..detect.observation import Counters, Observation
from . import StoreError

CALLS_STREAM: Final = "ab:calls"
#: Operator feedback: call ref -> JSON ``{"label": 0|1, "features": {name: value}}``.
FEEDBACK_HASH: Final = "ab:feedback"
RECENT_TO: Final = 10
RECENT_TTL: Final = 3600
WINDOWS: Final = {1: "1s", 10: "10s", 60: "60s", 3600: "1h"}

# Admin API keys (see the "admin API" section of Store).
POLICY_KEY: Final = "ab:policy"  # the policy document: JSON with an integer "version"
POLICY_HISTORY: Final = "ab:policy:history"  # stream {version, ts, who, doc}
POLICY_CHANNEL: Final = "ab:policy:changed"  # pub/sub: the new version
AUDIT_STREAM: Final = "ab:audit"  # stream {ts, who, action, detail, version}
CALL_INDEX: Final = "ab:call:"  # + call ref -> its ab:calls stream id
OUTCOME_PREFIX: Final = "ab:outcome:"  # + call ref -> hash {status, duration, ts}
STATS_PREFIX: Final = "ab:stats:"  # + "m:<epoch minute>" / "h:<epoch hour>" -> hash verdict -> count
TOP_PREFIX: Final = "ab:top:"  # + "src|ua|num:<epoch hour>" -> zset value -> suspect/reject/drop calls
VERDICTS: Final = ("pass", "suspect", "reject", "drop")
CALL_REF_MAX: Final = 128
CALL_INDEX_TTL: Final = 7 * 86400
STATS_TTL: Final = {"m": 2 * 86400, "h": 30 * 86400}
TOP_KEEP: Final = 200
HISTORY_MAXLEN: Final = 1000
AUDIT_MAXLEN: Final = 10_000

_PLAIN = re.compile(r"[!-$&-z|~]{1,96}")  # printable ASCII minus % { } and space
_QUOTE_SAFE = "!\"#$&'()*+,-./:;<=>?@[\\]^_`|~"

_Call = tuple[list[str], list[str | int]]


@dataclass(frozen=True, slots=True)
class _Script:
    name: str
    text: str
    sha: str


def _script(name: str) -> _Script:
    text = files("antibot.store").joinpath("lua", name).read_text("utf-8")
    return _Script(name, text, hashlib.sha1(text.encode()).hexdigest())


_OBSERVE: Final = _script("observe.lua")
_BUMP: Final = _script("bump.lua")


def entity_prefix(kind: str, value: str) -> str:
    """``ab:{kind:value}:``; ``% { }``, spaces and non-ASCII are %-encoded, long values hashed."""
    if value and not _PLAIN.fullmatch(value):
        value = _quote(value)
    return f"ab:{{{kind}:{value}}}:"


def _quote(value: str) -> str:
    quoted = quote(value, safe=_QUOTE_SAFE, errors="surrogatepass")
    if len(quoted) <= 96:
        return quoted
    return "%h" + hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def window(now: float, w: int) -> tuple[int, int, float]:
    """``(bucket, ttl, weight)``: ``floor(now / w)``, seconds the bucket's keys stay useful
    (to the end of the next bucket, at most 2 w), and the previous bucket's weight."""
    bucket = int(now // w)  # consistent with now % w, unlike floor(now / w) at float edges
    return bucket, (bucket + 2) * w - math.floor(now), 1.0 - (now % w) / w


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one script call counts for one entity, and which ``Counters`` fields it fills."""

    kind: str
    entity: str  # the Observation attribute naming the entity
    counters: tuple[int, ...]  # INVITE count windows
    hlls: tuple[tuple[str, int, str], ...]  # (metric, window, Observation attribute added)
    reads: tuple[tuple[str, int], ...]  # read-only (metric, window)
    keep: int  # recent To numbers kept (0: none)
    fields: tuple[str, ...]  # Counters fields, in result order

    def call(self, obs: Observation, win: dict[int, tuple[int, int, float]]) -> _Call:
        tag = entity_prefix(self.kind, cast(str, getattr(obs, self.entity)))
        keys: list[str] = []
        args: list[str | int] = [len(self.counters), len(self.hlls), len(self.reads), self.keep]
        for w in self.counters:
            bucket, ttl, _ = win[w]
            keys += (f"{tag}inv:{WINDOWS[w]}:{bucket}", f"{tag}inv:{WINDOWS[w]}:{bucket - 1}")
            args.append(ttl)
        for metric, w, attr in self.hlls:
            bucket, ttl, _ = win[w]
            keys += (f"{tag}{metric}:{WINDOWS[w]}:{bucket}", f"{tag}{metric}:{WINDOWS[w]}:{bucket - 1}")
            args += (ttl, cast(str, getattr(obs, attr)))
        for metric, w in self.reads:
            bucket = win[w][0]
            keys += (f"{tag}{metric}:{WINDOWS[w]}:{bucket}", f"{tag}{metric}:{WINDOWS[w]}:{bucket - 1}")
        if self.keep:
            keys.append(f"{tag}recent")
            args += (obs.to_number, RECENT_TTL)
        return keys, args

    def parse(self, reply: Any, win: dict[int, tuple[int, int, float]]) -> dict[str, Any]:
        cur, distinct, read, recent = reply
        values: list[float] = [cur[i] + read[i] * win[w][2] for i, w in enumerate(self.counters)]
        values += map(float, distinct)
        base = len(self.counters)
        for j, (_, w) in enumerate(self.reads):
            values.append(read[base + 2 * j] + read[base + 2 * j + 1] * win[w][2])
        out: dict[str, Any] = dict(zip(self.fields, values, strict=True))
        if self.keep:
            out["src_recent_to"] = tuple(recent)
        return out


_PLANS: Final = (
    _Plan(
        "src",
        "source_ip",
        (1, 10, 60, 3600),
        (("dto", 60, "to_number"), ("dto", 3600, "to_number")),
        (("calls", 3600), ("failed", 3600), ("short", 3600)),
        RECENT_TO,
        (
            *("src_1s", "src_10s", "src_60s", "src_1h"),
            *("src_distinct_to_60s", "src_distinct_to_1h", "src_calls_1h", "src_failed_1h", "src_short_1h"),
        ),
    ),
    _Plan(
        "from",
        "from_user",
        (60, 3600),
        (("dto", 60, "to_number"), ("dto", 3600, "to_number"), ("dsrc", 3600, "source_ip")),
        (),
        0,
        ("from_60s", "from_1h", "from_distinct_to_60s", "from_distinct_to_1h", "from_distinct_src_1h"),
    ),
    _Plan("to", "to_number", (60, 3600), (), (), 0, ("to_60s", "to_1h")),
    _Plan("pfx", "to_prefix", (60, 3600), (), (), 0, ("prefix_60s", "prefix_1h")),
    _Plan(
        "ua",
        "ua_fingerprint",
        (60, 3600),
        (("dsrc", 3600, "source_ip"),),
        (),
        0,
        ("ua_60s", "ua_1h", "ua_distinct_src_1h"),
    ),
)


class _HiredisPacking:
    """Packs commands with hiredis, as redis-py's sync client does; its asyncio connection packs
    in pure Python, ~10x slower (~190 µs of CPU for one 5-entity observe pipeline)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD" is two arguments
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except (TypeError, UnicodeError):  # lone surrogates, exotic types: redis-py's own way
            return AbstractConnection.pack_command(cast(AbstractConnection, self), *args)

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        return [b"".join(chunk for command in commands for chunk in self.pack_command(*command))]


_FAST_CONNECTIONS: Final = {
    base: cast(type[AbstractConnection], type(f"Fast{base.__name__}", (_HiredisPacking, base), {}))
    for base in (Connection, UnixDomainSocketConnection, SSLConnection)
}


class Store:
    """Async Redis store. Each public method is one network round trip (plus one retry
    round trip when Redis lost its scripts). Redis failures raise :class:`StoreError`."""

    def __init__(self, client: Redis) -> None:
        self._client = client

    @classmethod
    async def connect(cls, url: str, *, timeout: float = 1.0) -> Store:
        """Connect to ``redis://``, ``rediss://`` or ``unix://`` URL and load the Lua scripts.

        Failures are fast: ``timeout`` seconds per socket operation, one immediate retry on a
        dropped connection, no backoff (the SIP path fails open instead of waiting).
        """
        options: dict[str, Any] = dict(parse_url(url))
        options["connection_class"] = _FAST_CONNECTIONS[options.get("connection_class", Connection)]
        pool = ConnectionPool(
            **options,
            decode_responses=True,
            encoding_errors="surrogatepass",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        client = Redis.from_pool(pool)
        store = cls(client)
        try:
            await store._load_scripts()
        except BaseException:
            await client.aclose()
            raise
        return store

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def ping(self) -> bool:
        """True when Redis answers PING; never raises."""
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def observe(self, obs: Observation, now: float) -> Counters:
        """Count one INVITE under each non-empty entity of ``obs`` and read every counter back,
        in one pipelined round trip of one EVALSHA per entity."""
        plans = [p for p in _PLANS if getattr(obs, p.entity)]
        if not plans:
            return Counters()
        win = {w: window(now, w) for w in WINDOWS}
        replies = await self._run(_OBSERVE, [p.call(obs, win) for p in plans])
        fields: dict[str, Any] = {}
        for plan, reply in zip(plans, replies, strict=True):
            fields.update(plan.parse(reply, win))
        return Counters(**fields)

    async def record_outcome(
        self, source_ip: str, status: int, duration: float | None, now: float, short_call_seconds: float = 6.0
    ) -> None:
        """Feed back one call's outcome for its source (1 h windows).

        Failed: a final status >= 400, or none at all (``status`` < 200, e.g. 0). Short: answered
        (2xx) with a known ``duration`` under ``short_call_seconds``. Every outcome counts a call.
        """
        if not source_ip:
            return
        bucket, ttl, _ = window(now, 3600)
        metrics = ["calls"]
        if status >= 400 or status < 200:
            metrics.append("failed")
        elif status < 300 and duration is not None and duration < short_call_seconds:
            metrics.append("short")
        tag = entity_prefix("src", source_ip)
        keys = [f"{tag}{metric}:1h:{bucket}" for metric in metrics]
        await self._run(_BUMP, [(keys, [ttl] * len(keys))])

    async def log_calls(self, entries: list[dict[str, str]], maxlen: int) -> None:
        """Append entries to the ``ab:calls`` stream (``MAXLEN ~ maxlen``) in one round trip that
        also keeps the admin API's indexes (outcome hashes, verdict counters, hourly top sets);
        a batch holding verdicts takes one more round trip to point ``ab:call:<call>`` at their
        stream ids. Empty entries are skipped (a stream entry needs a field)."""
        added = [entry for entry in entries if entry]
        if not added:
            return
        pipe = self._client.pipeline(transaction=False)
        for entry in added:
            pipe.xadd(CALLS_STREAM, cast(Any, entry), maxlen=maxlen, approximate=True)
        self._queue_call_indexes(pipe, added)
        try:
            replies = await pipe.execute()
            await self._index_call_ids(added, replies[: len(added)])
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def read_calls(self, count: int) -> list[tuple[str, dict[str, str]]]:
        """The newest ``count`` call log entries, newest first: ``(stream id, fields)``."""
        try:
            reply = await self._client.xrevrange(CALLS_STREAM, count=count)
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        rows = cast(list[tuple[str, dict[str, str]]], reply)
        return [(entry_id, dict(fields)) for entry_id, fields in rows]

    async def write_feedback(self, call_ref: str, label: int, features: dict[str, float]) -> None:
        """Store an operator's verdict on one call (``label`` 1: bot, 0: person) with the
        feature values it was scored on, under ``call_ref`` in :data:`FEEDBACK_HASH`
        (a later verdict on the same call replaces the earlier one)."""
        if label not in (0, 1):
            raise ValueError("feedback label must be 0 or 1")
        value = json.dumps({"label": label, "features": {k: float(v) for k, v in features.items()}})
        try:
            await self._client.hset(FEEDBACK_HASH, call_ref, value)
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def read_feedback(self) -> list[tuple[dict[str, float], int]]:
        """Every operator feedback entry as ``(features, label)``, ordered by call ref.
        Entries that are not valid JSON of the documented shape are skipped."""
        try:
            raw = cast(dict[str, str], await self._client.hgetall(FEEDBACK_HASH))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        out: list[tuple[dict[str, float], int]] = []
        for ref in sorted(raw):
            try:
                entry = json.loads(raw[ref])
                label = entry["label"]
                features = {str(k): float(v) for k, v in entry["features"].items()}
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
            if label in (0, 1) and not isinstance(label, bool):
                out.append((features, int(label)))
        return out

    async def flush_db(self) -> None:
        """Empty the current database (FLUSHDB): for offline replays (training), never the proxy."""
        try:
            await self._client.flushdb()
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def _load_scripts(self) -> None:
        try:
            for script in (_OBSERVE, _BUMP):
                sha = await self._client.script_load(script.text)
                if sha != script.sha:
                    raise StoreError(f"redis returned sha {sha} for {script.name}, expected {script.sha}")
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def _evalsha(self, script: _Script, calls: list[_Call]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    async def _run(self, script: _Script, calls: list[_Call]) -> list[Any]:
        """EVALSHA each call in one pipeline; after NOSCRIPT, load the scripts and retry
        only the calls that did not run (once), so nothing is counted twice."""
        try:
            replies = await self._evalsha(script, calls)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:
                await self._load_scripts()
                retried = await self._evalsha(script, [calls[i] for i in missing])
                for i, reply in zip(missing, retried, strict=True):
                    replies[i] = reply
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        for reply in replies:
            if isinstance(reply, Exception):
                raise StoreError(f"redis: {script.name}: {reply}") from reply
        return replies

    # --- admin API ---
    # What the admin API (package ``api``) asks of Redis; nothing here runs on the SIP path.
    # Keys: POLICY_KEY (the policy document, JSON with an integer "version"), POLICY_HISTORY
    # and AUDIT_STREAM (streams), POLICY_CHANNEL (pub/sub), and the call log indexes kept by
    # log_calls: CALL_INDEX/OUTCOME_PREFIX per call, STATS_PREFIX counters, TOP_PREFIX sets.

    def _queue_call_indexes(self, pipe: Any, entries: list[dict[str, str]]) -> None:
        """Queue on ``pipe`` the outcome hashes, verdict counters and hourly top sets for a batch
        (increments summed per key first, so a batch costs a few commands per distinct key)."""
        counts: dict[tuple[str, str], int] = {}
        tops: dict[tuple[str, str], int] = {}
        for entry in entries:
            call = entry.get("call", "")
            if "outcome" in entry and 0 < len(call) <= CALL_REF_MAX:
                key = OUTCOME_PREFIX + call
                fields = {"status": entry["outcome"], "duration": entry.get("duration", ""), "ts": entry.get("ts", "")}
                pipe.hset(key, mapping=fields)
                pipe.expire(key, CALL_INDEX_TTL)
            verdict = entry.get("verdict", "")
            if verdict not in VERDICTS:
                continue
            ts = self._entry_time(entry)
            minute, hour = int(ts // 60), int(ts // 3600)
            for key in (f"{STATS_PREFIX}m:{minute}", f"{STATS_PREFIX}h:{hour}"):
                counts[key, verdict] = counts.get((key, verdict), 0) + 1
            if verdict != "pass":
                for kind, name in (("src", "src"), ("ua", "ua"), ("num", "from")):
                    value = entry.get(name, "")
                    if value:
                        top = (f"{TOP_PREFIX}{kind}:{hour}", value[:256])
                        tops[top] = tops.get(top, 0) + 1
        for (key, verdict), n in counts.items():
            pipe.hincrby(key, verdict, n)
        for key in {key for key, _ in counts}:
            pipe.expire(key, STATS_TTL[key[len(STATS_PREFIX)]])
        for (key, member), n in tops.items():
            pipe.zincrby(key, n, member)
        for key in {key for key, _ in tops}:
            pipe.zremrangebyrank(key, 0, -(TOP_KEEP + 1))  # keep the heavy hitters: bounded memory
            pipe.expire(key, STATS_TTL["h"])

    async def _index_call_ids(self, entries: list[dict[str, str]], ids: list[Any]) -> None:
        """Point ``ab:call:<call>`` at the stream id of each verdict entry (one round trip)."""
        pipe = self._client.pipeline(transaction=False)
        for entry, entry_id in zip(entries, ids, strict=True):
            call = entry.get("call", "")
            if entry.get("verdict") and 0 < len(call) <= CALL_REF_MAX and isinstance(entry_id, str):
                pipe.set(CALL_INDEX + call, entry_id, ex=CALL_INDEX_TTL)
        if pipe.command_stack:
            await pipe.execute()

    @staticmethod
    async def _admin(pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def get_policy(self) -> dict[str, Any] | None:
        """The stored policy document, or None when there is none yet."""
        raw = await self._admin(self._client.get(POLICY_KEY))
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise StoreError(f"{POLICY_KEY} does not hold a JSON object")
        return doc

    async def seed_policy(self, doc: Mapping[str, Any]) -> bool:
        """Store ``doc`` as the policy only if none is stored yet (SET NX); True if stored."""
        text = json.dumps(doc, separators=(",", ":"))
        return bool(await self._admin(self._client.set(POLICY_KEY, text, nx=True)))

    async def commit_policy(self, doc: Mapping[str, Any], base_version: int, audit: Mapping[str, str]) -> bool:
        """Replace the policy with ``doc`` (whose ``version`` is the new one) if the stored one is
        still at ``base_version`` (0: none stored) and, in the same MULTI/EXEC, append ``doc`` to
        the history stream and ``audit`` to the audit stream and PUBLISH the new version.
        False when another writer changed the policy first (WATCH): nothing was written."""
        version = str(doc["version"])
        text = json.dumps(doc, separators=(",", ":"))
        ts = str(audit.get("ts", ""))
        try:
            async with self._client.pipeline(transaction=True) as watched:
                pipe = cast(Any, watched)  # redis-py leaves watch/multi/unwatch untyped
                await pipe.watch(POLICY_KEY)
                if self._doc_version(await pipe.get(POLICY_KEY)) != base_version:
                    await pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(POLICY_KEY, text)
                history = {"version": version, "ts": ts, "who": str(audit.get("who", "")), "doc": text}
                pipe.xadd(POLICY_HISTORY, cast(Any, history), maxlen=HISTORY_MAXLEN, approximate=True)
                pipe.xadd(AUDIT_STREAM, cast(Any, {**audit, "version": version}), maxlen=AUDIT_MAXLEN, approximate=True)
                pipe.publish(POLICY_CHANNEL, version)
                await pipe.execute()
        except WatchError:
            return False
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return True

    async def policy_changes(self, ready: Callable[[], object] | None = None) -> AsyncIterator[int]:
        """Yield each new policy version published on the change channel, forever; ``ready`` is
        called once subscribed. Raises :class:`StoreError` when Redis fails (resubscribe then)."""
        pubsub = cast(Any, self._client.pubsub(ignore_subscribe_messages=True))
        try:
            await pubsub.subscribe(POLICY_CHANNEL)
            if ready is not None:
                ready()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and str(message.get("data", "")).isdigit():
                    yield int(message["data"])
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _newest(
        self, key: str, count: int, upper: str = "+", lower: str = "-"
    ) -> list[tuple[str, dict[str, str]]]:
        rows = await self._admin(self._client.xrevrange(key, upper, lower, count=count))
        return [(entry_id, dict(fields)) for entry_id, fields in rows]

    async def policy_history(self, limit: int) -> list[tuple[str, dict[str, str]]]:
        """The newest ``limit`` policy versions, newest first: ``{version, ts, who, doc}``."""
        return await self._newest(POLICY_HISTORY, limit)

    async def audit_log(self, limit: int) -> list[tuple[str, dict[str, str]]]:
        """The newest ``limit`` audit entries, newest first."""
        return await self._newest(AUDIT_STREAM, limit)

    async def add_audit(self, entry: Mapping[str, str]) -> None:
        """Append one entry to the audit stream."""
        pending = self._client.xadd(AUDIT_STREAM, cast(Any, dict(entry)), maxlen=AUDIT_MAXLEN, approximate=True)
        await self._admin(pending)

    async def calls_between(self, upper: str, lower: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """XREVRANGE of the call log: at most ``count`` entries from ``upper`` down to ``lower``
        (stream ids; ``(`` makes a bound exclusive, ``+``/``-`` are the ends), newest first."""
        return await self._newest(CALLS_STREAM, count, upper, lower)

    async def find_call(self, call: str) -> tuple[str, dict[str, str], dict[str, str]] | None:
        """``(stream id, entry, outcome hash)`` of one call by its ref, in two round trips;
        None when the index has expired or the stream no longer holds the entry."""
        pipe = self._client.pipeline(transaction=False)
        pipe.get(CALL_INDEX + call)
        pipe.hgetall(OUTCOME_PREFIX + call)
        entry_id, outcome = await self._admin(pipe.execute())
        if not entry_id:
            return None
        rows = await self._admin(self._client.xrange(CALLS_STREAM, entry_id, entry_id, count=1))
        if not rows:
            return None
        return rows[0][0], dict(rows[0][1]), dict(outcome)

    async def call_outcomes(self, calls: Sequence[str]) -> list[dict[str, str]]:
        """The outcome hash (empty when none) of each call, in one round trip."""
        if not calls:
            return []
        pipe = self._client.pipeline(transaction=False)
        for call in calls:
            pipe.hgetall(OUTCOME_PREFIX + call)
        return [dict(h) for h in await self._admin(pipe.execute())]

    async def store_feedback(self, call: str, value: str, audit: Mapping[str, str]) -> None:
        """Set ``call``'s entry of the feedback hash to ``value`` (JSON) and append ``audit``, atomically."""
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(FEEDBACK_HASH, call, value)
        pipe.xadd(AUDIT_STREAM, cast(Any, dict(audit)), maxlen=AUDIT_MAXLEN, approximate=True)
        await self._admin(pipe.execute())

    async def verdict_counts(self, bucket: str, indexes: Sequence[int]) -> list[dict[str, int]]:
        """Verdict counters of each minute (``bucket`` "m") or hour ("h") index, one round trip."""
        if bucket not in STATS_TTL:
            raise ValueError("bucket must be 'm' or 'h'")
        pipe = self._client.pipeline(transaction=False)
        for index in indexes:
            pipe.hgetall(f"{STATS_PREFIX}{bucket}:{index}")
        replies = await self._admin(pipe.execute()) if indexes else []
        return [{k: int(v) for k, v in h.items() if v.lstrip("-").isdigit()} for h in replies]

    async def top_values(self, kind: str, hours: Sequence[int], per_key: int) -> list[list[tuple[str, float]]]:
        """The ``per_key`` heaviest members of each hour's top set (``kind`` src, ua or num)."""
        if kind not in ("src", "ua", "num"):
            raise ValueError("kind must be src, ua or num")
        pipe = self._client.pipeline(transaction=False)
        for hour in hours:
            pipe.zrevrange(f"{TOP_PREFIX}{kind}:{hour}", 0, per_key - 1, withscores=True)
        replies = await self._admin(pipe.execute()) if hours else []
        return [[(str(member), float(score)) for member, score in reply] for reply in replies]

    @staticmethod
    def _entry_time(entry: Mapping[str, str]) -> float:
        """A call log entry's wall-clock time (its ``ts``), or now when missing or absurd."""
        try:
            ts = float(entry.get("ts", ""))
        except ValueError:
            ts = math.nan
        return ts if math.isfinite(ts) and ts > 0 else time.time()

    @staticmethod
    def _doc_version(raw: str | None) -> int:
        """The ``version`` of a stored policy document (0: none; -1: unreadable, never matches)."""
        if raw is None:
            return 0
        try:
            version = json.loads(raw).get("version", 0)
        except (ValueError, AttributeError):
            return -1
        return version if isinstance(version, int) and not isinstance(version, bool) else -1
