"""One router per resource; ``api_router`` gathers those under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from ..schemas.common import ERRORS
from . import audit, calls, destinations, feedback, health, lists, model, rules, settings, stats

api_router = APIRouter(prefix="/api/v1", responses=ERRORS)
for _module in (health, rules, lists, destinations, settings, audit, calls, feedback, stats, model):
    api_router.include_router(_module.router)
