"""``/metrics`` for a whole node: every worker's totals, added up.

Each worker writes its totals (:class:`~api.metrics.MetricsSnapshot`: SIP message and verdict
counters, the decision-latency histogram, error counters) to ``<data_dir>/metrics/worker-<index>.json``
about once a second and when it stops, through a temporary file and ``os.replace``, so a reader
sees the previous file or the next, never half of one. Worker 0, which serves the admin API, adds
its own live totals to the others' latest files on every scrape: one small file per worker.

Files rather than the parent's pipe: they reach worker 0 without the parent relaying anything, and
they outlive their writer. A worker that takes a dead worker's place (same index) starts from the
totals its predecessor last wrote, so the node's counters never go back; a worker that was killed
loses at most its last second of counts. The parent clears the directory when the node starts:
one file per worker index, never more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.metrics import HistogramSample, MetricsSnapshot

if TYPE_CHECKING:
    from ..proxy.core import ProxyCore
    from ..transport.latency import LatencyHistogram
    from .detection import Detection

#: Seconds between two writes of a worker's totals.
PUBLISH_EVERY = 1.0
#: The directory under ``data_dir``.
DIRNAME = "metrics"
#: The plain integer fields of a snapshot, added field by field.
_INTS = tuple(f.name for f in dataclasses.fields(MetricsSnapshot) if f.type in ("int", int))


def local_snapshot(core: ProxyCore, detection: Detection, latency: LatencyHistogram) -> MetricsSnapshot:
    """This process's totals since it started."""
    stats = dict(core.stats)
    verdicts = {k[8:]: v for k, v in stats.items() if k.startswith("verdict_")}
    sip = {k: v for k, v in stats.items() if not k.startswith("verdict_")}
    internal = sip.pop("internal_error", 0)
    d = detection
    return MetricsSnapshot(
        sip,
        verdicts,
        HistogramSample(*latency.sample()),
        redis_errors=d.detector.stats.store_errors + d.sync.failures + d.calllog.write_errors,
        calllog_dropped=d.calllog.dropped,
        score_isolated=d.detector.stats.isolated,
        internal_errors=d.detector.stats.internal_errors + internal,
        redis_restarts=d.embedded.restarts if d.embedded is not None else 0,
        counters_evicted_unsynced=d.sync.counters.evicted_unsynced,
    )


def add(parts: Iterable[MetricsSnapshot]) -> MetricsSnapshot:
    """The sum of several processes' totals (histograms added bucket by bucket)."""
    sip: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    ints = dict.fromkeys(_INTS, 0)
    buckets: dict[float, int] = {}
    count, total, seen = 0, 0.0, False
    for part in parts:
        _add_into(sip, part.sip_messages)
        _add_into(verdicts, part.verdicts)
        for name in _INTS:
            ints[name] += getattr(part, name)
        h = part.decision_latency
        if h is not None:
            seen = True
            for le, n in h.buckets:
                buckets[le] = buckets.get(le, 0) + n
            count += h.count
            total += h.sum
    hist = HistogramSample(tuple(sorted(buckets.items())), count, total) if seen else None
    return MetricsSnapshot(sip, verdicts, hist, **ints)


def _add_into(out: dict[str, int], part: Mapping[str, int]) -> None:
    for key, value in part.items():
        out[key] = out.get(key, 0) + value


def to_doc(s: MetricsSnapshot) -> dict[str, Any]:
    """A snapshot as JSON."""
    doc: dict[str, Any] = {"sip_messages": dict(s.sip_messages), "verdicts": dict(s.verdicts)}
    doc.update((name, getattr(s, name)) for name in _INTS)
    if s.decision_latency is not None:
        h = s.decision_latency
        doc["decision_latency"] = {"buckets": [[le, n] for le, n in h.buckets], "count": h.count, "sum": h.sum}
    return doc


def from_doc(doc: Any) -> MetricsSnapshot:
    """A snapshot back from JSON (ValueError, TypeError or KeyError if it is not one)."""
    if not isinstance(doc, dict):
        raise TypeError("not a snapshot")
    hist = None
    if "decision_latency" in doc:
        h = doc["decision_latency"]
        pairs = tuple((float(le), int(n)) for le, n in h["buckets"])
        if not all(math.isfinite(le) for le, _ in pairs):
            raise ValueError("bucket bound not finite")
        hist = HistogramSample(pairs, int(h["count"]), float(h["sum"]))
    return MetricsSnapshot(
        {str(k): int(v) for k, v in doc["sip_messages"].items()},
        {str(k): int(v) for k, v in doc["verdicts"].items()},
        hist,
        **{name: int(doc.get(name, 0)) for name in _INTS},
    )


def metrics_dir(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / DIRNAME


def clear(directory: Path) -> None:
    """Forget the files of a previous run of the node (the parent, before starting workers)."""
    for path in directory.glob("worker-*"):
        with contextlib.suppress(OSError):
            path.unlink()


def read(path: Path) -> MetricsSnapshot | None:
    """A worker's published totals; None if it has none (or its file is not readable)."""
    try:
        return from_doc(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


class NodeMetrics:
    """One worker's side: its published totals, and (for the API's worker) the node's sum."""

    def __init__(self, directory: Path, index: int, workers: int) -> None:
        self.directory = directory
        self.index = index
        self.workers = workers
        #: The totals a dead predecessor at this index last wrote: counted on top of ours.
        self.base = read(self.path(index))

    def path(self, index: int) -> Path:
        return self.directory / f"worker-{index}.json"

    def totals(self, live: MetricsSnapshot) -> MetricsSnapshot:
        """This worker index's totals: the predecessor's and this process's."""
        return live if self.base is None else add((self.base, live))

    def publish(self, live: MetricsSnapshot) -> None:
        """Write this index's totals atomically (an OSError is ignored: the next write retries)."""
        path = self.path(self.index)
        tmp = path.with_name(path.name + ".tmp")
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(to_doc(self.totals(live))))
            os.replace(tmp, path)

    def node(self, live: MetricsSnapshot) -> MetricsSnapshot:
        """The node's totals: this worker's live ones and every other worker's latest file."""
        others = (read(self.path(i)) for i in range(self.workers) if i != self.index)
        return add([self.totals(live), *(s for s in others if s is not None)])
