"""Global mode (enforce/monitor) and score thresholds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from antibot.detect.policy_doc import DEFAULT_DOC

from ..deps import AdminDep, IfMatchDep, StoreDep, ViewerDep
from ..policy_edit import Edit, change_policy, load_policy, set_etag
from ..schemas import SettingsPublic, SettingsUpdate
from ..schemas.common import POLICY_ERRORS

router = APIRouter(prefix="/settings", tags=["settings"], responses=POLICY_ERRORS)
FIELDS = (
    "mode",
    "suspect_threshold",
    "reject_threshold",
    "corroboration",
    "isolated_verdict",
    "reject_status",
    "deny_action",
)


def settings_public(doc: dict[str, Any]) -> SettingsPublic:
    # a document stored before a field existed has its default
    return SettingsPublic(**{k: doc.get(k, DEFAULT_DOC[k]) for k in FIELDS}, version=doc["version"])


@router.get("", response_model=SettingsPublic)
async def get_settings(store: StoreDep, _: ViewerDep, response: Response) -> SettingsPublic:
    doc = await load_policy(store)
    set_etag(response, doc["version"])
    return settings_public(doc)


@router.patch("", response_model=SettingsPublic)
async def update_settings(
    body: SettingsUpdate, store: StoreDep, who: AdminDep, expected: IfMatchDep, response: Response
) -> SettingsPublic:
    """Change the mode, thresholds or corroboration share (422, naming the field, unless
    0.05 <= suspect <= reject <= 1, 0 <= corroboration <= 1 and 400 <= reject_status <= 699)."""
    changes = body.model_dump(exclude_unset=True)

    def mutate(doc: dict[str, Any]) -> Edit | None:
        changed = {k: v for k, v in changes.items() if doc.get(k) != v}
        if not changed:
            return None
        doc.update(changed)
        return Edit("settings.update", ", ".join(f"{k}={v}" for k, v in sorted(changed.items())))

    return settings_public(await change_policy(store, who, expected, mutate, response))
