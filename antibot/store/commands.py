"""The Redis commands of the SIP path's batches, built without I/O (compiled with the hot path).

- :func:`sync_call`: one entity's ``lua/sync.lua`` keys and arguments; :func:`read_totals` reads
  its reply back.
- :func:`write_commands`: the same counts as plain writes, for a number dialled once;
  :func:`write_batch` / :func:`write_resp`: the same already in RESP.
- :func:`xadd` and :func:`call_index_commands`: a call-log batch and the admin API's indexes.
- :func:`pack`: any of them in RESP, as the connection sends them.

:mod:`.hotpath` sends them; the keys are those of :mod:`.keys`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

import hiredis

from ..detect.windowed import RECENT_TTL, Delta, Totals
from .keys import (
    CALL_INDEX_TTL,
    CALL_REF_MAX,
    CALLS_STREAM,
    OUTCOME_PREFIX,
    RECENT,
    STATS_PREFIX,
    STATS_TTL,
    TOP_KEEP,
    TOP_PREFIX,
    VERDICTS,
    WINDOWS,
    entity_prefix,
    window,
)

#: One command: its name and arguments (what :func:`pack` takes).
Arg = str | bytes | int | float
Command = Sequence[Arg]
#: One script call: its keys and arguments.
Call = tuple[list[str], list[str | int]]


def _c_pack() -> Callable[[Sequence[Command]], bytes] | None:
    try:  # under another name: mypyc binds a function-level import in the module's globals
        from ._resp import pack as c_pack
    except ImportError:  # no C compiler at install time, or ANTIBOT_PURE=1
        return None
    return c_pack


#: The C build of :func:`_pack` (``_resp.c``), or None in a pure-Python install.
C_PACK: Final = _c_pack()


def pack(commands: Sequence[Command]) -> bytes:
    """RESP encoding of ``commands``; strings are UTF-8 with lone surrogates passed through
    (in C when built: a counter sync or call-log batch is mostly this)."""
    if C_PACK is not None:
        return C_PACK(commands)
    return _pack(commands)


def _pack(commands: Sequence[Command]) -> bytes:
    """:func:`pack` with ``hiredis.pack_command`` (the reference for ``_resp.c``)."""
    out = []
    pack_command = cast(Callable[[tuple[Arg, ...]], bytes], hiredis.pack_command)  # its stub wants 1-tuples
    for command in commands:
        try:
            out.append(pack_command(tuple(command)))
        except UnicodeError:
            raw = tuple(a.encode("utf-8", "surrogatepass") if isinstance(a, str) else a for a in command)
            out.append(pack_command(raw))
    return b"".join(out)


def sync_call(delta: Delta) -> Call:
    """The ``lua/sync.lua`` keys and arguments of one entity's counts, bucketed at ``delta.now``."""
    e = delta.entity
    plan = e.plan
    tag = entity_prefix(plan.kind, e.value)
    keys: list[str] = []
    args: list[str | int] = [len(plan.counters), len(plan.hlls), plan.keep]
    for (metric, w), (add, add_prev) in zip(plan.counters, delta.counts, strict=True):
        bucket, ttl, _ = window(delta.now, w)
        name = f"{tag}{metric}:{WINDOWS[w]}:"
        keys += (f"{name}{bucket}", f"{name}{bucket - 1}")
        args += (ttl, ttl - w, add, add_prev)
    for (metric, w, _), (added, added_prev) in zip(plan.hlls, delta.members, strict=True):
        bucket, ttl, _ = window(delta.now, w)
        name = f"{tag}{metric}:{WINDOWS[w]}:"
        keys += (f"{name}{bucket}", f"{name}{bucket - 1}")
        args += (ttl, ttl - w, len(added), len(added_prev), *added, *added_prev)
    if plan.keep:
        keys.append(f"{tag}{RECENT}")
        args += (RECENT_TTL, len(delta.pushed), *_scored(delta))
    return keys, args


def _scored(delta: Delta) -> list[str | int]:
    """The pushed To numbers as sorted-set score and member pairs: the call stamp, and
    ``<stamp>:<number>`` (a number dialled twice stays twice)."""
    out: list[str | int] = []
    for at, number in zip(delta.pushed_at, delta.pushed, strict=True):
        out += (at, f"{at}:{number}")
    return out


def write_commands(delta: Delta) -> list[Command]:
    """``lua/sync.lua``'s writes without its reads, as plain commands (for an entity seen
    once: nothing of Redis's is wanted back). Every key is written with its TTL."""
    e = delta.entity
    plan = e.plan
    tag = entity_prefix(plan.kind, e.value)
    out: list[Command] = []
    for (metric, w), (add, add_prev) in zip(plan.counters, delta.counts, strict=True):
        bucket, ttl, _ = window(delta.now, w)
        name = f"{tag}{metric}:{WINDOWS[w]}:"
        if add:
            out += (("INCRBY", f"{name}{bucket}", add), ("EXPIRE", f"{name}{bucket}", ttl))
        if add_prev:
            out += (("INCRBY", f"{name}{bucket - 1}", add_prev), ("EXPIRE", f"{name}{bucket - 1}", ttl - w))
    for (metric, w, _), (added, added_prev) in zip(plan.hlls, delta.members, strict=True):
        bucket, ttl, _ = window(delta.now, w)
        name = f"{tag}{metric}:{WINDOWS[w]}:"
        if added:
            out += (("PFADD", f"{name}{bucket}", *added), ("EXPIRE", f"{name}{bucket}", ttl))
        if added_prev:
            out += (("PFADD", f"{name}{bucket - 1}", *added_prev), ("EXPIRE", f"{name}{bucket - 1}", ttl - w))
    if plan.keep and delta.pushed:
        key = f"{tag}{RECENT}"
        out += (("ZADD", key, *_scored(delta)), ("ZREMRANGEBYRANK", key, 0, -plan.keep - 1))
        out.append(("EXPIRE", key, RECENT_TTL))
    return out


_INCRBY: Final = "*3\r\n$6\r\nINCRBY\r\n"
_EXPIRE: Final = "*3\r\n$6\r\nEXPIRE\r\n"
_PFADD: Final = "\r\n$5\r\nPFADD\r\n"


def write_batch(batch: Sequence[Delta]) -> tuple[str, int, list[Command]]:
    """The writes of a sync's write-only deltas: RESP text (:func:`write_resp`) and its number
    of commands, plus the commands of the deltas it leaves to :func:`write_commands`."""
    text: list[str] = []
    other: list[Command] = []
    n = 0
    for delta in batch:
        if not delta.read:
            resp = write_resp(delta)
            if resp is None:
                other += write_commands(delta)
            else:
                text.append(resp[0])
                n += resp[1]
    return "".join(text), n, other


def write_resp(delta: Delta) -> tuple[str, int] | None:
    """:func:`write_commands` already in RESP (:func:`pack` of them, as text) and how many
    commands that is, built without the command tuples (numbers dialled once are most of a
    sync's writes). None when a member is not ASCII (RESP counts bytes; keys always are ASCII,
    see ``keys.entity_prefix``), or for a source's recent list (sources repeat: their syncs read)."""
    e = delta.entity
    plan = e.plan
    tag = entity_prefix(plan.kind, e.value)
    now = delta.now
    out: list[str] = []
    counts = delta.counts
    for i, (metric, w) in enumerate(plan.counters):
        add, add_prev = counts[i]
        if add or add_prev:
            bucket, ttl, _ = window(now, w)
            name = f"{tag}{metric}:{WINDOWS[w]}:"
            if add:
                out.append(_counter(f"{name}{bucket}", add, ttl))
            if add_prev:
                out.append(_counter(f"{name}{bucket - 1}", add_prev, ttl - w))
    members = delta.members
    for i, (metric, w, _) in enumerate(plan.hlls):
        added, added_prev = members[i]
        if added or added_prev:
            bucket, ttl, _ = window(now, w)
            name = f"{tag}{metric}:{WINDOWS[w]}:"
            if added:
                hll = _hll(f"{name}{bucket}", added, ttl)
                if hll is None:
                    return None
                out.append(hll)
            if added_prev:
                hll = _hll(f"{name}{bucket - 1}", added_prev, ttl - w)
                if hll is None:
                    return None
                out.append(hll)
    if plan.keep and delta.pushed:
        return None  # a source's recent list: rare (sources repeat), left to write_commands
    return "".join(out), 2 * len(out)  # each piece is a write and its EXPIRE


def _counter(key: str, add: int, ttl: int) -> str:
    """``INCRBY key add`` and ``EXPIRE key ttl`` in RESP (``key`` is ASCII)."""
    n, t = str(add), str(ttl)
    k = f"${len(key)}\r\n{key}\r\n"
    return f"{_INCRBY}{k}${len(n)}\r\n{n}\r\n{_EXPIRE}{k}${len(t)}\r\n{t}\r\n"


def _hll(key: str, added: tuple[str, ...], ttl: int) -> str | None:
    """``PFADD key *added`` and ``EXPIRE key ttl`` in RESP; None when a member is not ASCII."""
    k = f"${len(key)}\r\n{key}\r\n"
    out = [f"*{2 + len(added)}{_PFADD}{k}"]
    for m in added:
        if not m.isascii():
            return None
        out.append(f"${len(m)}\r\n{m}\r\n")
    t = str(ttl)
    out.append(f"{_EXPIRE}{k}${len(t)}\r\n{t}\r\n")
    return "".join(out)


def read_totals(reply: Any) -> Totals:
    """``lua/sync.lua``'s reply; its recent list's members are ``<stamp>:<number>``, newest first."""
    counts, distinct, recent = reply
    numbers: list[str] = []
    stamps: list[int] = []
    for member in recent:
        at, _, number = str(member).partition(":")
        stamps.append(int(at))
        numbers.append(number)
    return Totals(
        [(int(counts[i]), int(counts[i + 1])) for i in range(0, len(counts), 2)],
        [(int(distinct[i]), int(distinct[i + 1])) for i in range(0, len(distinct), 2)],
        numbers,
        stamps,
    )


def xadd(entry: Mapping[str, str], maxlen: int) -> Command:
    command: list[str | int] = ["XADD", CALLS_STREAM, "MAXLEN", "~", maxlen, "*"]
    for name, value in entry.items():
        command += (name, value)
    return command


def call_index_commands(entries: list[dict[str, str]], outcome_ttl: int = CALL_INDEX_TTL) -> list[Command]:
    """The outcome hashes (kept ``outcome_ttl`` seconds), verdict counters and hourly top sets
    for a batch (increments summed per key first, so a batch costs a few commands per distinct key)."""
    out: list[Command] = []
    counts: dict[tuple[str, str], int] = {}
    tops: dict[tuple[str, str], int] = {}
    for entry in entries:
        call = entry.get("call", "")
        if "outcome" in entry and 0 < len(call) <= CALL_REF_MAX:
            key = OUTCOME_PREFIX + call
            duration, stamp = entry.get("duration", ""), entry.get("ts", "")
            out.append(("HSET", key, "status", entry["outcome"], "duration", duration, "ts", stamp))
            out.append(("EXPIRE", key, outcome_ttl))
        verdict = entry.get("verdict", "")
        if verdict not in VERDICTS:
            continue
        ts = entry_time(entry)
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
        out.append(("HINCRBY", key, verdict, n))
    for key in {key for key, _ in counts}:
        out.append(("EXPIRE", key, STATS_TTL[key[len(STATS_PREFIX)]]))
    for (key, member), n in tops.items():
        out.append(("ZINCRBY", key, n, member))
    for key in {key for key, _ in tops}:
        out.append(("ZREMRANGEBYRANK", key, 0, -(TOP_KEEP + 1)))  # keep the heavy hitters: bounded memory
        out.append(("EXPIRE", key, STATS_TTL["h"]))
    return out


def entry_time(entry: Mapping[str, str]) -> float:
    """A call log entry's wall-clock time (its ``ts``), or now when missing or absurd."""
    try:
        ts = float(entry.get("ts", ""))
    except ValueError:
        ts = math.nan
    return ts if math.isfinite(ts) and ts > 0 else time.time()
