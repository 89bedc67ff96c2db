"""Verdict counts over time and the top sources, User-Agents and caller numbers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StatsPoint(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    t: int = Field(description="bucket start, epoch seconds")
    pass_: int = Field(alias="pass")
    suspect: int
    reject: int
    drop: int


class Tops(BaseModel):
    sources: list[tuple[str, int]]
    user_agents: list[tuple[str, int]]
    numbers: list[tuple[str, int]]


class StatsPublic(BaseModel):
    bucket: Literal["minute", "hour"]
    span: int
    series: list[StatsPoint] = Field(description="oldest first")
    top: Tops = Field(description="suspect, reject and drop calls over the span (hourly granularity)")
