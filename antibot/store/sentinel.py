"""Redis behind Sentinel: the master of a monitored service, found again after each failover.

URL: ``redis+sentinel://[user:password@]host:port[,host:port...]/service[?db=N&sentinel_password=S]``
(``rediss+sentinel://`` for TLS to the data nodes). Every listed Sentinel is asked in turn; one
that answers is enough. ``user:password`` and ``db`` are those of the Redis master;
``sentinel_password``, when set, authenticates to the Sentinels.

The admin API's client is redis-py's ``Sentinel.master_for`` (it asks the Sentinels again
whenever a connection is made). The SIP path's :class:`~.wire.Wire` asks them
(:meth:`SentinelUrl.master`) before each connection: a killed master fails the connection, the
next request reconnects to the promoted replica. Sentinel itself ends the old master's client
connections when it reconfigures it (``CLIENT KILL TYPE normal``), so no connection stays on a
demoted master.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, unquote

from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from . import StoreError
from .wire import NotSent, Target

SCHEMES: Final = ("redis+sentinel://", "rediss+sentinel://")


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SCHEMES)


@dataclass(frozen=True)
class SentinelUrl:
    """The parts of a ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    username: str | None = None
    password: str | None = None
    db: int = 0
    sentinel_password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        if not is_sentinel_url(url):
            raise ValueError(f"not a sentinel URL: {url}")
        scheme, rest = url.split("://", 1)
        rest, _, query = rest.partition("?")
        hosts, _, service = rest.partition("/")
        service = unquote(service.strip("/"))
        if not service:
            raise ValueError(f"no service name in sentinel URL (…/service_name): {url}")
        username = password = None
        if "@" in hosts:
            auth, hosts = hosts.rsplit("@", 1)
            user, sep, secret = auth.partition(":")
            if sep:
                username, password = unquote(user) or None, unquote(secret)
            else:
                password = unquote(user)  # redis+sentinel://secret@host: a password alone
        sentinels = []
        for item in filter(None, hosts.split(",")):
            host, sep, port = item.rpartition(":")
            if not sep or not port.isdigit():
                host, port = item, "26379"
            sentinels.append((host.strip("[]"), int(port)))
        if not sentinels:
            raise ValueError(f"no sentinel in URL: {url}")
        options = {k: v[-1] for k, v in parse_qs(query).items()}
        unknown = set(options) - {"db", "sentinel_password"}
        if unknown:
            raise ValueError(f"sentinel URL: unknown option(s) {', '.join(sorted(unknown))}")
        db = options.get("db", "0")
        if not db.isdigit():
            raise ValueError(f"sentinel URL: db must be a number, not {db!r}")
        return cls(
            tuple(sentinels),
            service,
            username,
            password,
            int(db),
            options.get("sentinel_password"),
            scheme == "rediss+sentinel",
        )

    def client(self, timeout: float) -> Sentinel:
        """redis-py's :class:`Sentinel` for these Sentinels (its ``master_for`` is the admin client)."""
        auth = {"password": self.sentinel_password} if self.sentinel_password else {}
        return Sentinel(
            list(self.sentinels),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout, **auth},
        )

    async def master(self, sentinel: Sentinel) -> Target:
        """The current master's :class:`Target` (raises :class:`NotSent` when no Sentinel knows it)."""
        try:
            host, port = await sentinel.discover_master(self.service)
        except (RedisError, OSError) as exc:
            raise NotSent(f"redis sentinel: no master for {self.service!r}: {exc}") from exc
        tls = ssl.create_default_context() if self.tls else None
        return Target(
            host=str(host), port=int(port), username=self.username, password=self.password, db=self.db, tls=tls
        )


__all__ = ["SCHEMES", "SentinelUrl", "StoreError", "is_sentinel_url"]
