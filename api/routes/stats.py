"""Verdict counts per minute or hour, and the top suspect/rejected sources, User-Agents and callers."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, HTTPException, Query

from ..deps import StoreDep, ViewerDep
from ..schemas import StatsPoint, StatsPublic, Tops

router = APIRouter(tags=["stats"])
SIZES = {"minute": 60, "hour": 3600}
MAX_SPAN = {"minute": 1440, "hour": 720}
VERDICTS = ("pass", "suspect", "reject", "drop")
TOP_N = 10
TOP_PER_HOUR = 100


@router.get("/stats", response_model=StatsPublic)
async def stats(
    store: StoreDep,
    _: ViewerDep,
    bucket: Literal["minute", "hour"] = "minute",
    span: int = Query(60, ge=1, le=1440, description="buckets back from now (minute: 1440 max, hour: 720)"),
) -> StatsPublic:
    if span > MAX_SPAN[bucket]:
        raise HTTPException(422, f"span for {bucket} buckets is at most {MAX_SPAN[bucket]}")
    size = SIZES[bucket]
    now = time.time()
    last = int(now // size)
    indexes = list(range(last - span + 1, last + 1))
    counts = await store.verdict_counts(bucket[0], indexes)
    series = [
        StatsPoint.model_validate({"t": i * size, **{v: c.get(v, 0) for v in VERDICTS}})
        for i, c in zip(indexes, counts, strict=True)
    ]
    hours = list(range(int(indexes[0] * size // 3600), int(now // 3600) + 1))
    top = {}
    for kind in ("src", "ua", "num"):
        totals: dict[str, float] = {}
        for members in await store.top_values(kind, hours, TOP_PER_HOUR):
            for member, score in members:
                totals[member] = totals.get(member, 0.0) + score
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
        top[kind] = [(member, int(score)) for member, score in ranked]
    return StatsPublic(
        bucket=bucket, span=span, series=series, top=Tops(sources=top["src"], user_agents=top["ua"], numbers=top["num"])
    )
