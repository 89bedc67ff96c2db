"""The destination policy of the policy document (see :mod:`antibot.detect.policy_doc`)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

from antibot.detect.policy_doc import MAX_DESTINATIONS
from antibot.detect.rules import international_prefix

from .common import ApiModel


def normalise_international(value: str) -> str:
    """``+882 16``, ``00882-16`` -> ``+88216``; a national or malformed entry is refused."""
    digits = international_prefix(value)
    if digits is None:
        raise ValueError(f"{value!r} is not an international number or prefix: + (or 00) and 1-15 digits, e.g. +882")
    return "+" + digits


def _entries(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for value in values:
        entry = normalise_international(value)
        if entry not in out:
            out.append(entry)
    return out


class DestinationsPublic(BaseModel):
    #: Whether calls to the listed destinations are refused (with deny_action and reject_status).
    enabled: bool
    premium_prefixes: list[str]
    high_risk_prefixes: list[str]
    #: International numbers or prefixes allowed anyway.
    exceptions: list[str]
    #: The ids of the rules the policy compiles to (``deny-destination:*``), when enabled.
    rules: list[str]
    version: int


class DestinationsUpdate(ApiModel):
    """Fields to change; absent fields keep their value. A list replaces the stored one; its
    entries are international (``+`` or ``00``, then digits; separators are removed)."""

    enabled: bool | None = None
    premium_prefixes: list[str] | None = Field(None, max_length=MAX_DESTINATIONS)
    high_risk_prefixes: list[str] | None = Field(None, max_length=MAX_DESTINATIONS)
    exceptions: list[str] | None = Field(None, max_length=MAX_DESTINATIONS)

    @field_validator("premium_prefixes", "high_risk_prefixes", "exceptions")
    @classmethod
    def _international(cls, values: list[str] | None) -> list[str] | None:
        return _entries(values)

    @model_validator(mode="after")
    def _not_null(self) -> DestinationsUpdate:
        nulls = sorted(n for n in self.model_fields_set if getattr(self, n) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (leave a field out to keep it)")
        return self


class DestinationValue(ApiModel):
    value: str = Field(min_length=1, max_length=40, description="an international number or prefix, e.g. +88216")


class DestinationEntryPublic(BaseModel):
    value: str = Field(description="as stored: + and digits")
    version: int
