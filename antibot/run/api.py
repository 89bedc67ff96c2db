"""``antibot run`` serves the admin API in the same process (with detection), exporting the
running proxy's counters at /metrics (and, on a node with workers, their state at /healthz)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from api.auth import TokenError, TokenStore
from api.main import ApiServer, create_app
from api.main import serve as serve_api
from api.metrics import MetricsSnapshot
from api.settings import InsecureSettingsError, is_loopback, parse_listen

from ..config import ConfigError, Settings
from ..proxy.core import ProxyCore
from ..transport.latency import LatencyHistogram
from .detection import Detection
from .node_metrics import NodeMetrics, local_snapshot


class ProxyStats:
    """The running proxy's counters, exported by the API at /metrics."""

    def __init__(
        self,
        core: ProxyCore,
        detection: Detection,
        latency: LatencyHistogram,
        workers: Callable[[], list[dict[str, int | bool]]] | None = None,
        redis_restarts: Callable[[], int] | None = None,
        standby: Callable[[], bool] | None = None,
        node: NodeMetrics | None = None,
    ) -> None:
        self.core = core
        self.detection = detection
        self.latency = latency
        #: With ``--workers``: every worker's pid, restarts and state, for ``/healthz``.
        self.workers = workers
        #: With ``--workers``: the parent's count of embedded Redis restarts (it runs that Redis).
        self.redis_restarts = redis_restarts
        #: With ``--workers``: whether a standby is ready to replace a dead worker, for ``/healthz``.
        self.standby = standby
        #: With ``--workers``: the other workers' published totals, added to this one's.
        self.node = node

    def metrics_snapshot(self) -> MetricsSnapshot:
        """This process's totals; on a node, every worker's added up (:mod:`.node_metrics`)."""
        own = local_snapshot(self.core, self.detection, self.latency)
        totals = self.node.node(own) if self.node is not None else own
        if self.redis_restarts is not None:
            totals = dataclasses.replace(totals, redis_restarts=totals.redis_restarts + self.redis_restarts())
        return totals


async def start_api(
    s: Settings,
    core: ProxyCore,
    detection: Detection,
    latency: LatencyHistogram,
    model: Path | None,
    workers: Callable[[], list[dict[str, int | bool]]] | None = None,
    redis_restarts: Callable[[], int] | None = None,
    standby: Callable[[], bool] | None = None,
    node: NodeMetrics | None = None,
) -> ApiServer:
    """Serve the admin API on ``api_listen``; ``latency`` is the runner's decision latency,
    exported at /metrics; ``workers`` reports a node's workers at /healthz; ``node`` adds the
    other workers' totals at /metrics."""
    assert s.api_listen is not None
    try:
        host, port = parse_listen(s.api_listen)
        tokens = TokenStore.from_env()
    except (TokenError, ValueError) as exc:
        raise ConfigError(f"admin API: {exc}") from None
    token = ""
    if not tokens.configured and is_loopback(host):
        tokens, token = TokenStore.with_ephemeral_admin()
    url = detection.url
    metrics = ProxyStats(core, detection, latency, workers, redis_restarts, standby, node)
    app = create_app(url, tokens=tokens, model_card=model, metrics=metrics)
    try:
        server = await serve_api(app, host, port)
    except (InsecureSettingsError, OSError) as exc:
        raise ConfigError(f"admin API: {exc}") from None
    if token:  # once the API answers: the token printed is one that can be used
        print(f"antibot: admin API token for this run: {token}", file=sys.stderr)
    return server
