"""Liveness, readiness and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ContextDep, ViewerDep
from ..schemas import Health, Me, Ready
from ..schemas.common import ERRORS, WorkerHealth

root = APIRouter(tags=["health"])
router = APIRouter(tags=["health"])


@root.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz(ctx: ContextDep) -> Health:
    """Liveness: the process answers (no token needed); with ``--workers``, each worker's state."""
    report = getattr(ctx.proxy_metrics, "workers", None)
    if report is None:
        return Health()
    standby = getattr(ctx.proxy_metrics, "standby", None)
    ready = standby() if standby is not None else None
    return Health(workers=[WorkerHealth.model_validate(w) for w in report()], standby=ready)


@root.get("/readyz", response_model=Ready, responses={401: ERRORS[401], 503: {"model": Ready}})
async def readyz(ctx: ContextDep, _: ViewerDep) -> JSONResponse:
    """Readiness: Redis answers PING within a second (503 otherwise, also while Redis hangs)."""
    ok = await ctx.stores.ready()
    body = Ready(status="ready" if ok else "not ready", redis=ok)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/me", response_model=Me)
async def me(principal: ViewerDep) -> Me:
    """The role of the token used."""
    return Me(role="admin" if principal.is_admin else "viewer", id=principal.id)
