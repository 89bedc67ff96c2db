"""Prometheus exposition: the proxy's counters (from an in-process provider), what Redis
knows about recent verdicts (all proxies), and the API's own request counts.

The proxy implements :class:`ProxyMetrics` and hands it to ``create_app``; ``antibot api``
running alone has no provider and exports only the Redis-derived and API metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class HistogramSample:
    """A histogram as Prometheus wants it: cumulative counts per finite upper bound, ascending."""

    buckets: Sequence[tuple[float, int]]
    count: int
    sum: float


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Current totals of one proxy process (monotonic counters since it started)."""

    sip_messages: Mapping[str, int] = field(default_factory=dict)  # kind -> messages
    verdicts: Mapping[str, int] = field(default_factory=dict)  # action (relay/suspect/reject/drop) -> calls
    decision_latency: HistogramSample | None = None  # seconds per INVITE decision
    redis_errors: int = 0
    calllog_dropped: int = 0
    score_isolated: int = 0  # high scores the thresholds did not act on (not corroborated)
    internal_errors: int = 0  # decisions that failed inside (lists and rules applied, call marked suspect)
    counters_evicted_unsynced: int = 0  # counter entities forgotten (table full) before their counts reached Redis
    redis_restarts: int = 0  # times the embedded Redis was started again after it died


class ProxyMetrics(Protocol):
    """What ``antibot run`` passes to ``create_app``; called on every scrape, must not block."""

    def metrics_snapshot(self) -> MetricsSnapshot: ...


class ApiMetrics:
    """The API's own counters, in a registry of this app (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "antibot_api_requests",
            "Admin API requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "antibot_api_redis_errors", "API requests that failed because Redis was unavailable", registry=self.registry
        )


def _proxy_families(s: MetricsSnapshot) -> Iterator[Metric]:
    sip = CounterMetricFamily("antibot_sip_messages", "SIP messages handled by the proxy, by kind", labels=["kind"])
    for kind, value in sorted(s.sip_messages.items()):
        sip.add_metric([kind], value)
    yield sip
    verdicts = CounterMetricFamily("antibot_verdicts", "INVITE decisions by action", labels=["action"])
    for action, value in sorted(s.verdicts.items()):
        verdicts.add_metric([action], value)
    yield verdicts
    if s.decision_latency is not None:
        h = s.decision_latency
        buckets = [(repr(float(le)), count) for le, count in h.buckets if math.isfinite(le)]
        buckets.append(("+Inf", h.count))
        yield HistogramMetricFamily(
            "antibot_decision_latency_seconds", "Time to decide one INVITE", buckets=buckets, sum_value=h.sum
        )
    yield CounterMetricFamily("antibot_redis_errors", "Redis operations of the proxy that failed", value=s.redis_errors)
    yield CounterMetricFamily(
        "antibot_calllog_dropped", "Call log entries dropped (queue full or Redis down)", value=s.calllog_dropped
    )
    yield CounterMetricFamily(
        "antibot_redis_restarts", "Times the embedded Redis was restarted after it died", value=s.redis_restarts
    )
    yield CounterMetricFamily(
        "antibot_internal_errors",
        "Decisions that failed inside: the lists and rules still applied, the call relayed as suspect (internal-error)",
        value=s.internal_errors,
    )
    yield CounterMetricFamily(
        "antibot_score_isolated",
        "INVITEs relayed although they scored above the suspect threshold: their caller's recent calls did not back it",
        value=s.score_isolated,
    )
    yield CounterMetricFamily(
        "antibot_counters_evicted_unsynced",
        "Counted entities (sources, callers, callees...) forgotten by a full table before their counts reached Redis",
        value=s.counters_evicted_unsynced,
    )


class _Scrape:
    def __init__(self, families: Iterable[Metric], api: ApiMetrics) -> None:
        self.families = list(families)
        self.api = api

    def collect(self) -> Iterable[Metric]:
        yield from self.families
        yield from self.api.registry.collect()


def render(
    api: ApiMetrics,
    snapshot: MetricsSnapshot | None,
    recent: Mapping[str, Mapping[str, int]] | None,
    provider_error: bool = False,
) -> bytes:
    """The exposition text. ``recent``: window ("1h", "24h") -> verdict -> count from Redis
    (None when Redis was unreachable)."""
    families: list[Metric] = []
    if snapshot is not None:
        families.extend(_proxy_families(snapshot))
    if provider_error:
        families.append(GaugeMetricFamily("antibot_proxy_metrics_up", "Proxy metrics provider answered", value=0))
    families.append(GaugeMetricFamily("antibot_redis_up", "Redis reachable from the API", value=recent is not None))
    if recent is not None:
        gauge = GaugeMetricFamily(
            "antibot_recent_verdicts",
            "Verdicts logged in Redis by all proxies over a recent window",
            labels=["verdict", "window"],
        )
        for window, counts in recent.items():
            for verdict, value in sorted(counts.items()):
                gauge.add_metric([verdict, window], value)
        families.append(gauge)
    return generate_latest(_Scrape(families, api))
