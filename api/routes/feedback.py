"""Operator feedback on a call: a training label, optionally allow-listing the caller or source."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from .. import calllog
from ..deps import AdminDep, StoreDep
from ..policy_edit import Edit, change_policy, load_policy
from ..schemas import AllowlistedEntry, FeedbackCreate, FeedbackResult
from ..schemas.calls import CallRef

router = APIRouter(tags=["feedback"])
_NUMBER = re.compile(r"\+?[0-9]{1,20}")


def _allow_entry(kind: str, fields: dict[str, str]) -> AllowlistedEntry:
    if kind == "caller":
        number = fields.get("from", "")
        if not _NUMBER.fullmatch(number):
            raise HTTPException(422, f"the call's caller {number!r} is not a number that can be allow-listed")
        return AllowlistedEntry(type="numbers", value=number)
    try:
        address = ipaddress.ip_address(fields.get("src", ""))
    except ValueError:
        raise HTTPException(422, "the call has no source IP address to allow-list") from None
    return AllowlistedEntry(type="cidrs", value=str(ipaddress.ip_network(address)))


@router.post("/calls/{call}/feedback", response_model=FeedbackResult)
async def feedback(
    body: FeedbackCreate, store: StoreDep, who: AdminDep, call: Annotated[CallRef, Path(description="call ref")]
) -> FeedbackResult:
    """Label a call bot or human for ``antibot train --with-feedback``; with ``allowlist`` also add
    its From number (``caller``) or source address (``source``) to the allow list."""
    found = await store.find_call(call)
    if found is None:
        raise HTTPException(404, f"no call {call!r} in the call log (unknown or expired)")
    _, fields, _ = found
    entry = _allow_entry(body.allowlist, fields) if body.allowlist else None
    now = time.time()
    label = 1 if body.label == "bot" else 0
    value = json.dumps({"label": label, "features": calllog.features(fields), "ts": round(now, 3)})
    audit = {"ts": f"{now:.3f}", "who": who.who, "action": "feedback", "detail": f"call {call} labelled {body.label}"}
    await store.store_feedback(call, value, audit)
    if entry is None:
        return FeedbackResult(stored=True, allowlisted=None, version=(await load_policy(store))["version"])

    def mutate(doc: dict[str, Any]) -> Edit | None:
        entries = doc["lists"]["allow"][entry.type]
        if entry.value in entries:
            return None
        entries.append(entry.value)
        return Edit("list.add", f"allow.{entry.type} += {entry.value} (feedback on call {call})")

    doc = await change_policy(store, who, None, mutate)
    return FeedbackResult(stored=True, allowlisted=entry, version=doc["version"])
