"""The one module that uses redis-py: the admin API's reads and writes, and :class:`Store`, the
facade whose SIP-path methods (counters, outcomes, call-log batches) go over :mod:`.wire`, a
lean RESP connection of its own (see :mod:`.hotpath`). Key scheme: :mod:`.keys`.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
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
from redis.exceptions import RedisError, WatchError

from . import StoreError
from .cluster import ClusterWire, cluster_seeds, is_cluster_url
from .hotpath import HotPath
from .keys import (
    AUDIT_MAXLEN,
    AUDIT_STREAM,
    CALL_INDEX,
    CALLS_STREAM,
    FEEDBACK_HASH,
    HISTORY_MAXLEN,
    OUTCOME_PREFIX,
    POLICY_CHANNEL,
    POLICY_HISTORY,
    POLICY_KEY,
    STATS_PREFIX,
    STATS_TTL,
    TOP_PREFIX,
    entity_prefix,
)
from .sentinel import SentinelUrl, is_sentinel_url
from .wire import Target, Wire

__all__ = ["Store", "StoreError", "entity_prefix", "wire_target"]


def wire_target(url: str) -> Target:
    """The :class:`Target` of a ``redis://``, ``rediss://`` or ``unix://`` URL."""
    options: dict[str, Any] = dict(parse_url(url))
    tls = None
    if options.get("connection_class") is SSLConnection:
        tls = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
        if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", "optional"):
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE if options.get("ssl_cert_reqs") == "none" else ssl.CERT_OPTIONAL
    return Target(
        path=options.get("path"),
        host=options.get("host", "localhost"),
        port=int(options.get("port", 6379)),
        username=options.get("username"),
        password=options.get("password"),
        db=int(options.get("db", 0)),
        tls=tls,
    )


class _HiredisPacking:
    """Packs commands with hiredis, as redis-py's sync client does; its asyncio connection packs
    in pure Python, ~10x slower."""

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
    round trip when Redis lost its scripts). Redis failures raise :class:`StoreError`.

    The SIP path's methods (:attr:`hot`: the counter syncs, :meth:`log_calls`) use one
    lean persistent connection (:class:`~.wire.Wire`) with per-call deadlines; everything else
    (the admin API, training) uses redis-py's asyncio client with hiredis.
    """

    def __init__(self, client: Redis | RedisCluster, wire: Wire | ClusterWire) -> None:
        self._client = client
        self._hot = HotPath(wire)

    @property
    def wire(self) -> Wire | ClusterWire:
        """The SIP path's connection (its ``connects`` and ``timeouts`` counters)."""
        return self._hot.wire

    @classmethod
    async def connect(cls, url: str, *, timeout: float = 1.0) -> Store:
        """Connect to ``redis://``, ``rediss://`` or ``unix://`` URL and load the Lua scripts;
        ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://``) is a Redis Cluster,
        ``redis+sentinel://host:port[,host:port...]/service`` a master found through Sentinel
        (:mod:`.sentinel`).

        Failures are fast: ``timeout`` seconds per socket operation (and the SIP path's default
        deadline), one immediate retry on a dropped connection, no backoff (the SIP path fails
        open instead of waiting).
        """
        if is_cluster_url(url):
            return await cls._connect_cluster(url, timeout)
        if is_sentinel_url(url):
            return await cls._connect_sentinel(url, timeout)
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
        return await cls._opened(client, Wire(wire_target(url), timeout=timeout, connect_timeout=timeout))

    @classmethod
    async def _connect_cluster(cls, url: str, timeout: float) -> Store:
        seeds = cluster_seeds(url)
        first = seeds[0]
        client = RedisCluster(
            startup_nodes=[ClusterNode(s.host, s.port) for s in seeds],
            username=first.username,
            password=first.password,
            ssl=first.tls is not None,
            decode_responses=True,
            encoding_errors="surrogatepass",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        wire = ClusterWire(seeds, timeout=timeout, connect_timeout=timeout)
        store = cls(client, wire)
        try:
            await client.initialize()
            await wire.connect()
            await store._hot.load_scripts()
        except RedisError as exc:
            await store.close()
            raise StoreError(f"redis cluster: {exc}") from exc
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    async def _connect_sentinel(cls, url: str, timeout: float) -> Store:
        parts = SentinelUrl.parse(url)
        sentinel = parts.client(timeout)
        client = sentinel.master_for(
            parts.service,
            redis_class=Redis,
            username=parts.username,
            password=parts.password,
            db=parts.db,
            ssl=parts.tls,
            decode_responses=True,
            encoding_errors="surrogatepass",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )

        async def master() -> Target:
            return await parts.master(sentinel)

        return await cls._opened(client, Wire(Target(), timeout=timeout, connect_timeout=timeout, resolve=master))

    @classmethod
    async def _opened(cls, client: Redis, wire: Wire) -> Store:
        """A store over ``client`` and ``wire`` once the wire is connected and the scripts
        loaded; closed again if either fails."""
        store = cls(client, wire)
        try:
            await wire.connect()
            await store._hot.load_scripts()
        except BaseException:
            await store.close()
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
        """Close the SIP path's connection and the connection pool."""
        await self._hot.wire.close()
        await self._client.aclose()

    @property
    def hot(self) -> HotPath:
        """The SIP path's operations and their counters."""
        return self._hot

    async def log_calls(self, entries: list[dict[str, str]], maxlen: int) -> None:
        """Append entries to the ``ab:calls`` stream (``MAXLEN ~ maxlen``) in one round trip that
        also keeps the admin API's indexes (outcome hashes, verdict counters, hourly top sets);
        a batch holding verdicts takes one more round trip to point ``ab:call:<call>`` at their
        stream ids. Empty entries are skipped (a stream entry needs a field)."""
        await self._hot.log_calls(entries, maxlen)

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

    # --- admin API ---
    # What the admin API (package ``api``) asks of Redis; nothing here runs on the SIP path.
    # Keys: POLICY_KEY (the policy document, JSON with an integer "version"), POLICY_HISTORY
    # and AUDIT_STREAM (streams), POLICY_CHANNEL (pub/sub), and the call log indexes kept by
    # log_calls: CALL_INDEX/OUTCOME_PREFIX per call, STATS_PREFIX counters, TOP_PREFIX sets.

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
        the history stream and ``audit`` to the audit stream and PUBLISH the new version (on a
        Redis Cluster, which refuses PUBLISH in a transaction, right after EXEC). False when
        another writer changed the policy first (WATCH): nothing was written."""
        version = str(doc["version"])
        text = json.dumps(doc, separators=(",", ":"))
        ts = str(audit.get("ts", ""))
        cluster = isinstance(self._client, RedisCluster)
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
                if not cluster:
                    pipe.publish(POLICY_CHANNEL, version)
                await pipe.execute()
            if cluster:  # no PUBLISH in a Redis Cluster transaction: right after it (nodes also poll)
                with contextlib.suppress(RedisError):
                    await self._client.publish(POLICY_CHANNEL, version)
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
    def _doc_version(raw: str | None) -> int:
        """The ``version`` of a stored policy document (0: none; -1: unreadable, never matches)."""
        if raw is None:
            return 0
        try:
            version = json.loads(raw).get("version", 0)
        except (ValueError, AttributeError):
            return -1
        return version if isinstance(version, int) and not isinstance(version, bool) else -1
