"""The SIP path on a Redis Cluster: each command sent to the master owning its key's hash slot.

:class:`ClusterWire` keeps one :class:`~.wire.Wire` per master and the slot map
(``CLUSTER SLOTS``, read from any reachable node). A command's slot is the CRC16 of its key's
hash tag (the part between the first ``{`` and the next ``}``, else the whole key) modulo
16384; a script call's slot is that of its first key (every key of a script call shares its
entity's tag, see :mod:`.keys`). Redirections are followed, at most :data:`MAX_REDIRECTS`
times per command:

- ``MOVED slot host:port`` (the slot has a new owner: a failover or resharding): the command
  did not run; it is sent to the new owner and the whole map is read again.
- ``ASK slot host:port`` (a slot being migrated): sent once to that node after ``ASKING``.
- ``TRYAGAIN`` (a multi-key command during a migration): sent again after a short pause.

A connection that cannot be made (:class:`~.wire.NotSent`: the command was never written)
makes the map be read again, and the command is sent to the slot's new owner if it moved.
A lost connection or a deadline is not retried (Redis may have run the command): it fails
as on a standalone Redis. Requests of one call to several masters go out in parallel.

URLs: ``redis+cluster://[user:password@]host:port[,host:port...]`` (``rediss+cluster://``
for TLS); every listed node is a seed, one reachable seed is enough.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import unquote

from . import StoreError
from .commands import Command, pack
from .wire import NotSent, ReplyError, Target, Wire

SLOTS: Final = 16384
MAX_REDIRECTS: Final = 5
SCHEMES: Final = ("redis+cluster://", "rediss+cluster://")
#: Seconds to wait before sending a command again after TRYAGAIN.
TRYAGAIN_PAUSE: Final = 0.02

Node = tuple[str, int]


def is_cluster_url(url: str) -> bool:
    return url.startswith(SCHEMES)


def cluster_seeds(url: str) -> list[Target]:
    """The seed nodes of a ``redis+cluster://`` (or ``rediss+cluster://``) URL."""
    if not is_cluster_url(url):
        raise ValueError(f"not a cluster URL: {url}")
    scheme, rest = url.split("://", 1)
    rest = rest.split("/", 1)[0].split("?", 1)[0]
    username = password = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        user, _, secret = auth.partition(":")
        username, password = (unquote(user) or None), unquote(secret) if secret else None
        if password is None and username is not None:
            username, password = None, username  # redis+cluster://secret@host: a password alone
    tls = ssl.create_default_context() if scheme == "rediss+cluster" else None
    seeds = []
    for item in filter(None, rest.split(",")):
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            host, port = item, "6379"
        seeds.append(Target(host=host.strip("[]"), port=int(port), username=username, password=password, tls=tls))
    if not seeds:
        raise ValueError(f"no node in cluster URL: {url}")
    return seeds


def key_slot(key: str) -> int:
    """The hash slot of ``key`` (CRC16-XMODEM of its hash tag, modulo 16384)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key.encode("utf-8", "surrogatepass"), 0) % SLOTS


def command_slot(command: Command) -> int:
    """The slot a command is routed by: its first key (a script's first KEYS entry)."""
    name = str(command[0]).upper()
    if name in ("EVALSHA", "EVAL"):
        key = command[3] if int(command[2]) > 0 else ""
    else:
        key = command[1] if len(command) > 1 else ""
    return key_slot(key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else str(key))


def _redirect(reply: ReplyError) -> tuple[str, int, Node] | None:
    """``("MOVED" | "ASK", slot, node)`` of a redirection reply, else None."""
    parts = str(reply).split()
    if len(parts) != 3 or parts[0] not in ("MOVED", "ASK") or not parts[1].isdigit():
        return None
    host, _, port = parts[2].rpartition(":")
    return parts[0], int(parts[1]), (host, int(port))


class ClusterWire:
    """``await cluster.call(commands, timeout)``: like :meth:`Wire.call`, each command routed to
    its slot's master; :meth:`broadcast` sends to every master (``SCRIPT LOAD``)."""

    def __init__(self, seeds: Sequence[Target], *, timeout: float = 1.0, connect_timeout: float = 1.0) -> None:
        if not seeds:
            raise ValueError("ClusterWire: no seed node")
        self.seeds = list(seeds)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._template = seeds[0]
        self._wires: dict[Node, Wire] = {}
        self._slots: list[Node | None] = [None] * SLOTS
        self._refreshing: asyncio.Task[None] | None = None
        self._closed = False
        #: Slot map reads and redirections followed (MOVED, ASK, TRYAGAIN).
        self.refreshes = 0
        self.redirects = 0

    @property
    def connects(self) -> int:
        return sum(w.connects for w in self._wires.values())

    @property
    def timeouts(self) -> int:
        return sum(w.timeouts for w in self._wires.values())

    @property
    def connected(self) -> bool:
        return any(w.connected for w in self._wires.values())

    def masters(self) -> list[Node]:
        """The masters of the slot map, in slot order."""
        return list(dict.fromkeys(n for n in self._slots if n is not None))

    async def connect(self) -> None:
        """Read the slot map and connect to every master (raises :class:`StoreError`)."""
        await self.refresh()
        await asyncio.gather(*(self._wire(node).connect() for node in self.masters() if not self._wire(node).connected))

    async def close(self) -> None:
        self._closed = True
        if self._refreshing is not None:
            self._refreshing.cancel()
        for wire in list(self._wires.values()):
            await wire.close()

    # --- the slot map ---------------------------------------------------------------------

    def _wire(self, node: Node) -> Wire:
        wire = self._wires.get(node)
        if wire is None:
            t = self._template
            target = Target(host=node[0], port=node[1], username=t.username, password=t.password, tls=t.tls)
            wire = self._wires[node] = Wire(target, timeout=self.timeout, connect_timeout=self.connect_timeout)
        return wire

    async def refresh(self, timeout: float | None = None) -> None:
        """Read ``CLUSTER SLOTS`` from the first node that answers (known masters, then seeds)."""
        if self._closed:
            raise NotSent("redis: connection closed")
        candidates = list(dict.fromkeys([*self.masters(), *((s.host, s.port) for s in self.seeds)]))
        errors = []
        for node in candidates:
            try:
                (reply,) = await self._wire(node).call([("CLUSTER", "SLOTS")], timeout)
            except StoreError as exc:
                errors.append(f"{node[0]}:{node[1]}: {exc}")
                continue
            if isinstance(reply, ReplyError) or not reply:
                errors.append(f"{node[0]}:{node[1]}: {reply!r}")
                continue
            slots: list[Node | None] = [None] * SLOTS
            for start, end, master, *_ in reply:
                owner = (str(master[0]) or node[0], int(master[1]))
                slots[int(start) : int(end) + 1] = [owner] * (int(end) - int(start) + 1)
            self._slots = slots
            self.refreshes += 1
            for stale in [n for n in self._wires if n not in set(slots)]:
                await self._wires.pop(stale).close()
            return
        raise NotSent("redis cluster: no node answered CLUSTER SLOTS: " + "; ".join(errors))

    def _refresh_soon(self) -> None:
        """Read the slot map again in the background (one read at a time)."""
        if self._closed or (self._refreshing is not None and not self._refreshing.done()):
            return
        self._refreshing = asyncio.get_running_loop().create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(StoreError):
            await self.refresh()

    # --- requests -------------------------------------------------------------------------

    async def broadcast(self, commands: Sequence[Command], timeout: float | None = None) -> list[list[Any]]:
        """Send ``commands`` to every master; each master's replies."""
        if not any(self._slots):
            await self.refresh(timeout)
        nodes = self.masters()
        return list(await asyncio.gather(*(self._wire(n).call(commands, timeout) for n in nodes)))

    async def call(self, commands: Sequence[Command], timeout: float | None = None) -> list[Any]:
        """Each command's reply (error replies as :class:`ReplyError` values), in order.

        Raises :class:`NotSent` when no command was written, :class:`StoreError` otherwise
        (some commands may have run)."""
        if not any(self._slots):
            await self.refresh(timeout)
        replies: list[Any] = [None] * len(commands)
        todo: dict[int, Node | None] = {i: None for i in range(len(commands))}  # index -> ASK target
        ran = False  # some command may have run (a reply, or a failure after writing)
        for _ in range(MAX_REDIRECTS + 1):
            groups: dict[Node, list[int]] = {}
            for i, ask in todo.items():
                node = ask or self._slots[command_slot(commands[i])]
                if node is None:
                    raise NotSent(f"redis cluster: no master serves the slot of {commands[i][0]!r}")
                groups.setdefault(node, []).append(i)
            order = list(groups.items())
            results = await asyncio.gather(
                *(self._send(node, [(commands[i], todo[i] is not None) for i in idx], timeout) for node, idx in order),
                return_exceptions=True,
            )
            retry: dict[int, Node | None] = {}
            unsent: list[int] = []
            hard: BaseException | None = None
            pause = False
            for (_node, idx), result in zip(order, results, strict=True):
                if isinstance(result, NotSent):
                    unsent += idx
                elif isinstance(result, BaseException):
                    ran, hard = True, hard or result
                else:
                    for i, reply in zip(idx, result, strict=True):
                        pause |= self._redirected(i, reply, retry)
                        if i not in retry:
                            ran, replies[i] = True, reply
            if hard is not None:
                self._refresh_soon()  # a lost master: its replica may be promoted
                if isinstance(hard, StoreError):
                    raise hard
                raise StoreError(f"redis cluster: {hard}") from hard
            if unsent:
                before = [self._slots[command_slot(commands[i])] for i in unsent]
                with contextlib.suppress(StoreError):
                    await self.refresh(timeout)
                if before == [self._slots[command_slot(commands[i])] for i in unsent]:
                    error = next(r for r in results if isinstance(r, NotSent))
                    if ran:  # the rest may have run: not NotSent, so nothing is sent twice
                        raise StoreError(f"redis cluster: part of a request was not sent: {error}")
                    raise error
                retry.update((i, None) for i in unsent)  # their slots have a new owner
            if not retry:
                return replies
            if pause:
                await asyncio.sleep(TRYAGAIN_PAUSE)
            todo = retry
        raise StoreError(f"redis cluster: still redirected after {MAX_REDIRECTS} tries")

    def _redirected(self, i: int, reply: Any, retry: dict[int, Node | None]) -> bool:
        """Put command ``i`` in ``retry`` if ``reply`` redirects it; True after TRYAGAIN."""
        if not isinstance(reply, ReplyError):
            return False
        redirect = _redirect(reply)
        if redirect is not None:
            kind, slot, target = redirect
            self.redirects += 1
            if kind == "MOVED":
                self._slots[slot] = target
                self._refresh_soon()
            retry[i] = target if kind == "ASK" else None
            return False
        if str(reply).startswith("TRYAGAIN"):
            self.redirects += 1
            retry[i] = None
            return True
        return False

    async def _send(self, node: Node, commands: list[tuple[Command, bool]], timeout: float | None) -> list[Any]:
        """Send to one node; with ``asking`` a command goes after ``ASKING`` (whose reply is dropped)."""
        if not any(asking for _, asking in commands):
            plain = [command for command, _ in commands]
            return await self._wire(node).send(pack(plain), len(plain), timeout)
        flat: list[Command] = []
        for command, asking in commands:
            if asking:
                flat.append(("ASKING",))
            flat.append(command)
        replies = iter(await self._wire(node).send(pack(flat), len(flat), timeout))
        out = []
        for _, asking in commands:
            if asking:
                next(replies)
            out.append(next(replies))
        return out
