"""Who changed what (the audit log) and every version of the policy."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query

from ..calllog import number
from ..deps import StoreDep, ViewerDep
from ..schemas import AuditEntry, AuditPage, HistoryEntry, HistoryPage

router = APIRouter(tags=["audit"])


def _version(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 16 else None


@router.get("/audit", response_model=AuditPage)
async def audit(store: StoreDep, _: ViewerDep, limit: int = Query(100, ge=1, le=1000)) -> AuditPage:
    """The newest audit entries first."""
    rows = await store.audit_log(limit)
    return AuditPage(
        items=[
            AuditEntry(
                id=i,
                ts=number(f.get("ts")),
                who=f.get("who", ""),
                action=f.get("action", ""),
                detail=f.get("detail", ""),
                version=_version(f.get("version")),
            )
            for i, f in rows
        ]
    )


def _doc(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


@router.get("/policy/history", response_model=HistoryPage)
async def history(store: StoreDep, _: ViewerDep, limit: int = Query(20, ge=1, le=100)) -> HistoryPage:
    """The newest policy versions first, each with its whole document."""
    rows = await store.policy_history(limit)
    return HistoryPage(
        items=[
            HistoryEntry(
                id=i,
                version=_version(f.get("version")) or 0,
                ts=number(f.get("ts")),
                who=f.get("who", ""),
                doc=_doc(f.get("doc", "")),
            )
            for i, f in rows
        ]
    )
