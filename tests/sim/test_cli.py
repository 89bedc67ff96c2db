"""``antibot simulate``: arguments, JSON lines output and the summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from antibot.sim import cli, generate


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="antibot")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    return parser.parse_args(["simulate", *argv])


def test_defaults() -> None:
    args = _args()
    assert (args.profiles, args.duration, args.seed, args.scale, args.start) == (None, 3600.0, 0, 1.0, 1.7e9)
    assert (args.out, args.summary, args.progress) == (None, False, True)


def test_writes_one_json_object_per_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim.jsonl"
    argv = ("--profiles", "wangiri, scanner_sweep", "--duration", "1800", "--seed", "3", "--out", str(out))
    assert cli.run(_args(*argv, "--summary", "--no-progress")) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = list(generate(["wangiri", "scanner_sweep"], duration=1800, seed=3))
    assert len(rows) == len(expected) > 100
    keys = ["ts", "src_ip", "src_port", "label", "family", "profile", "method", "status", "duration", "message"]
    for row, ev in zip(rows, expected, strict=True):
        assert list(row) == keys
        assert row["message"].encode("latin-1") == ev.data
        assert (row["ts"], row["src_ip"], row["src_port"], row["label"]) == (ev.ts, ev.src_ip, ev.src_port, ev.label)
        assert (row["profile"], row["method"], row["status"], row["duration"]) == (
            ev.profile,
            ev.method,
            ev.status,
            ev.duration,
        )
    summary = capsys.readouterr().out
    assert "scanner_sweep" in summary and "wangiri" in summary and "office_pbx" not in summary
    bots = sum(1 for r in rows if r["label"] == 1)
    assert f"label 1 (bot): {bots} events" in summary
    assert "label 0 (human): 0 events" in summary


def test_stdout_when_no_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_args("--profiles", "toll_fraud", "--duration", "7200", "--seed", "1", "--no-progress")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == sum(1 for _ in generate(["toll_fraud"], duration=7200, seed=1)) > 0
    assert all(json.loads(line)["profile"] == "toll_fraud" for line in lines)


def test_summary_alone_writes_no_events(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_args("--profiles", "office_pbx", "--duration", "600", "--summary")) == 0
    out = capsys.readouterr().out
    assert out.startswith("profile ") and "office_pbx" in out and "{" not in out


def test_unknown_profile_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_args("--profiles", "office_pbx,nope", "--summary")) == 2
    assert "nope" in capsys.readouterr().err


def test_unwritable_output_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_args("--duration", "10", "--out", str(tmp_path / "missing" / "x.jsonl"))) == 1
    assert "antibot simulate:" in capsys.readouterr().err


def test_progress_passes_events_through(capsys: pytest.CaptureFixture[str]) -> None:
    events = list(generate(["chatty_carrier"], duration=1800, seed=2))
    assert list(cli._progress(iter(events), 1.7e9, 1800.0)) == events
    assert "simulate" in capsys.readouterr().err
