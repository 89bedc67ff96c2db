"""The model card of the model in use, and the files shipped beside it (evaluation report,
ROC/PR plots) plus a split count per feature read from the model itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from ..deps import ContextDep, ViewerDep

router = APIRouter(tags=["model"])

#: The plots ``antibot train`` writes beside the model: ``<model>.<name>.png``. Only these names
#: are served (the path parameter is checked against them, never joined as given).
PLOTS: dict[str, str] = {"roc": ".roc.png", "pr": ".pr.png"}


def _card_path(ctx: ContextDep) -> Path:
    if ctx.model_card is None:
        raise HTTPException(404, "no model is configured")
    return ctx.model_card


def _sibling(card: Path, suffix: str) -> Path:
    """``<model>.card.json`` -> ``<model><suffix>`` in the same directory."""
    return card.with_name(card.name.removesuffix(".card.json") + suffix)


def _read_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeError, ValueError) as exc:
        raise HTTPException(404, f"{what} {path.name} is missing or unreadable: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise HTTPException(404, f"{what} {path.name} is not a JSON object")
    return data


@router.get("/model", response_model=dict[str, Any])
async def model_card(ctx: ContextDep, _: ViewerDep) -> dict[str, Any]:
    """The card written beside the model (training data, metrics, features); 404 when none."""
    return _read_object(_card_path(ctx), "model card")


@router.get("/model/report", response_model=dict[str, Any])
async def model_report(ctx: ContextDep, _: ViewerDep) -> dict[str, Any]:
    """The evaluation report written beside the model (``<model>.eval.json``: held-out profiles
    and families, overall and per-profile figures); 404 when none."""
    return _read_object(_sibling(_card_path(ctx), ".eval.json"), "evaluation report")


@router.get("/model/importance", response_model=dict[str, Any])
async def model_importance(ctx: ContextDep, _: ViewerDep) -> dict[str, Any]:
    """How often the model's trees split on each feature (features never split on are left
    out), most used first; 404 when the model file is missing or not a tree model."""
    model = _read_object(_sibling(_card_path(ctx), ".json"), "model")
    names, trees = model.get("features"), model.get("trees")
    if not isinstance(names, list) or not isinstance(trees, list):
        raise HTTPException(404, "the model has no features or trees")
    splits: Counter[int] = Counter()
    for tree in trees:
        nodes = tree.get("feature") if isinstance(tree, dict) else None
        splits.update(i for i in nodes or () if isinstance(i, int) and 0 <= i < len(names))
    total = sum(splits.values()) or 1
    ranked = sorted(splits.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "measure": "splits",
        "trees": len(trees),
        "total_splits": sum(splits.values()),
        "features": [{"name": str(names[i]), "splits": n, "share": n / total} for i, n in ranked],
    }


@router.get("/model/plots/{name}", response_class=FileResponse)
async def model_plot(name: Literal["roc", "pr"], ctx: ContextDep, _: ViewerDep) -> FileResponse:
    """The ROC or PR plot written beside the model (PNG); 404 when it was not shipped."""
    path = _sibling(_card_path(ctx), PLOTS[name])
    if not path.is_file():
        raise HTTPException(404, f"plot {path.name} is not shipped with the model")
    return FileResponse(path, media_type="image/png")
