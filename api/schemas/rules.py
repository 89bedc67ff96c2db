"""Operator rules (see :class:`antibot.detect.rules.RuleSpec`) as the API takes and returns them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from antibot.detect.features import FEATURE_NAMES
from antibot.detect.rules import MAX_FEATURE_MIN, MAX_STATUS, MIN_STATUS, MIN_THRESHOLD, RuleError, check_sni

from .calls import CallSummary
from .common import ApiModel

Phase = Literal["allow", "deny", "threshold"]
RuleAction = Literal["relay", "suspect", "reject", "drop"]
RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Network = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Prefix = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{1,16}$")]
Reason = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Transport = Literal["udp", "tcp", "tls", "ws", "wss"]
RESERVED_PREFIXES = ("allow-list:", "deny-list:", "deny-destination:", "score-")
MAX_ITEMS = 1000


def check_rule_id(value: str | None) -> str | None:
    if value is not None and value.startswith(RESERVED_PREFIXES):
        raise ValueError(f"rule ids starting with {', '.join(RESERVED_PREFIXES)} are reserved")
    return value


def normalise_network(value: str) -> str:
    """``192.0.2.7`` -> ``192.0.2.7/32``; host bits are cleared (``10.1.2.3/8`` -> ``10.0.0.0/8``)."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (e.g. 192.0.2.0/24 or 2001:db8::/32)") from None


def check_networks(values: list[str] | None) -> list[str] | None:
    return None if values is None else [normalise_network(v) for v in values]


def check_feature(value: str | None) -> str | None:
    if value is not None and value not in FEATURE_NAMES:
        raise ValueError(f"unknown feature {value!r}; known features: {', '.join(FEATURE_NAMES)}")
    return value


def check_tls_sni(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_sni(value)
    except RuleError as exc:
        raise ValueError(str(exc)) from None


class _RuleChecks(ApiModel):
    @field_validator("tls_sni", check_fields=False)
    @classmethod
    def _sni(cls, value: str | None) -> str | None:
        return check_tls_sni(value)

    @field_validator("id", check_fields=False)
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return check_rule_id(value)

    @field_validator("cidrs", check_fields=False)
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        return check_networks(value)

    @field_validator("feature", check_fields=False)
    @classmethod
    def _feature(cls, value: str | None) -> str | None:
        return check_feature(value)


class RuleCreate(_RuleChecks):
    """A new rule. Every matcher given must hold; at least one is needed. ``feature`` and
    ``feature_min`` go together. Without ``id`` one is generated."""

    id: RuleId | None = None
    phase: Phase = "deny"
    action: RuleAction = "reject"
    cidrs: list[Network] = Field(default_factory=list, max_length=MAX_ITEMS)
    from_prefixes: list[Prefix] = Field(default_factory=list, max_length=MAX_ITEMS)
    to_prefixes: list[Prefix] = Field(default_factory=list, max_length=MAX_ITEMS)
    ua_pattern: str | None = Field(None, min_length=1, max_length=500, description="RE2, case-insensitive")
    min_score: float | None = Field(None, ge=MIN_THRESHOLD, le=1.0, description="matches a score at least this")
    feature: str | None = Field(None, max_length=64)
    feature_min: float | None = Field(None, ge=-MAX_FEATURE_MIN, le=MAX_FEATURE_MIN)
    transports: list[Transport] = Field(
        default_factory=list, max_length=5, description="the call came over one of these"
    )
    tls_sni: str | None = Field(
        None, max_length=253, description="over TLS: 'absent' (no SNI sent), 'present', or the server name asked for"
    )
    tls_client_cert: bool | None = Field(None, description="over TLS: the client presented a certificate, or not")
    status: int = Field(603, ge=MIN_STATUS, le=MAX_STATUS, description="SIP status of a reject")
    reason: Reason = ""
    enabled: bool = True


_NULLABLE = frozenset({"ua_pattern", "min_score", "feature", "feature_min", "tls_sni", "tls_client_cert"})


class RuleUpdate(_RuleChecks):
    """Fields to change (absent: unchanged). ``ua_pattern``, ``min_score``, ``feature``,
    ``feature_min``, ``tls_sni`` and ``tls_client_cert`` may be set to null to remove that matcher."""

    phase: Phase | None = None
    action: RuleAction | None = None
    cidrs: list[Network] | None = Field(None, max_length=MAX_ITEMS)
    from_prefixes: list[Prefix] | None = Field(None, max_length=MAX_ITEMS)
    to_prefixes: list[Prefix] | None = Field(None, max_length=MAX_ITEMS)
    ua_pattern: str | None = Field(None, min_length=1, max_length=500)
    min_score: float | None = Field(None, ge=MIN_THRESHOLD, le=1.0)
    feature: str | None = Field(None, max_length=64)
    feature_min: float | None = Field(None, ge=-MAX_FEATURE_MIN, le=MAX_FEATURE_MIN)
    transports: list[Transport] | None = Field(None, max_length=5)
    tls_sni: str | None = Field(None, max_length=253)
    tls_client_cert: bool | None = None
    status: int | None = Field(None, ge=MIN_STATUS, le=MAX_STATUS)
    reason: Reason | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> RuleUpdate:
        nulls = sorted(n for n in self.model_fields_set if getattr(self, n) is None and n not in _NULLABLE)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (leave a field out to keep it)")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class RulePublic(BaseModel):
    id: str
    phase: str
    action: str
    cidrs: list[str]
    from_prefixes: list[str]
    to_prefixes: list[str]
    ua_pattern: str | None
    min_score: float | None
    feature: str | None
    feature_min: float | None
    transports: list[str] = []
    tls_sni: str | None = None
    tls_client_cert: bool | None = None
    status: int
    reason: str
    enabled: bool


class RuleList(BaseModel):
    version: int
    rules: list[RulePublic]


class RuleOrder(ApiModel):
    ids: list[Annotated[str, StringConstraints(max_length=200)]] = Field(max_length=10_000)


class DryRunRequest(ApiModel):
    rule: RuleCreate
    last: int = Field(1000, ge=1, le=10_000, description="how many of the newest logged calls to check")


class DryRunResult(BaseModel):
    checked: int
    hits: int
    calls: list[CallSummary] = Field(description="up to 50 of the calls the rule matches, newest first")
