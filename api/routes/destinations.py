"""The destination policy: calls to international premium / IRSF ranges are refused out of the
box; turn it off, edit its prefix lists, or allow numbers anyway (exceptions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response

from antibot.detect.policy_doc import DEFAULT_DOC, DESTINATION_LISTS

from ..deps import AdminDep, IfMatchDep, StoreDep, ViewerDep
from ..policy_edit import Edit, change_policy, load_policy, set_etag
from ..schemas.common import POLICY_ERRORS
from ..schemas.destinations import (
    DestinationEntryPublic,
    DestinationsPublic,
    DestinationsUpdate,
    DestinationValue,
    normalise_international,
)

router = APIRouter(prefix="/destinations", tags=["destinations"], responses=POLICY_ERRORS)
FIELDS = ("enabled", *DESTINATION_LISTS, "exceptions")


def section(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's destination section with every field present (a document stored before
    it existed has the defaults, as the proxies compile it)."""
    current = doc.get("destinations")
    base: dict[str, Any] = DEFAULT_DOC["destinations"]
    stored = current if isinstance(current, dict) else {}
    out = {k: stored.get(k, base[k]) for k in FIELDS}
    doc["destinations"] = {**stored, **out}
    return out


def destinations_public(doc: dict[str, Any]) -> DestinationsPublic:
    s = section(doc)
    rules = [rid for key, (rid, _) in DESTINATION_LISTS.items() if s["enabled"] is True and s[key]]
    return DestinationsPublic(
        enabled=bool(s["enabled"]),
        premium_prefixes=list(s["premium_prefixes"]),
        high_risk_prefixes=list(s["high_risk_prefixes"]),
        exceptions=list(s["exceptions"]),
        rules=rules,
        version=doc["version"],
    )


@router.get("", response_model=DestinationsPublic)
async def get_destinations(store: StoreDep, _: ViewerDep, response: Response) -> DestinationsPublic:
    doc = await load_policy(store)
    set_etag(response, doc["version"])
    return destinations_public(doc)


@router.patch("", response_model=DestinationsPublic)
async def update_destinations(
    body: DestinationsUpdate, store: StoreDep, who: AdminDep, expected: IfMatchDep, response: Response
) -> DestinationsPublic:
    """Turn the policy on or off, or replace a prefix list or the exceptions (422 naming a bad entry)."""
    changes = body.model_dump(exclude_unset=True)

    def mutate(doc: dict[str, Any]) -> Edit | None:
        current = section(doc)
        changed = {k: v for k, v in changes.items() if current.get(k) != v}
        if not changed:
            return None
        doc["destinations"].update(changed)
        return Edit("destinations.update", ", ".join(f"{k}={v}" for k, v in sorted(changed.items())))

    return destinations_public(await change_policy(store, who, expected, mutate, response))


def _value(text: str) -> str:
    try:
        return normalise_international(text)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/exceptions", response_model=DestinationEntryPublic, status_code=201)
async def add_exception(
    body: DestinationValue, store: StoreDep, who: AdminDep, expected: IfMatchDep, response: Response
) -> DestinationEntryPublic:
    """Allow calls to an international number or prefix anyway (409 if it is already an exception)."""
    value = _value(body.value)

    def mutate(doc: dict[str, Any]) -> Edit:
        entries = list(section(doc)["exceptions"])
        if value in entries:
            raise HTTPException(409, f"{value!r} is already an exception")
        entries.append(value)
        doc["destinations"]["exceptions"] = entries
        return Edit("destinations.except", f"exceptions += {value}")

    doc = await change_policy(store, who, expected, mutate, response)
    return DestinationEntryPublic(value=value, version=doc["version"])


@router.delete("/exceptions", status_code=204)
async def remove_exception(
    store: StoreDep,
    who: AdminDep,
    expected: IfMatchDep,
    value: str = Query(min_length=1, max_length=40, description="the exception to remove"),
) -> Response:
    """Stop allowing a number or prefix (404 if it is not an exception)."""
    target = _value(value)

    def mutate(doc: dict[str, Any]) -> Edit:
        entries = list(section(doc)["exceptions"])
        if target not in entries:
            raise HTTPException(404, f"{value!r} is not an exception")
        entries.remove(target)
        doc["destinations"]["exceptions"] = entries
        return Edit("destinations.unexcept", f"exceptions -= {target}")

    doc = await change_policy(store, who, expected, mutate)
    return Response(status_code=204, headers={"ETag": f'"{doc["version"]}"'})
