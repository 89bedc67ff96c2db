"""Shared model configuration and the small health/identity responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """Base of every request body: unknown fields and NaN/Infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every error: ``message`` is one line for a person; ``detail`` is that line, or for
    invalid input the list of ``{loc, msg, type}`` problems."""

    detail: str | list[dict[str, Any]]
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid bearer token (WWW-Authenticate: Bearer)"},
    403: {"model": ErrorBody, "description": "needs an admin token"},
    422: {"model": ErrorBody, "description": "invalid input; message says what to change"},
    503: {"model": ErrorBody, "description": "Redis is unavailable (Retry-After)"},
}
POLICY_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such rule or list entry"},
    409: {"model": ErrorBody, "description": "already exists"},
    412: {"model": ErrorBody, "description": "If-Match version is not the current policy version"},
}


class WorkerHealth(BaseModel):
    """One proxy process of a node run with ``--workers``."""

    index: int
    pid: int
    restarts: int
    serving: bool


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    #: With ``--workers``: every worker of this node (restarts counted since the node started).
    workers: list[WorkerHealth] | None = None
    #: With ``--workers``: a standby process is ready to take the place of the next worker to die.
    standby: bool | None = None


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    redis: bool


class Me(BaseModel):
    role: Literal["admin", "viewer"]
    id: str
