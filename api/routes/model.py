"""The model card of the model in use."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException

from ..deps import ContextDep, ViewerDep

router = APIRouter(tags=["model"])


@router.get("/model", response_model=dict[str, Any])
async def model_card(ctx: ContextDep, _: ViewerDep) -> dict[str, Any]:
    """The card written beside the model (training data, metrics, features); 404 when none."""
    path = ctx.model_card
    if path is None:
        raise HTTPException(404, "no model is configured")
    try:
        card = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeError, ValueError) as exc:
        raise HTTPException(404, f"model card {path.name} is missing or unreadable: {exc.__class__.__name__}") from None
    if not isinstance(card, dict):
        raise HTTPException(404, f"model card {path.name} is not a JSON object")
    return card
