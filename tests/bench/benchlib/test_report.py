"""The workers ladder comparison (bench/benchlib/report.py) from the ladder summaries."""

from __future__ import annotations

from typing import Any

from benchlib import report
from benchlib.summary import summarize


def _step(rate: int, ok: bool, us: float | None = None, redis_us: float | None = None) -> dict[str, Any]:
    cpu = {} if us is None else {"us_per_call": us, "redis_us_per_call": redis_us, "pct_of_core_during_calls": 50.0}
    return {
        "rate": rate,
        "pass": ok,
        "why": [] if ok else ["1 of 4000 calls not completed"],
        "uac": {"not_successful": 0 if ok else 9},
        "cpu": cpu,
        "workdir": f"w/{rate}",
    }


def _ladder(steps: list[dict[str, Any]], failing: int | None) -> dict[str, Any]:
    best = max((s["rate"] for s in steps if s["pass"]), default=0)
    return {"steps": steps, "cpu_rate": 500, "max_sustained_cps": best, "first_failing_cps": failing}


def test_ladder_summary_takes_the_cpu_of_the_passing_500_step() -> None:
    lad = _ladder([_step(300, True, 700.0), _step(500, False, 900.0), _step(500, True, 600.0, 90.0)], None)
    out = summarize("antibot", {"ladder": lad})["ladder"]
    assert out["max_sustained_cps"] == 500
    assert out["cpu_us_per_call"] == 600.0  # the retry that passed, not the failed attempt or the 300 step
    assert out["redis_us_per_call"] == 90.0


def test_ladder_summary_without_a_passing_500_step_has_no_cpu() -> None:
    out = summarize("antibot", {"ladder": _ladder([_step(300, True, 700.0), _step(500, False, 900.0)], 500)})
    assert out["ladder"]["cpu_us_per_call"] is None


def test_comparison_ratios_and_lower_bounds() -> None:
    summary = {
        "antibot": summarize("antibot", {"ladder": _ladder([_step(500, True, 600.0, 90.0)], 700)}),
        "antibot-w2": summarize("antibot-w2", {"ladder": _ladder([_step(500, True, 660.0, 80.0)], 1500)}),
        "kamailio": summarize("kamailio", {"ladder": _ladder([_step(500, True, 400.0, 0.0)], None)}),
    }
    summary["antibot-w2"]["ladder"]["max_sustained_cps"] = 1000
    summary["kamailio"]["ladder"]["max_sustained_cps"] = 3000
    cmp = report.ladder_comparison(summary)
    assert cmp["ratios"]["antibot-w2"] == {
        "rate_over_1_worker": 2.0,
        "cpu_per_call_over_1_worker": 1.1,
        "rate_over_kamailio": 0.33,
        "cpu_per_call_over_kamailio": 1.65,
    }
    assert cmp["ratios"]["antibot"] == {"rate_over_kamailio": 0.17, "cpu_per_call_over_kamailio": 1.5}
    assert "kamailio" not in cmp["ratios"]
    assert cmp["kinds"]["kamailio"]["top_of_ladder"] and not cmp["kinds"]["antibot"]["top_of_ladder"]
    table = report.ladder_markdown(cmp)
    assert "| antibot, 2 workers | 1,000 | 660 | 80 | 2.00× | 0.33× | 1.65× |" in table
    assert "| Kamailio | ≥ 3,000 | 400 |" in table  # passed the top step: a lower bound
    assert report.ladder_notes(cmp) == ["Highest clean rate, antibot, 2 workers / 1 worker: **2.00×**."]


def test_kind_names() -> None:
    assert report.kind_name("antibot") == "antibot, 1 worker"
    assert report.kind_name("antibot-w2") == "antibot, 2 workers"
    assert report.kind_name("antibot-wN") == "antibot, one per core"
    assert report.kind_name("kamailio") == "Kamailio"
