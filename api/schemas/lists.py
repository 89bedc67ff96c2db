"""Allow/deny lists of the policy document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .common import ApiModel

ListKind = Literal["allow", "deny"]
ListType = Literal["cidrs", "numbers", "user_agents"]


class ListEntries(BaseModel):
    cidrs: list[str]
    numbers: list[str]
    user_agents: list[str]


class ListsPublic(BaseModel):
    allow: ListEntries
    deny: ListEntries
    version: int


class ListValue(ApiModel):
    value: str = Field(min_length=1, max_length=200)


class ListEntryPublic(BaseModel):
    kind: ListKind
    type: ListType
    value: str = Field(description="as stored (CIDRs normalised)")
    version: int
