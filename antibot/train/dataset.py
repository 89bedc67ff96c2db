"""Training rows from simulated traffic, through the real feature pipeline and a real Redis.

Events are replayed in timestamp order exactly as the proxy sees them live: every new INVITE is
parsed (:func:`antibot.sip.parser.parse_datagram`), gets its message-only features
(:func:`invite_features`), is counted in the proxy's node-local counters and reads them back
(:class:`~antibot.detect.counting.LocalCounters` at the event's simulated time), and becomes
one row of :data:`FEATURE_NAMES` (:func:`feature_vector`). Each call's outcome is counted when
the proxy would learn it (see :func:`outcome_delay`), before any later INVITE is observed. The
counters are synced with Redis as the proxy's sync task does, every ``sync_interval`` s of
simulated time (:class:`~antibot.store.hotpath.ReplaySync`), so distinct counts carry Redis's
HyperLogLog estimates as they do live.
OPTIONS and REGISTER only pass by (the proxy's token bucket handles those floods, not the model).

Nothing is cached on disk: the database is flushed before each replay, and the embedded Redis
(the default) lives in a temporary directory removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ..config import SYNC_SHARED
from ..detect.counting import LocalCounters, outcome_metrics
from ..detect.features import FEATURE_NAMES, feature_vector, invite_features
from ..detect.lists import NumberLists
from ..detect.rules import dialled
from ..proxy.effects import TlsFacts
from ..sim.generator import SimEvent, generate
from ..sip.errors import SipError
from ..sip.message import Request
from ..sip.parser import parse_datagram
from ..store.embedded import EmbeddedRedis
from ..store.hotpath import ReplaySync
from ..store.redis import Store

#: Default simulated start of the training traffic: Tue 2023-11-14 14:13 site time.
TRAIN_START = 1.7e9
#: Default start of the evaluation traffic: 8 days less 6 hours later (the next week's Wednesday,
#: 08:13 site time), so that the two simulations share neither their clock nor their time of day,
#: and even a one-hour evaluation sees every legitimate profile at work.
EVAL_START = TRAIN_START + 8 * 86400.0 - 6 * 3600.0

#: Seed of day ``k`` (k >= 1) of a several-day training simulation: ``seed * DAY_SEED + k``
#: (seed 1: days 1, 1001, 1002 ...), so that the extra days never reuse a small evaluation seed.
DAY_SEED = 1000
#: Day ``k`` of a several-day training simulation starts ``k`` days after the first.
DAY = 86400.0

#: When the proxy learns a call's outcome, after its INVITE (seconds). Answered calls end with
#: the BYE: ringing (:data:`ANSWER_DELAY`) plus the talk time. Cancelled calls (487) end with the
#: caller's CANCEL, matched by Call-ID. Other failures come back as a final response: at once
#: (:data:`REJECT_DELAY`, e.g. 401/404/486/603), after a ring-out (:data:`NO_ANSWER_DELAY`, 480/408)
#: or, with no answer at all (status 0), when timer B fires (:data:`TIMEOUT_DELAY`).
ANSWER_DELAY = 5.0
REJECT_DELAY = 0.5
NO_ANSWER_DELAY = 20.0
TIMEOUT_DELAY = 32.0
#: The detector's ``short_call_seconds``: an answered call shorter than this is hung up at once.
SHORT_CALL = 6.0

#: Pseudo family/profile of rows that come from operator feedback rather than the simulator.
FEEDBACK = "feedback"

Progress = Callable[[float], None]
T = TypeVar("T")


def outcome_delay(status: int, duration: float | None) -> float:
    """Seconds from the INVITE to the moment the proxy learns how the call ended (not 487)."""
    if 200 <= status < 300:
        return ANSWER_DELAY + (duration or 0.0)
    if status < 200:
        return TIMEOUT_DELAY
    if status in (408, 480):
        return NO_ANSWER_DELAY
    return REJECT_DELAY


def flow_learns(ts: float, ended: float, metrics: Sequence[str], short_call_seconds: float = SHORT_CALL) -> float:
    """When the proxy's counters of a call's flow take its outcome (0: never), given its INVITE's
    time ``ts`` and when the proxy learns how it ended: a call answered and talked through
    counts once it has lasted ``short_call_seconds`` after its answer
    (:meth:`antibot.detect.engine.Detector.answered`), any other call when it ends."""
    if ended > 0.0 and tuple(metrics) == ("calls",):
        return min(ended, ts + ANSWER_DELAY + short_call_seconds)
    return ended


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Which simulation a dataset comes from (all of :func:`antibot.sim.generate`'s arguments).

    ``days`` > 1: that many independent simulations (:meth:`day`), each ``duration`` long,
    replayed one after the other against a flushed store and concatenated. Every day draws each
    profile's installations afresh (vendor and release, codec list, headers, identity header,
    campaign sizes), so a model trained on several days sees each kind of legitimate traffic in
    several configurations instead of memorising the one a single day drew.
    """

    seed: int = 1
    duration: float = 3600.0
    scale: float = 1.0
    start: float = TRAIN_START
    profiles: tuple[str, ...] | None = None
    days: int = 1

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seed": self.seed,
            "duration": self.duration,
            "scale": self.scale,
            "start": self.start,
            "profiles": list(self.profiles) if self.profiles is not None else "all",
        }
        if self.days > 1:
            out["days"] = self.days
            out["day_seeds"] = [self.day(k).seed for k in range(self.days)]
        return out

    def day(self, k: int) -> SimConfig:
        """Day ``k`` (0: this simulation's own seed and start) as a one-day configuration."""
        if k == 0:
            return SimConfig(self.seed, self.duration, self.scale, self.start, self.profiles)
        return SimConfig(self.seed * DAY_SEED + k, self.duration, self.scale, self.start + k * DAY, self.profiles)

    def events(self) -> Iterator[SimEvent]:
        """The events of the first day (see :func:`build_dataset` for all of them)."""
        return generate(self.profiles, duration=self.duration, seed=self.seed, start=self.start, scale=self.scale)


@dataclass(frozen=True, slots=True)
class RowFacts:
    """What the operator rules see of one INVITE besides its features (see ``rules.Facts``)."""

    source_ip: str
    from_number: str
    to_number: str
    user_agent: str
    #: The User-Agent with the header-order hash (:func:`antibot.detect.fingerprint.ua_fingerprint`).
    ua_fingerprint: str = ""
    #: The international numbers dialled (:func:`antibot.detect.rules.dialled`): destination rules.
    dialled: tuple[str, ...] = ()
    #: When the proxy learns how the call ended (0: never, within the simulation) and the outcome
    #: counters it adds (:func:`antibot.detect.counting.outcome_metrics`): the evaluation's replay
    #: feeds them back as the proxy does.
    ended: float = 0.0
    metrics: tuple[str, ...] = ()
    #: The transport it came over and, over TLS, its handshake's facts (rules on them).
    transport: str = "udp"
    tls: TlsFacts | None = None
    #: Its flow (:attr:`antibot.detect.observation.Observation.flow`): the address and the stack's fingerprint.
    flow: str = ""


@dataclass
class Dataset:
    """Rows in :data:`FEATURE_NAMES` order with their ground truth; arrays share their length."""

    X: NDArray[np.float64]
    y: NDArray[np.int64]
    family: NDArray[np.str_]
    profile: NDArray[np.str_]
    ts: NDArray[np.float64]
    weight: NDArray[np.float64]
    facts: list[RowFacts]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, mask: NDArray[np.bool_]) -> Dataset:
        idx = np.flatnonzero(mask)
        return Dataset(
            self.X[idx],
            self.y[idx],
            self.family[idx],
            self.profile[idx],
            self.ts[idx],
            self.weight[idx],
            [self.facts[i] for i in idx],
            dict(self.info),
        )

    def counts(self) -> dict[str, Any]:
        """Rows per profile, family and label (for the model card)."""
        return {
            "rows": len(self),
            "by_label": {str(k): v for k, v in sorted(Counter(self.y.tolist()).items())},
            "by_family": dict(sorted(Counter(self.family.tolist()).items())),
            "by_profile": dict(sorted(Counter(self.profile.tolist()).items())),
        }

    @classmethod
    def concat(cls, parts: Sequence[Dataset]) -> Dataset:
        info: dict[str, Any] = {}
        for p in parts:
            info.update(p.info)
        return cls(
            np.concatenate([p.X for p in parts]).reshape(-1, len(FEATURE_NAMES)),
            np.concatenate([p.y for p in parts]).astype(np.int64),
            np.concatenate([p.family for p in parts]),
            np.concatenate([p.profile for p in parts]),
            np.concatenate([p.ts for p in parts]).astype(np.float64),
            np.concatenate([p.weight for p in parts]).astype(np.float64),
            [f for p in parts for f in p.facts],
            info,
        )


@dataclass
class _Rows:
    X: list[list[float]] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    family: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    facts: list[RowFacts] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    def dataset(self, info: dict[str, Any]) -> Dataset:
        n = len(self.y)
        return Dataset(
            np.asarray(self.X, dtype=np.float64).reshape(n, len(FEATURE_NAMES)),
            np.asarray(self.y, dtype=np.int64),
            np.asarray(self.family, dtype=np.str_),
            np.asarray(self.profile, dtype=np.str_),
            np.asarray(self.ts, dtype=np.float64),
            np.ones(n, dtype=np.float64),
            self.facts,
            {**info, "replay": dict(sorted(self.stats.items()))},
        )


async def replay(
    events: Iterable[SimEvent],
    store: Store,
    lists: NumberLists | None = None,
    progress: Progress | None = None,
    sync_interval: float = SYNC_SHARED,
) -> _Rows:
    """Replay ``events`` (time-ordered) through the feature pipeline and the proxy's counters,
    synced with ``store`` every ``sync_interval`` s of replayed time; see the module doc."""
    lists = lists or NumberLists()
    rows = _Rows()
    stats = rows.stats
    counters = LocalCounters()
    counting = ReplaySync(store.hot, counters, sync_interval)
    # (due, seq, source, flow, status, duration)
    pending: list[tuple[float, int, str, str, int, float | None]] = []
    # (source, Call-ID) of cancelled calls -> their flow and row
    ringing: dict[tuple[str, str], tuple[str, int]] = {}
    seq = 0
    for ev in events:
        while pending and pending[0][0] <= ev.ts:
            due, _, source, flow, status, duration = heapq.heappop(pending)
            await counting.advance(due)
            counters.outcome(source, outcome_metrics(status, duration), due, flow)
            stats["outcomes"] += 1
        if progress is not None:
            progress(ev.ts)
        stats[f"events_{ev.method}"] += 1
        if ev.method not in ("INVITE", "CANCEL"):
            continue
        try:
            req = parse_datagram(ev.data)
        except SipError:
            stats["parse_errors"] += 1
            continue
        if not isinstance(req, Request):
            stats["parse_errors"] += 1
            continue
        await counting.advance(ev.ts)
        if ev.method == "CANCEL":
            key = (ev.src_ip, req.call_id)
            if key in ringing:
                flow, row = ringing.pop(key)
                metrics = outcome_metrics(487, None)
                counters.outcome(ev.src_ip, metrics, ev.ts, flow)
                rows.facts[row] = replace(rows.facts[row], ended=ev.ts, metrics=tuple(metrics))
                stats["outcomes"] += 1
            continue
        static, obs, (caller, callee) = invite_features(req, ev.src_ip, lists)
        rows.X.append(list(feature_vector(static, counters.observe(obs, ev.ts))[1]))
        rows.y.append(ev.label)
        rows.family.append(ev.family)
        rows.profile.append(ev.profile)
        rows.ts.append(ev.ts)
        due = 0.0 if ev.status == 487 else ev.ts + outcome_delay(ev.status, ev.duration)
        rows.facts.append(
            RowFacts(
                ev.src_ip,
                caller.text,
                callee.text,
                req.header("user-agent") or "",
                obs.ua_fingerprint,
                dialled(req, callee),
                due,
                () if ev.status == 487 else tuple(outcome_metrics(ev.status, ev.duration)),
                ev.transport,
                ev.tls,
                obs.flow,
            )
        )
        if ev.status == 487:
            ringing[ev.src_ip, req.call_id] = (obs.flow, len(rows.facts) - 1)
        else:
            seq += 1
            heapq.heappush(pending, (due, seq, ev.src_ip, obs.flow, ev.status, ev.duration))
    await counting.flush()
    stats["outcomes_pending_at_end"] = len(pending) + len(ringing)
    return rows


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when installed (a fifth faster here), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


@contextlib.contextmanager
def redis_url(url: str | None = None) -> Iterator[str]:
    """``url`` as given, or a throw-away embedded Redis (no AOF) in a temporary directory."""
    if url is not None:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="antibot-train-") as tmp:
        server = EmbeddedRedis(tmp, extra_args=("--appendonly", "no"))
        try:
            yield server.start()
        finally:
            server.stop()


async def _replay_fresh(
    events: Iterable[SimEvent], url: str, lists: NumberLists | None, progress: Progress | None
) -> _Rows:
    async with await Store.connect(url, timeout=30.0) as store:
        await store.flush_db()
        return await replay(events, store, lists, progress)


def dataset_from_events(
    events: Iterable[SimEvent], url: str, *, lists: NumberLists | None = None, info: dict[str, Any] | None = None
) -> Dataset:
    """Replay any time-ordered ``events`` against the Redis at ``url`` (flushed first)."""
    return _run(_replay_fresh(events, url, lists, None)).dataset(info or {})


def build_dataset(
    cfg: SimConfig,
    url: str,
    *,
    lists: NumberLists | None = None,
    show_progress: bool = False,
    desc: str = "replay",
) -> Dataset:
    """Simulate ``cfg`` and replay it against the Redis at ``url`` (flushed first); with
    ``cfg.days`` > 1, each day in turn (flushed before each) and the rows concatenated."""
    parts = []
    for k in range(max(1, cfg.days)):
        one = cfg.day(k)
        label = desc if cfg.days <= 1 else f"{desc} {k + 1}/{cfg.days}"
        with sim_progress(one, show_progress, label) as progress:
            rows = _run(_replay_fresh(one.events(), url, lists, progress))
        parts.append(rows.dataset({"simulation": cfg.describe()}))
    if len(parts) == 1:
        return parts[0]
    out = Dataset.concat(parts)
    out.info = {"simulation": cfg.describe(), "replay": _sum_replays(p.info["replay"] for p in parts)}
    return out


def _sum_replays(stats: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for s in stats:
        total.update(s)
    return dict(sorted(total.items()))


@contextlib.contextmanager
def sim_progress(cfg: SimConfig, enabled: bool, desc: str) -> Iterator[Progress | None]:
    """A tqdm bar on stderr counting simulated seconds (None when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    total = round(cfg.duration)
    with tqdm(total=total, unit="sim-s", file=sys.stderr, desc=desc, dynamic_ncols=True) as bar:
        done = [0]

        def tick(ts: float) -> None:
            now = min(total, int(ts - cfg.start))
            if now > done[0]:
                bar.update(now - done[0])
                done[0] = now

        yield tick
        bar.update(total - done[0])


async def _feedback(url: str) -> list[tuple[dict[str, float], int]]:
    async with await Store.connect(url, timeout=30.0) as store:
        return await store.read_feedback()


def feedback_dataset(url: str, weight: float = 1.0) -> Dataset:
    """Operator feedback rows (hash ``ab:{admin}:feedback``) with ``weight`` each; missing features read 0."""
    entries = _run(_feedback(url))
    missing = sum(1 for features, _ in entries for name in FEATURE_NAMES if name not in features)
    rows = _Rows()
    for features, label in entries:
        rows.X.append([float(features.get(name, 0.0)) for name in FEATURE_NAMES])
        rows.y.append(label)
        rows.family.append(FEEDBACK)
        rows.profile.append(FEEDBACK)
        rows.ts.append(0.0)
        rows.facts.append(RowFacts("", "", "", ""))
    ds = rows.dataset({"feedback": {"rows": len(entries), "weight": weight, "missing_values": missing}})
    ds.weight = np.full(len(ds), weight, dtype=np.float64)
    return ds
