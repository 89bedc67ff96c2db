"""``GET /metrics``: Prometheus text (token required)."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Response

from antibot.store import StoreError

from ..deps import ContextDep, ViewerDep
from ..metrics import CONTENT_TYPE, MetricsSnapshot, render
from ..schemas.common import ERRORS

router = APIRouter(tags=["metrics"])
log = logging.getLogger("antibot.api")


async def _recent(ctx: ContextDep) -> dict[str, dict[str, int]] | None:
    """Verdicts over the last hour (minute counters) and day (hour counters), all proxies."""
    now = time.time()
    minute, hour = int(now // 60), int(now // 3600)
    try:
        store = await ctx.stores.get()
        minutes = await store.verdict_counts("m", range(minute - 59, minute + 1))
        hours = await store.verdict_counts("h", range(hour - 23, hour + 1))
    except StoreError:
        ctx.metrics.redis_errors.inc()
        return None
    out: dict[str, dict[str, int]] = {}
    for window, rows in (("1h", minutes), ("24h", hours)):
        totals = {v: 0 for v in ("pass", "suspect", "reject", "drop")}
        for row in rows:
            for verdict in totals:
                totals[verdict] += row.get(verdict, 0)
        out[window] = totals
    return out


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}, **ERRORS})
async def metrics(ctx: ContextDep, _: ViewerDep) -> Response:
    snapshot: MetricsSnapshot | None = None
    failed = False
    if ctx.proxy_metrics is not None:
        try:
            snapshot = ctx.proxy_metrics.metrics_snapshot()
        except Exception:  # noqa: BLE001 - a broken provider must not break the scrape
            log.exception("proxy metrics provider failed")
            failed = True
    return Response(render(ctx.metrics, snapshot, await _recent(ctx), failed), media_type=CONTENT_TYPE)
