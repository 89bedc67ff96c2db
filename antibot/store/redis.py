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

import hashlib
import math
import re
from collections.abc import Iterable
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
from redis.exceptions import NoScriptError, RedisError

from ..detect.observation import Counters, Observation
from . import StoreError

CALLS_STREAM: Final = "ab:calls"
RECENT_TO: Final = 10
RECENT_TTL: Final = 3600
WINDOWS: Final = {1: "1s", 10: "10s", 60: "60s", 3600: "1h"}

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
        """Append entries to the ``ab:calls`` stream (``MAXLEN ~ maxlen``) in one round trip.
        Empty entries are skipped (a stream entry needs a field)."""
        pipe = self._client.pipeline(transaction=False)
        for entry in entries:
            if entry:
                pipe.xadd(CALLS_STREAM, cast(Any, entry), maxlen=maxlen, approximate=True)
        if not pipe.command_stack:
            return
        try:
            await pipe.execute()
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
