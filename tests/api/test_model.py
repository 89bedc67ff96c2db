"""The files shipped beside the model, read-only: the evaluation report, the ROC/PR plots (by a
fixed list of names) and the split count per feature, with the same auth as the card."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI

from api.auth import TokenStore
from api.main import create_app

from .conftest import VIEWER, client

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "antibot-gbt.json"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _model_dir(tmp_path: Path) -> Path:
    """A model ``m`` with its card, report, plots and three trees."""
    (tmp_path / "m.card.json").write_text(json.dumps({"name": "m"}))
    (tmp_path / "m.eval.json").write_text(json.dumps({"targets_met": True, "held_out": []}))
    (tmp_path / "m.roc.png").write_bytes(PNG + b"roc")
    (tmp_path / "m.pr.png").write_bytes(PNG + b"pr")
    leaf = {"feature": [-1], "threshold": [0.0], "left": [-1], "right": [-1], "value": [0.1]}
    trees = [
        {
            "feature": [2, 0, -1, -1, -1],
            "threshold": [0.5] * 5,
            "left": [1, 3, -1, -1, -1],
            "right": [2, 4, -1, -1, -1],
        },
        {"feature": [2, -1, -1], "threshold": [0.5] * 3, "left": [1, -1, -1], "right": [2, -1, -1]},
        leaf,
    ]
    (tmp_path / "m.json").write_text(json.dumps({"features": ["a", "b", "c"], "trees": trees}))
    return tmp_path / "m.json"


async def test_plots_report_and_importance(url: str, tokens: TokenStore, tmp_path: Path) -> None:
    app = create_app(url, tokens=tokens, model_card=_model_dir(tmp_path), static_dir=None)
    async with client(app, VIEWER) as c:
        for name in ("roc", "pr"):
            r = await c.get(f"/api/v1/model/plots/{name}")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "image/png"
            assert r.content == PNG + name.encode()
        report = await c.get("/api/v1/model/report")
        assert report.status_code == 200 and report.json() == {"targets_met": True, "held_out": []}
        imp = (await c.get("/api/v1/model/importance")).json()
        assert (imp["measure"], imp["trees"], imp["total_splits"]) == ("splits", 3, 3)
        assert [(f["name"], f["splits"]) for f in imp["features"]] == [("c", 2), ("a", 1)]  # b: never split on
        assert abs(imp["features"][0]["share"] - 2 / 3) < 1e-9


async def test_only_the_listed_plots(url: str, tokens: TokenStore, tmp_path: Path) -> None:
    """Names outside the list are refused, never looked up: not the card, not a path."""
    app = create_app(url, tokens=tokens, model_card=_model_dir(tmp_path), static_dir=None)
    async with client(app, VIEWER) as c:
        for name in ("card", "m.json", "..%2Fm.json", "roc.png", "ROC"):
            r = await c.get(f"/api/v1/model/plots/{name}")
            assert r.status_code in (404, 422), (name, r.status_code)
            assert b"PNG" not in r.content and b'"features"' not in r.content
        (tmp_path / "m.pr.png").unlink()
        r = await c.get("/api/v1/model/plots/pr")
        assert r.status_code == 404 and "m.pr.png" in r.json()["message"]


async def test_model_files_need_a_token(app: FastAPI, url: str, tokens: TokenStore, tmp_path: Path) -> None:
    paths = ("/api/v1/model/plots/roc", "/api/v1/model/report", "/api/v1/model/importance")
    async with client(create_app(url, tokens=tokens, model_card=_model_dir(tmp_path), static_dir=None), None) as c:
        for path in paths:
            assert (await c.get(path)).status_code == 401, path
    async with client(create_app(url, tokens=tokens, model_card=None, static_dir=None), VIEWER) as c:
        for path in paths:
            assert (await c.get(path)).status_code == 404, path
    async with client(app, VIEWER) as c:  # a card alone: no report, no plots, no model file
        for path in paths:
            r = await c.get(path)
            assert r.status_code == 404 and r.json()["message"], path


async def test_the_shipped_model_has_its_plots_and_report(url: str, tokens: TokenStore) -> None:
    """What the dashboard's model tab shows exists for the model in the repository."""
    async with client(create_app(url, tokens=tokens, model_card=SHIPPED, static_dir=None), VIEWER) as c:
        for name in ("roc", "pr"):
            r = await c.get(f"/api/v1/model/plots/{name}")
            assert r.status_code == 200 and r.content.startswith(b"\x89PNG"), name
        assert (await c.get("/api/v1/model/report")).json()["held_out"]
        top = (await c.get("/api/v1/model/importance")).json()["features"]
        card = (await c.get("/api/v1/model")).json()
        assert len(top) >= 10 and {f["name"] for f in top} <= set(card["features"])
