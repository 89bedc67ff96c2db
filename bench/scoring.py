#!/usr/bin/env python3
"""CPU per INVITE of the scoring path, stage by stage, against a real (embedded) redis-server.

    .venv/bin/python bench/scoring.py [--invites 4000] [--repeats 5] [--no-uvloop]

The INVITEs come from the traffic simulator (every legitimate and attack profile, parsed as the
proxy parses them). Each repeat starts a fresh embedded Redis (empty counters) and runs every
stage over all INVITEs, one after the other, measuring the proxy process's CPU
(``time.process_time``) and the redis-server's CPU (``/proc/<pid>/stat``, 10 ms ticks, so only
the larger stages resolve) per INVITE:

- ``features (message)``: message-only features and the counted entities (``static_features``
  + ``observation``); ``features (counters)``: the counter features and the vector once the
  counters are back;
- ``counters (local + sync)``: ``LocalCounters.observe`` per INVITE and a ``CounterSync.sync``
  to the real Redis every ``--sync-every`` INVITEs (10: the proxy's 50 ms sync at 200 INVITEs/s);
- ``model``: ``Model.explain`` (score + top contributions);
- ``rules``: the policy's ``RuleSet.decide`` (default policy: scanner UA deny list);
- ``verdict + log entry``: the rest of ``Detector.verdict`` (headers, call ref, the call-log
  entry and its non-blocking submit), i.e. ``Detector.verdict`` less the counter features,
  model and rules;
- ``call-log write``: the background writer flushing those entries to the ``ab:calls`` stream
  and its indexes;
- ``outcome``: ``Detector.outcome`` per call (per-source outcome counters + call-log entry),
  with its call-log write;
- ``decide (whole path)``: the whole ``Detector.decide`` as the proxy runs it (synchronous),
  the call's outcome, the counter syncs and the call-log writes: the scoring path's total
  cost per call.

The machine may be shared: the table shows min and median over the repeats. Results go to
``bench/results/scoring-<UTC stamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from antibot.config import load  # noqa: E402
from antibot.detect.counting import LocalCounters  # noqa: E402
from antibot.detect.engine import Detector  # noqa: E402
from antibot.detect.features import feature_vector, observation, static_features  # noqa: E402
from antibot.detect.lists import NumberLists  # noqa: E402
from antibot.detect.numbers import parties  # noqa: E402
from antibot.detect.observation import Counters  # noqa: E402
from antibot.detect.rules import Facts  # noqa: E402
from antibot.detect.shipped import find_model  # noqa: E402
from antibot.proxy.effects import Addr  # noqa: E402
from antibot.run.detection import load_shipped_model  # noqa: E402
from antibot.run.policy import build_rules, seed_doc  # noqa: E402
from antibot.sim.generator import generate  # noqa: E402
from antibot.sip.message import Request  # noqa: E402
from antibot.sip.parser import parse_datagram  # noqa: E402
from antibot.store.calllog import CallLog  # noqa: E402
from antibot.store.embedded import EmbeddedRedis  # noqa: E402
from antibot.store.hotpath import CounterSync  # noqa: E402
from antibot.store.redis import Store  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
STAGES = (
    "features (message)",
    "features (counters)",
    "counters (local + sync)",
    "model",
    "rules",
    "verdict + log entry",
    "call-log write",
    "outcome",
    "decide (whole path)",
)
SYNC_EVERY = 10


@dataclass(frozen=True, slots=True)
class Invite:
    data: bytes
    src: str
    ts: float
    status: int
    duration: float | None


@dataclass
class Sample:
    """One stage of one repeat: µs per INVITE."""

    proxy_us: float
    redis_us: float
    wall_us: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def invites(n: int, seed: int) -> list[Invite]:
    """The first ``n`` INVITEs of a simulated day slice with every profile."""
    out: list[Invite] = []
    for e in generate(None, duration=4 * 3600, seed=seed, scale=2):
        if e.method == "INVITE":
            out.append(Invite(e.data, e.src_ip, e.ts, e.status, e.duration))
            if len(out) == n:
                break
    return out


def parse_all(items: list[Invite]) -> list[Request]:
    reqs = []
    for item in items:
        msg = parse_datagram(item.data)
        assert isinstance(msg, Request)
        reqs.append(msg)
    return reqs


def redis_cpu(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Meter:
    def __init__(self, redis_pid: int, n: int) -> None:
        self.redis_pid = redis_pid
        self.n = n

    @contextmanager
    def measure(self, out: dict[str, Sample], stage: str) -> Iterator[None]:
        r0, c0, w0 = redis_cpu(self.redis_pid), time.process_time(), time.perf_counter()
        yield
        c1, w1, r1 = time.process_time(), time.perf_counter(), redis_cpu(self.redis_pid)
        out[stage] = Sample((c1 - c0) * 1e6 / self.n, (r1 - r0) * 1e6 / self.n, (w1 - w0) * 1e6 / self.n)


async def _flush(calllog: CallLog) -> None:
    await calllog.stop(timeout=120.0)
    if calllog.dropped:
        raise RuntimeError(f"call log dropped {calllog.dropped} entries during the benchmark")


async def run_once(items: list[Invite], seed_dir: Path) -> dict[str, Sample]:
    settings = load(None, {"upstream": ["sip:127.0.0.1:5080"]})
    model = load_shipped_model(find_model(None))
    if model is None:
        raise SystemExit("no shipped model found")
    rules = build_rules(seed_doc(settings))
    lists = NumberLists()
    out: dict[str, Sample] = {}
    server = EmbeddedRedis(seed_dir)
    with server as url:
        assert server.pid is not None
        meter = Meter(server.pid, len(items))
        async with await Store.connect(url) as store:
            clock = _Clock()
            calllog = CallLog(store, maxsize=len(items) * 4 + 10)
            local = LocalCounters()
            sync = CounterSync(store.hot, local, clock=clock)
            detector = Detector(rules=rules, model=model, counters=local, calllog=calllog, lists=lists, clock=clock)
            reqs = parse_all(items)

            with meter.measure(out, "features (message)"):
                statics = [static_features(r, i.src, lists) for r, i in zip(reqs, items, strict=True)]
                observations = [observation(r, i.src) for r, i in zip(reqs, items, strict=True)]
            counters: list[Counters] = []
            with meter.measure(out, "counters (local + sync)"):
                for n, (obs, item) in enumerate(zip(observations, items, strict=True), 1):
                    clock.now = item.ts
                    counters.append(local.observe(obs, item.ts))
                    if n % SYNC_EVERY == 0:
                        await sync.sync()
                await sync.sync()
            out["counters (local + sync)"].extra = {"sync_failures": float(sync.failures)}
            with meter.measure(out, "features (counters)"):
                vectors = []
                for c, st in zip(counters, statics, strict=True):
                    vectors.append(feature_vector(st, c))
            with meter.measure(out, "model"):
                scores = [model.explain(vec)[0] for _, vec in vectors]
            hits, misses = getattr(model, "cache_hits", 0), getattr(model, "cache_misses", 0)
            out["model"].extra = {"cache_hit_ratio": hits / max(1, hits + misses)}
            facts = []
            for r, i, (values, _), score in zip(reqs, items, vectors, scores, strict=True):
                caller, callee = parties(r)
                facts.append(Facts(i.src, caller.text, callee.text, r.header("user-agent") or "", score, values))
            with meter.measure(out, "rules"):
                for f in facts:
                    rules.decide(f)
            verdicts = []
            _forget(model)  # the verdict stage scores again: with the same cache hits as the model stage
            with meter.measure(out, "verdict + log entry"):
                for r, i, st, c in zip(reqs, items, statics, counters, strict=True):
                    clock.now = i.ts
                    verdicts.append(detector.verdict(r, i.src, st, c, i.ts))
            part = out["verdict + log entry"]
            part.proxy_us = max(
                0.0, part.proxy_us - sum(out[s].proxy_us for s in ("features (counters)", "model", "rules"))
            )
            with meter.measure(out, "call-log write"):
                await _flush(calllog)

            calllog = CallLog(store, maxsize=len(items) * 4 + 10)
            detector.calllog = calllog
            calllog.start()
            with meter.measure(out, "outcome"):
                for v, i in zip(verdicts, items, strict=True):
                    clock.now = i.ts + 5
                    detector.outcome(v.call_ref, i.src, i.status, i.duration)
                await sync.sync()
                await _flush(calllog)

            local = LocalCounters()
            detector.counters = local
            sync = CounterSync(store.hot, local, clock=clock)
            calllog = CallLog(store, maxsize=len(items) * 4 + 10)
            detector.calllog = calllog
            calllog.start()
            reqs = parse_all(items)
            with meter.measure(out, "decide (whole path)"):
                for n, (r, i) in enumerate(zip(reqs, items, strict=True), 1):
                    clock.now = i.ts
                    verdict = detector.decide(r, Addr("udp", i.src, 5060), 0.0)
                    clock.now = i.ts + 5
                    detector.outcome(verdict.call_ref, i.src, i.status, i.duration)
                    if n % SYNC_EVERY == 0:
                        await sync.sync()
                await sync.sync()
                await _flush(calllog)
            out["decide (whole path)"].extra = {"store_errors": float(detector.stats.store_errors + sync.failures)}
    return out


def _forget(model: Any) -> None:
    """Empty the model's explanation cache, if it has one (older builds do not)."""
    cache = getattr(model, "_explained", None)
    if cache is not None:
        cache.clear()


class _Clock:
    """The wall clock the detector reads: the simulated time of the INVITE being scored."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def summarise(repeats: list[dict[str, Sample]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        samples = [r[stage] for r in repeats]
        proxy = [s.proxy_us for s in samples]
        redis = [s.redis_us for s in samples]
        both = [s.proxy_us + s.redis_us for s in samples]
        row = {
            "proxy_min_us": min(proxy),
            "proxy_median_us": statistics.median(proxy),
            "redis_min_us": min(redis),
            "redis_median_us": statistics.median(redis),
            "total_min_us": min(both),
            "total_median_us": statistics.median(both),
        }
        for key in samples[0].extra:
            row[key] = statistics.median(s.extra[key] for s in samples)
        out[stage] = row
    return out


def table(summary: dict[str, dict[str, float]]) -> str:
    lines = [
        "| stage (µs per INVITE) | proxy CPU min | proxy CPU median | redis-server CPU median | note |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for stage, row in summary.items():
        note = ""
        if "cache_hit_ratio" in row:
            note = f"explanation cache hits {row['cache_hit_ratio']:.0%}"
        if stage.startswith("counters"):
            note = f"a sync every {SYNC_EVERY} INVITEs"
        if stage.startswith("decide"):
            note = "the whole path per call: decide + outcome + counter syncs + call-log writes"
        lines.append(
            f"| {stage} | {row['proxy_min_us']:.1f} | {row['proxy_median_us']:.1f} | {row['redis_median_us']:.1f} |"
            f" {note} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "antibot"], cwd=REPO, capture_output=True).stdout)
    return {
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "kernel": platform.release(),
        "commit": commit,
        "antibot_dirty": dirty,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invites", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio instead of uvloop (antibot run's loop)")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    items = invites(args.invites, args.seed)
    runner: Callable[[Awaitable[dict[str, Sample]]], dict[str, Sample]] = asyncio.run  # type: ignore[assignment]
    if not args.no_uvloop:
        import uvloop

        runner = uvloop.run  # type: ignore[assignment]
    repeats = []
    started = time.time()
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="ab-score-") as tmp:
            repeats.append(runner(run_once(items, Path(tmp))))  # type: ignore[arg-type]
        print(f"repeat {i + 1}/{args.repeats} done", file=sys.stderr)
    summary = summarise(repeats)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "kind": "scoring-path",
        "stamp": stamp,
        "seconds": round(time.time() - started, 1),
        "invites": len(items),
        "repeats": args.repeats,
        "loop": "asyncio" if args.no_uvloop else "uvloop",
        "machine": machine(),
        "summary": summary,
        "runs": [{k: vars(v) for k, v in r.items()} for r in repeats],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scoring-{stamp}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(table(summary))
    print(f"\nwritten: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


if __name__ == "__main__":
    main()
