"""``antibot train`` and ``antibot evaluate``.

Wiring (in ``antibot/cli.py``): ``train_cli.add_parsers(sub)`` adds both subcommands and
``train_cli.run(args)`` runs whichever was chosen. This module imports nothing beyond the
standard library at import time, so ``antibot --help`` works without the ``train`` extra and
the commands themselves say what to install.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the heavy modules are imported by the commands, after the dependency check
    from ..detect.model import Model
    from .card import Paths
    from .dataset import Dataset, SimConfig
    from .train import TrainParams

INSTALL_HINT = "pip install 'antibot[train]'"
_NEEDED = ("sklearn", "numpy", "matplotlib", "tqdm")
DEFAULT_OUT = "models"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``train`` and ``evaluate`` to the ``antibot`` subparsers."""
    t = sub.add_parser(
        "train",
        help="train the bot model on simulated traffic, evaluate it and write it with its card",
        description="Simulate traffic, replay it through the real feature pipeline and Redis, fit "
        "gradient-boosted trees, export them to JSON, evaluate by held-out profiles and write "
        f"<out>/antibot-gbt.json, .card.json, .eval.json, .eval.md, .roc.png, .pr.png. Needs: {INSTALL_HINT}",
    )
    t.add_argument("--duration", type=float, default=3600.0, metavar="SECONDS", help="simulated training time (3600)")
    t.add_argument("--seed", type=int, default=1, help="training simulation seed (1)")
    t.add_argument(
        "--days",
        type=int,
        default=1,
        help="independent simulated days to train on, each --duration long (1; day k>0: seed 1000*seed+k)",
    )
    t.add_argument("--scale", type=float, default=1.0, help="traffic volume multiplier (1.0)")
    t.add_argument("--eval-duration", type=float, metavar="SECONDS", help="evaluation simulation (default: --duration)")
    t.add_argument("--eval-seed", type=int, default=2, help="evaluation simulation seed (2)")
    t.add_argument("--trees", type=int, default=None, help="boosting stages (100)")
    t.add_argument("--depth", type=int, default=None, help="tree depth (3)")
    t.add_argument("--learning-rate", type=float, default=None, help="shrinkage (0.15)")
    t.add_argument(
        "--bags",
        type=int,
        default=None,
        help="boosters fitted with consecutive seeds and averaged into one model of bags x trees (1)",
    )
    t.add_argument(
        "--tell-rows",
        type=int,
        default=None,
        help="add N people's rows with a scanner UA / sipvicious branch set, as bots (default 1000; 0: none)",
    )
    t.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="features the trees may not split on, in addition to the per-installation header traits "
        "(repeatable; the card's params record the full list)",
    )
    t.add_argument(
        "--with-feedback", action="store_true", help="add operator feedback (Redis hash ab:{admin}:feedback)"
    )
    t.add_argument("--feedback-url", help="Redis holding the feedback (default: --redis-url)")
    t.add_argument("--feedback-weight", type=float, default=5.0, help="weight of one feedback row (5.0)")
    t.add_argument("--no-eval", dest="evaluate", action="store_false", help="skip the held-out evaluation")
    _common(t)

    e = sub.add_parser(
        "evaluate",
        help="evaluate the model in <out> by held-out attack families and legitimate profiles",
        description="Re-run the held-out evaluation of <out>/antibot-gbt.json with its card's training "
        "settings on a fresh evaluation simulation; rewrites the report, plots and card metrics. "
        f"Needs: {INSTALL_HINT}",
    )
    e.add_argument("--duration", type=float, metavar="SECONDS", help="evaluation simulation (default: the card's)")
    e.add_argument("--seed", type=int, default=2, help="evaluation simulation seed (2)")
    _common(e)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=DEFAULT_OUT, help=f"directory of the model files ({DEFAULT_OUT}/)")
    p.add_argument(
        "--redis-url",
        help="a SCRATCH Redis for the replays (its database is FLUSHED); default: a temporary embedded one",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars on stderr")


def missing_dependencies() -> list[str]:
    out = []
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            out.append(name)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``antibot train`` or ``antibot evaluate``; returns the exit status."""
    missing = missing_dependencies()
    if missing:
        print(f"antibot {args.command}: missing {', '.join(missing)}: {INSTALL_HINT}", file=sys.stderr)
        return 2
    from ..detect.model import ModelError
    from ..store import StoreError
    from ..store.embedded import EmbeddedRedisError

    try:
        return run_train(args) if args.command == "train" else run_evaluate(args)
    except (ModelError, StoreError, EmbeddedRedisError, OSError, ValueError) as exc:
        print(f"antibot {args.command}: {exc}", file=sys.stderr)
        return 1


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_train(args: argparse.Namespace) -> int:
    from ..detect.features import FEATURE_NAMES
    from ..detect.model import load_model
    from .card import Paths, make_card, write_model
    from .dataset import EVAL_START, TRAIN_START, Dataset, SimConfig, build_dataset, feedback_dataset, redis_url
    from .train import TrainParams, cap_profiles, train_model

    started = time.monotonic()
    defaults = TrainParams()
    params = TrainParams(
        trees=args.trees or defaults.trees,
        depth=args.depth or defaults.depth,
        learning_rate=args.learning_rate or defaults.learning_rate,
        tell_rows=defaults.tell_rows if args.tell_rows is None else args.tell_rows,
        bags=defaults.bags if args.bags is None else args.bags,
        exclude=defaults.exclude + tuple(n for n in _excluded(args) if n not in defaults.exclude),
    )
    paths = Paths.under(Path(args.out))
    if args.days < 1:
        _log("antibot train: --days must be at least 1")
        return 2
    if params.bags < 1:
        _log("antibot train: --bags must be at least 1")
        return 2
    unknown = sorted(set(_excluded(args)) - set(FEATURE_NAMES))
    if unknown:  # before the replays, not after them (fit would refuse too)
        _log(f"antibot train: --exclude: unknown feature(s): {', '.join(unknown)}")
        return 2
    train_cfg = SimConfig(args.seed, args.duration, args.scale, TRAIN_START, days=args.days)
    eval_cfg = SimConfig(args.eval_seed, args.eval_duration or args.duration, args.scale, EVAL_START)
    feedback: Dataset | None = None
    if args.with_feedback:
        url = args.feedback_url or args.redis_url
        if url is None:
            _log("antibot train: --with-feedback needs --feedback-url (the Redis the proxy and admin API use)")
            return 2
        if args.redis_url is not None and url == args.redis_url:
            _log("antibot train: replays FLUSH --redis-url: give the feedback's Redis as --feedback-url, not both")
            return 2
        feedback = feedback_dataset(url, args.feedback_weight)  # before any replay touches a database
        _log(f"feedback: {len(feedback)} rows from {url}")
    with redis_url(args.redis_url) as url:
        sim = build_dataset(train_cfg, url, show_progress=args.progress, desc="train replay")
        test = build_dataset(eval_cfg, url, show_progress=args.progress, desc="eval replay") if args.evaluate else None
    _log(f"training rows: {sim.counts()}")
    train = Dataset.concat([sim, feedback]) if feedback is not None and len(feedback) else sim
    bags = f" x {params.bags} bags" if params.bags > 1 else ""
    _log(f"fitting {params.trees} trees{bags} of depth {params.depth} on {len(train)} rows")
    _, model, error = train_model(train, params)
    training = {"simulation": train_cfg.describe(), **sim.counts(), "replay": sim.info.get("replay")}
    fitted = cap_profiles(train, params.max_rows_per_profile, params.random_state).counts()
    training["fit_rows"] = {"note": f"at most {params.max_rows_per_profile} rows per profile", **fitted}
    if feedback is not None:
        training["feedback"] = feedback.info.get("feedback")
    report = None
    if test is not None:
        report = _evaluate(sim, test, params, model, train_cfg, eval_cfg, paths, args.progress, feedback)
    sha = write_model(model, paths.model)  # only now: a failed run leaves the previous model and card alone
    card = make_card(
        model=model,
        sha256=sha,
        training=training,
        evaluation={"simulation": eval_cfg.describe(), **test.counts()} if test is not None else None,
        params=params.describe(),
        export_error=error,
        report=report,
    )
    card["command"] = _command(args)
    card["runtime_seconds"] = round(time.monotonic() - started, 1)
    _write_card(card, paths)
    load_model(paths.model, FEATURE_NAMES)  # what the proxy will do: refuse to ship what it would refuse
    print(f"wrote {paths.model} (sha256 {sha[:12]}…), {paths.card.name} in {card['runtime_seconds']} s")
    if report is not None:
        print(paths.eval_md.read_text(encoding="utf-8"))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..detect.features import FEATURE_NAMES
    from ..detect.model import load_model
    from .card import Paths
    from .dataset import EVAL_START, SimConfig, build_dataset, redis_url
    from .train import TrainParams

    started = time.monotonic()
    paths = Paths.under(Path(args.out))
    model, card = load_model(paths.model, FEATURE_NAMES)
    sim = card["training_data"]["simulation"]
    profiles = None if sim.get("profiles") in (None, "all") else tuple(sim["profiles"])
    train_cfg = SimConfig(
        int(sim["seed"]),
        float(sim["duration"]),
        float(sim["scale"]),
        float(sim["start"]),
        profiles,
        int(sim.get("days", 1)),
    )
    params = TrainParams.from_dict(card["params"])
    old_eval = (card.get("evaluation_data") or {}).get("simulation") or {}
    duration = args.duration or float(old_eval.get("duration", train_cfg.duration))
    eval_cfg = SimConfig(args.seed, duration, train_cfg.scale, EVAL_START, profiles)
    with redis_url(args.redis_url) as url:
        train = build_dataset(train_cfg, url, show_progress=args.progress, desc="train replay")
        test = build_dataset(eval_cfg, url, show_progress=args.progress, desc="eval replay")
    report = _evaluate(train, test, params, model, train_cfg, eval_cfg, paths, args.progress, None, keep=True)
    from .card import metrics_summary

    card["evaluation_data"] = {"simulation": eval_cfg.describe(), **test.counts()}
    card["metrics"] = metrics_summary(report)
    card["evaluated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _write_card(card, paths)
    load_model(paths.model, FEATURE_NAMES)
    print(f"evaluated {paths.model} in {time.monotonic() - started:.1f} s")
    print(paths.eval_md.read_text(encoding="utf-8"))
    return 0


def _evaluate(
    train: Dataset,
    test: Dataset,
    params: TrainParams,
    model: Model,
    train_cfg: SimConfig,
    eval_cfg: SimConfig,
    paths: Paths,
    progress: bool,
    feedback: Dataset | None,
    keep: bool = False,
) -> dict[str, Any]:
    from .card import markdown, plot_curves, write_json
    from .dataset import Dataset
    from .evaluate import evaluate

    if feedback is not None and len(feedback):
        train = Dataset.concat([train, feedback])  # every fold trains on the feedback too
    report, curves = evaluate(train, test, params, model, log=_log, progress=progress)
    report = {"train_simulation": train_cfg.describe(), "eval_simulation": eval_cfg.describe(), **report}
    if keep:  # the same model re-evaluated: what was written about it still holds
        report.update(_kept(paths))
    write_json(report, paths.eval_json)
    paths.eval_md.write_text(markdown(report), encoding="utf-8")
    plot_curves(curves, report["thresholds"], paths.roc, paths.pr)
    return report


def _kept(paths: Paths) -> dict[str, Any]:
    """What a re-evaluation keeps of the previous report: the notes written by hand and the
    real-tool table (``bench/realtools.py --into``), which the simulation does not produce."""
    import json

    try:
        old = json.loads(paths.eval_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: old[k] for k in ("notes", "real_tools") if isinstance(old, dict) and old.get(k)}


def _excluded(args: argparse.Namespace) -> list[str]:
    """The ``--exclude`` names, split on commas, in order, without repeats."""
    names: list[str] = []
    for value in args.exclude:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def _command(args: argparse.Namespace) -> str:
    """The ``antibot train`` command line that reproduces this model (scratch Redis left out)."""
    parts = ["antibot train", f"--duration {args.duration:g}", f"--seed {args.seed}"]
    if args.days != 1:
        parts.append(f"--days {args.days}")
    parts.append(f"--scale {args.scale:g}")
    if args.eval_duration:
        parts.append(f"--eval-duration {args.eval_duration:g}")
    parts.append(f"--eval-seed {args.eval_seed}")
    for flag, value in (("--trees", args.trees), ("--depth", args.depth), ("--learning-rate", args.learning_rate)):
        if value:
            parts.append(f"{flag} {value:g}")
    if args.bags is not None:
        parts.append(f"--bags {args.bags}")
    if args.tell_rows is not None:
        parts.append(f"--tell-rows {args.tell_rows}")
    if _excluded(args):
        parts.append(f"--exclude {','.join(_excluded(args))}")
    if args.with_feedback:
        parts.append(f"--with-feedback --feedback-weight {args.feedback_weight:g}")
    return " ".join(parts)


def _write_card(card: dict[str, Any], paths: Paths) -> None:
    from .card import write_json

    write_json(card, paths.card)
