"""Request (Create/Update/query) and response (Public) models of the admin API.

Inputs forbid unknown fields and non-finite numbers; outputs are lenient, so that whatever
the store holds can always be returned.
"""

from __future__ import annotations

from .audit import AuditEntry, AuditPage, HistoryEntry, HistoryPage
from .calls import (
    AllowlistedEntry,
    CallDetail,
    CallPage,
    CallQuery,
    CallSummary,
    Explanation,
    FeedbackCreate,
    FeedbackResult,
    Outcome,
)
from .common import ApiModel, Health, Me, Ready
from .lists import ListEntries, ListEntryPublic, ListsPublic, ListValue
from .rules import DryRunRequest, DryRunResult, RuleCreate, RuleList, RuleOrder, RulePublic, RuleUpdate
from .settings import SettingsPublic, SettingsUpdate
from .stats import StatsPoint, StatsPublic, Tops

__all__ = [
    "AllowlistedEntry",
    "ApiModel",
    "AuditEntry",
    "AuditPage",
    "CallDetail",
    "CallPage",
    "CallQuery",
    "CallSummary",
    "DryRunRequest",
    "DryRunResult",
    "Explanation",
    "FeedbackCreate",
    "FeedbackResult",
    "Health",
    "HistoryEntry",
    "HistoryPage",
    "ListEntries",
    "ListEntryPublic",
    "ListValue",
    "ListsPublic",
    "Me",
    "Outcome",
    "Ready",
    "RuleCreate",
    "RuleList",
    "RuleOrder",
    "RulePublic",
    "RuleUpdate",
    "SettingsPublic",
    "SettingsUpdate",
    "StatsPoint",
    "StatsPublic",
    "Tops",
]
