"""Allow and deny lists: source networks, numbers and User-Agent substrings."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response

from ..deps import AdminDep, IfMatchDep, StoreDep, ViewerDep
from ..policy_edit import Edit, change_policy, load_policy, set_etag
from ..schemas import ListEntries, ListEntryPublic, ListsPublic, ListValue
from ..schemas.common import POLICY_ERRORS
from ..schemas.lists import ListKind, ListType
from ..schemas.rules import normalise_network

router = APIRouter(prefix="/lists", tags=["lists"], responses=POLICY_ERRORS)
_NUMBER = re.compile(r"\+?[0-9]{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise(kind: ListType, value: str) -> str:
    """The stored form of a list value; raises a 422 saying what is accepted."""
    if kind == "cidrs":
        try:
            return normalise_network(value)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    if kind == "numbers":
        number = value.strip().replace(" ", "").replace("-", "")
        if not _NUMBER.fullmatch(number):
            raise HTTPException(422, f"{value!r} is not a number: digits with an optional leading +, at most 20")
        return number
    ua = value.strip()
    if not ua or len(ua) > 200 or _CONTROL.search(ua):
        raise HTTPException(422, "a User-Agent entry is 1-200 printable characters")
    return ua


def lists_public(doc: dict[str, Any]) -> ListsPublic:
    lists = doc["lists"]
    return ListsPublic(allow=ListEntries(**lists["allow"]), deny=ListEntries(**lists["deny"]), version=doc["version"])


@router.get("", response_model=ListsPublic)
async def get_lists(store: StoreDep, _: ViewerDep, response: Response) -> ListsPublic:
    doc = await load_policy(store)
    set_etag(response, doc["version"])
    return lists_public(doc)


@router.post("/{kind}/{type}", response_model=ListEntryPublic, status_code=201)
async def add_entry(
    kind: ListKind,
    type: ListType,
    body: ListValue,
    store: StoreDep,
    who: AdminDep,
    expected: IfMatchDep,
    response: Response,
) -> ListEntryPublic:
    """Add one value (409 if it is already listed)."""
    value = normalise(type, body.value)

    def mutate(doc: dict[str, Any]) -> Edit:
        entries = doc["lists"][kind][type]
        if value in entries:
            raise HTTPException(409, f"{value!r} is already in the {kind} list")
        entries.append(value)
        return Edit("list.add", f"{kind}.{type} += {value}")

    doc = await change_policy(store, who, expected, mutate, response)
    return ListEntryPublic(kind=kind, type=type, value=value, version=doc["version"])


@router.delete("/{kind}/{type}", status_code=204)
async def remove_entry(
    kind: ListKind,
    type: ListType,
    store: StoreDep,
    who: AdminDep,
    expected: IfMatchDep,
    value: str = Query(min_length=1, max_length=200, description="the value to remove (as listed)"),
) -> Response:
    """Remove one value (404 if it is not listed)."""

    def mutate(doc: dict[str, Any]) -> Edit:
        entries = doc["lists"][kind][type]
        target = value
        if target not in entries:
            try:
                target = normalise(type, value)
            except HTTPException:
                target = value
        if target not in entries:
            raise HTTPException(404, f"{value!r} is not in the {kind} {type} list")
        entries.remove(target)
        return Edit("list.remove", f"{kind}.{type} -= {target}")

    doc = await change_policy(store, who, expected, mutate)
    return Response(status_code=204, headers={"ETag": f'"{doc["version"]}"'})
