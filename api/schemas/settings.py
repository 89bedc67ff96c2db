"""Global mode and thresholds of the policy document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from antibot.detect.rules import MAX_STATUS, MIN_STATUS, MIN_THRESHOLD

from .common import ApiModel


class SettingsPublic(BaseModel):
    mode: str
    suspect_threshold: float
    reject_threshold: float
    #: Support a high score needs before the thresholds act on it (0: off); see antibot.detect.corroboration.
    corroboration: float
    #: How a high score that is not corroborated is relayed (score-isolated first in the reasons).
    isolated_verdict: str
    reject_status: int
    deny_action: str
    version: int


class SettingsUpdate(ApiModel):
    """Fields to change; absent fields keep their value. Thresholds are in [0.05, 1] (lower ones
    would act on nearly every call) with suspect <= reject; the policy compiler checks it all again."""

    mode: Literal["enforce", "monitor"] | None = None
    suspect_threshold: float | None = Field(
        None, ge=MIN_THRESHOLD, le=1.0, description="score from which a call is suspect (<= reject_threshold)"
    )
    reject_threshold: float | None = Field(
        None, ge=MIN_THRESHOLD, le=1.0, description="score from which it is rejected"
    )
    corroboration: float | None = Field(None, ge=0.0, le=1.0)
    isolated_verdict: Literal["pass", "suspect", "suspect-above-reject"] | None = None
    reject_status: int | None = Field(None, ge=MIN_STATUS, le=MAX_STATUS)
    deny_action: Literal["suspect", "reject", "drop"] | None = None

    @model_validator(mode="after")
    def _not_null(self) -> SettingsUpdate:
        nulls = sorted(n for n in self.model_fields_set if getattr(self, n) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (leave a field out to keep it)")
        return self
