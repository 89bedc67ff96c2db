"""The audit log and the policy's version history."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AuditEntry(BaseModel):
    id: str
    ts: float
    who: str
    action: str
    detail: str
    version: int | None


class AuditPage(BaseModel):
    items: list[AuditEntry]


class HistoryEntry(BaseModel):
    id: str
    version: int
    ts: float
    who: str
    doc: dict[str, Any]


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
