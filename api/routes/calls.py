"""The call log: filtered, paged listing and one call's detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from .. import calllog
from ..deps import StoreDep, ViewerDep
from ..schemas import CallDetail, CallPage, CallQuery
from ..schemas.calls import CallRef
from ..schemas.common import ERRORS

router = APIRouter(prefix="/calls", tags=["calls"], responses={404: ERRORS[422] | {"description": "no such call"}})


@router.get("", response_model=CallPage)
async def list_calls(store: StoreDep, _: ViewerDep, query: Annotated[CallQuery, Query()]) -> CallPage:
    """Logged calls, newest first. Pass ``next_cursor`` back as ``cursor`` for the next page; a
    page may be short when filters are rare (each request scans a bounded part of the log)."""
    return await calllog.list_calls(store, query)


@router.get("/{call}", response_model=CallDetail)
async def get_call(store: StoreDep, _: ViewerDep, call: Annotated[CallRef, Path(description="call ref")]) -> CallDetail:
    """One call: verdict, features, explanation, its reasons in words (``why``) and outcome (404 once
    it left the log)."""
    found = await store.find_call(call)
    if found is None:
        raise HTTPException(404, f"no call {call!r} in the call log (unknown or expired)")
    entry_id, fields, outcome = found
    return calllog.detail(entry_id, fields, outcome)
