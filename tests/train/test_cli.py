"""``antibot train`` / ``antibot evaluate`` end to end on a few simulated minutes."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import load_model
from antibot.train import cli


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="antibot")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_defaults() -> None:
    t = _parse("train")
    assert (t.duration, t.seed, t.scale, t.out, t.with_feedback, t.redis_url) == (3600.0, 1, 1.0, "models", False, None)
    assert t.days == 1
    e = _parse("evaluate")
    assert (e.seed, e.out, e.duration) == (2, "models", None)


def test_train_then_evaluate(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models"
    small = ("--duration", "240", "--days", "2", "--trees", "6", "--depth", "2", "--out", str(out), "--redis-url", url)
    assert cli.run(_parse("train", *small, "--no-progress")) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "antibot-gbt.card.json",
        "antibot-gbt.eval.json",
        "antibot-gbt.eval.md",
        "antibot-gbt.json",
        "antibot-gbt.pr.png",
        "antibot-gbt.roc.png",
    ]
    model, card = load_model(out / "antibot-gbt.json", FEATURE_NAMES)
    assert len(model.trees) == 6
    assert card["training_data"]["simulation"]["duration"] == 240.0
    assert card["training_data"]["simulation"]["day_seeds"] == [1, 1001]  # two simulated days
    assert "--days 2" in card["command"]
    assert card["evaluation_data"]["simulation"]["seed"] == 2
    assert card["training_data"]["simulation"]["start"] != card["evaluation_data"]["simulation"]["start"]
    report = json.loads((out / "antibot-gbt.eval.json").read_text())
    assert set(card["metrics"]["held_out"]) == {r["held_out"] for r in report["held_out"]}
    assert "# antibot-gbt evaluation" in capsys.readouterr().out

    sha = card["sha256"]
    # what was written about the model by hand and by bench/realtools.py --into survives a re-evaluation
    report["notes"] = ["a note"]
    report["real_tools"] = {"about": "svwar, twice", "table": ["| tool |", "|---|", "| svwar |"]}
    (out / "antibot-gbt.eval.json").write_text(json.dumps(report))
    assert cli.run(_parse("evaluate", "--duration", "120", "--seed", "3", "--out", str(out), "--redis-url", url)) == 0
    _, card = load_model(out / "antibot-gbt.json", FEATURE_NAMES)
    assert card["sha256"] == sha  # evaluating never touches the model
    assert card["evaluation_data"]["simulation"]["seed"] == 3 and "evaluated" in card
    again = json.loads((out / "antibot-gbt.eval.json").read_text())
    assert again["notes"] == ["a note"] and again["real_tools"]["table"][-1] == "| svwar |"
    md = (out / "antibot-gbt.eval.md").read_text()
    assert "## Real attack tools\n\nsvwar, twice\n\n| tool |\n|---|\n| svwar |" in md and "- a note" in md
    # training a new model starts a new report
    assert cli.run(_parse("train", *small, "--no-progress")) == 0
    assert "real_tools" not in json.loads((out / "antibot-gbt.eval.json").read_text())


def test_feedback_needs_its_own_redis(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_parse("train", "--with-feedback", "--out", str(tmp_path))) == 2
    assert "--feedback-url" in capsys.readouterr().err
    assert cli.run(_parse("train", "--with-feedback", "--redis-url", url, "--out", str(tmp_path))) == 2
    assert "FLUSH" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_training_with_feedback_leaves_the_feedback_alone(url: str, tmp_path: Path) -> None:
    import asyncio

    from antibot.store.redis import Store

    async def feedback(write: bool) -> list[tuple[dict[str, float], int]]:
        async with await Store.connect(url) as store:
            if write:
                await store.flush_db()
                await store.write_feedback("a1", 0, dict.fromkeys(FEATURE_NAMES, 0.0))
                await store.write_feedback("b2", 1, {"ua_scanner": 1.0, "log_src_1s": 3.0})
            return await store.read_feedback()

    assert len(asyncio.run(feedback(True))) == 2
    argv = ("train", "--duration", "120", "--trees", "4", "--depth", "2", "--no-eval", "--no-progress")
    assert cli.run(_parse(*argv, "--with-feedback", "--feedback-url", url, "--out", str(tmp_path))) == 0
    _, card = load_model(tmp_path / "antibot-gbt.json", FEATURE_NAMES)
    assert card["training_data"]["feedback"] == {"rows": 2, "weight": 5.0, "missing_values": len(FEATURE_NAMES) - 2}
    assert card["metrics"] is None and "--with-feedback" in card["command"]
    assert len(asyncio.run(feedback(False))) == 2  # the replays ran in a scratch Redis, not there


def test_exclude_adds_to_the_identity_features(url: str, tmp_path: Path) -> None:
    from antibot.train.train import IDENTITY_FEATURES

    argv = ("train", "--duration", "120", "--trees", "4", "--depth", "2", "--no-eval", "--no-progress")
    more = ("--exclude", "to_len, from_len", "--exclude", "hdr_count,to_len")
    assert cli.run(_parse(*argv, *more, "--redis-url", url, "--out", str(tmp_path))) == 0
    model, card = load_model(tmp_path / "antibot-gbt.json", FEATURE_NAMES)
    assert card["params"]["exclude"] == [*IDENTITY_FEATURES, "to_len", "from_len"]
    assert "--exclude to_len,from_len,hdr_count" in card["command"]
    used = {FEATURE_NAMES[f] for t in model.trees for f in t.feature if f >= 0}
    assert used and used.isdisjoint(card["params"]["exclude"])


def test_bags_multiply_the_trees(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("train", "--duration", "120", "--trees", "4", "--depth", "2", "--no-eval", "--no-progress")
    assert cli.run(_parse(*argv, "--bags", "0", "--out", str(tmp_path))) == 2
    assert "--bags" in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert cli.run(_parse(*argv, "--bags", "2", "--redis-url", url, "--out", str(tmp_path))) == 0
    model, card = load_model(tmp_path / "antibot-gbt.json", FEATURE_NAMES)
    assert len(model.trees) == 8 and card["params"]["bags"] == 2 and "--bags 2" in card["command"]
    assert card["model"]["export_max_abs_error"] <= 1e-9


def test_exclude_refuses_unknown_features_before_any_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_parse("train", "--exclude", "to_len,no_such_feature", "--out", str(tmp_path))) == 2
    assert "unknown feature(s): no_such_feature" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_missing_scikit_learn_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> ModuleType:
        if name == "sklearn":
            raise ImportError("No module named 'sklearn'")
        return real(name, package)

    monkeypatch.setattr(cli.importlib, "import_module", fake)
    assert cli.run(_parse("train", "--out", str(tmp_path))) == 2
    err = capsys.readouterr().err
    assert "sklearn" in err and "pip install 'antibot[train]'" in err
    assert not list(tmp_path.iterdir())
