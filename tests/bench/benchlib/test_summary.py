"""The TLS rounds' summary and the antibot / Kamailio comparison (bench/benchlib/summary.py)."""

from __future__ import annotations

from typing import Any

from benchlib import report
from benchlib.summary import TLS_TARGET_RATIO, summarize, tls_comparison


def _round(us: float | None, ok: int = 6000, cipher: str = "TLS_AES_256_GCM_SHA384") -> dict[str, Any]:
    cpu = {} if us is None else {"us_per_call": us, "redis_us_per_call": 90.0}
    return {
        "rate": 200,
        "calls": 6000,
        "uac": {"not_successful": 6000 - ok},
        "cpu": cpu,
        "tls": {"negotiated": [cipher]},
        "workdir": "w/x",
    }


def test_tls_rounds_keep_each_round_and_the_median_and_spread() -> None:
    out = summarize("antibot", {"tls": [_round(900.0), _round(700.0), _round(1000.0, ok=5990)]})["tls"]
    assert out["rounds"] == 3 and out["rate"] == 200 and out["calls"] == 6000
    assert out["us_per_call"] == [900.0, 700.0, 1000.0]
    assert out["us_per_call_spread"] == {"median": 900.0, "min": 700.0, "max": 1000.0}
    assert out["not_successful"] == [0, 0, 10]
    assert out["negotiated"] == ["TLS_AES_256_GCM_SHA384"]


def test_tls_comparison_pairs_the_rounds_in_order() -> None:
    summary = {
        "antibot": summarize("antibot", {"tls": [_round(900.0), _round(700.0), _round(1000.0)]}),
        "kamailio": summarize("kamailio", {"tls": [_round(300.0), _round(500.0), _round(400.0)]}),
    }
    cmp = tls_comparison(summary)
    assert cmp is not None
    assert cmp["antibot"]["ratio_per_round"] == [3.0, 1.4, 2.5]  # round by round, not medians over medians
    assert cmp["antibot"]["ratio"] == {"median": 2.5, "min": 1.4, "max": 3.0}
    assert cmp["antibot"]["target_met"] is False
    assert cmp["kamailio_us_per_call"]["median"] == 400.0
    assert "kamailio" not in cmp
    notes = report.tls_notes(cmp)
    assert notes == [
        "Over TLS, CPU per call antibot, 1 worker / Kamailio: **2.50×** median (rounds: 3.00×, 1.40×, 2.50×); "
        f"target ≤ {TLS_TARGET_RATIO:g}×: MISSED."
    ]


def test_tls_comparison_within_the_target_and_a_round_without_a_figure() -> None:
    summary = {
        "antibot": summarize("antibot", {"tls": [_round(600.0), _round(None, ok=0), _round(800.0)]}),
        "kamailio": summarize("kamailio", {"tls": [_round(400.0), _round(400.0), _round(400.0)]}),
    }
    cmp = tls_comparison(summary)
    assert cmp is not None
    assert cmp["antibot"]["ratio_per_round"] == [1.5, None, 2.0]
    assert cmp["antibot"]["ratio"]["median"] == 1.75  # over the rounds that have a figure
    assert cmp["antibot"]["target_met"] is True
    assert "rounds: 1.50×, n/a, 2.00×" in report.tls_notes(cmp)[0]


def test_no_comparison_without_kamailio_over_tls() -> None:
    assert tls_comparison({"antibot": summarize("antibot", {"tls": [_round(600.0)]})}) is None
    assert tls_comparison({"kamailio": summarize("kamailio", {"cpu": _round(400.0)})}) is None
