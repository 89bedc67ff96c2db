"""A run's verdict (did a step pass?) and the per-proxy summary of all its runs."""

from __future__ import annotations

import statistics
from typing import Any

TLS_TARGET_RATIO = 2.0  # antibot's CPU per call over TLS at most twice Kamailio's, same run
FAIL_RATIO = 0.001  # a step passes with strictly fewer than 0.1% calls not completed
MIN_ACHIEVED = 0.9  # ... and when sipp really placed the calls at >= 90% of the asked rate


def judge(res: dict[str, Any]) -> tuple[bool, list[str]]:
    uac, why = res["uac"], []
    bad = uac.get("not_successful", res["calls"])
    if bad / res["calls"] >= FAIL_RATIO:
        why.append(f"{bad} of {res['calls']} calls not completed ({100 * bad / res['calls']:.2f}%)")
    achieved = uac.get("achieved_cps") or 0
    if achieved < MIN_ACHIEVED * res["rate"]:
        why.append(f"placed only {achieved} cps")
    if res["proxy"] != "direct" and not res.get("proxy_alive_after_run", False):
        why.append("proxy process died")
    return not why, why


def summarize(kind: str, runs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"crashes": []}
    busy = []
    for phase, r in runs.items():
        items = r["steps"] if phase == "ladder" else r if isinstance(r, list) else [r]
        for x in items:
            busy.append(x.get("host_cpu_busy_pct", 0))
            if x.get("proxy_alive_after_run") is False and x.get("proxy_stop", {}).get("exit_code") != 0:
                out["crashes"].append(
                    {
                        "run": x["workdir"],
                        "exit_code": x.get("proxy_stop", {}).get("exit_code"),
                        "log_tail": x.get("proxy_log", {}).get("tail"),
                    }
                )
            if x.get("interference"):
                out.setdefault("outside_interference", []).append({"run": x["workdir"], "why": x["interference"]})
    out["host_cpu_busy_pct_median"] = statistics.median(busy) if busy else None
    if "cpu" in runs:
        c = runs["cpu"].get("cpu", {})
        out.update(
            cpu_us_per_call=c.get("us_per_call"),
            cpu_pct_of_core=c.get("pct_of_core_during_calls"),
            cpu_run_successful=c.get("successful_calls"),
            idle_cpu_pct_of_core=runs["cpu"].get("idle_cpu_pct_of_core"),
        )
    if "latency" in runs:
        w = runs["latency"].get("wire", {})
        out["invite_latency_wire_us"] = w.get("invite_forwarding_us")
        out["ok200_latency_wire_us"] = w.get("ok200_forwarding_us")
        st = runs["latency"].get("sipp_trace", {})
        out["invite_e2e_sipp_trace_us"] = st.get("invite_e2e_us")
        out["sipp_trace_stamp_error_us"] = {
            "uac_sent": st.get("uac_sent_stamp_minus_wire_us"),
            "uas_received": st.get("uas_received_stamp_minus_wire_us"),
        }
        out["latency_run_not_successful"] = runs["latency"]["uac"].get("not_successful")
    if "target" in runs:
        t = runs["target"]
        u = t["uac"]
        passed, why = judge(t)
        out["target"] = {
            "rate": t["rate"],
            "calls": t["calls"],
            "not_successful": u.get("not_successful"),
            "failure_reasons": u.get("failure_reasons"),
            "retransmissions": u.get("retransmissions"),
            "error_responses": u.get("final_errors_received"),
            "proxy_udp_drops": t.get("udp_rcvbuf_drops", {}).get("proxy"),
            "achieved_cps": u.get("achieved_cps"),
            "tail_s": _tail(u),
            "zero_failures": u.get("not_successful") == 0 and passed,
            "why_not": why,
        }
    if "tls" in runs:
        out["tls"] = tls_rounds(runs["tls"])
    if "ladder" in runs:
        lad = runs["ladder"]
        at = [s for s in lad["steps"] if s["rate"] == lad.get("cpu_rate", 500) and s["pass"]]
        out["ladder"] = {
            "max_sustained_cps": lad["max_sustained_cps"],
            "cpu_rate": lad.get("cpu_rate", 500),
            "cpu_us_per_call": at[-1].get("cpu", {}).get("us_per_call") if at else None,
            "redis_us_per_call": at[-1].get("cpu", {}).get("redis_us_per_call") if at else None,
            "first_failing_cps": lad["first_failing_cps"],
            "steps": [
                {
                    "rate": s["rate"],
                    "pass": s["pass"],
                    "why": s["why"],
                    "not_successful": s["uac"].get("not_successful"),
                    "error_responses": s["uac"].get("final_errors_received"),
                    "achieved_cps": s["uac"].get("achieved_cps"),
                    "proxy_cpu_pct": s.get("cpu", {}).get("pct_of_core_during_calls"),
                }
                for s in lad["steps"]
            ],
        }
    return out


def _spread(values: list[float | None]) -> dict[str, Any]:
    ok = [v for v in values if v is not None]
    if not ok:
        return {"median": None, "min": None, "max": None}
    return {"median": round(statistics.median(ok), 2), "min": min(ok), "max": max(ok)}


def tls_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of the TLS CPU run of one proxy: CPU per completed call per round, its median
    and spread, and what each round's socat connections negotiated."""
    us = [r.get("cpu", {}).get("us_per_call") for r in rounds]
    return {
        "rounds": len(rounds),
        "rate": rounds[0]["rate"] if rounds else None,
        "calls": rounds[0]["calls"] if rounds else None,
        "us_per_call": us,
        "us_per_call_spread": _spread(us),
        "redis_us_per_call": [r.get("cpu", {}).get("redis_us_per_call") for r in rounds],
        "not_successful": [r.get("uac", {}).get("not_successful") for r in rounds],
        "negotiated": sorted({c for r in rounds for c in r.get("tls", {}).get("negotiated", [])}),
    }


def tls_comparison(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Each antibot kind's CPU per call over TLS against Kamailio's, round by round (the two ran
    one after the other in the same round), with the median and spread of those ratios."""
    kam = summary.get("kamailio", {}).get("tls")
    if not kam:
        return None
    out: dict[str, Any] = {"target_ratio": TLS_TARGET_RATIO, "kamailio_us_per_call": kam["us_per_call_spread"]}
    for kind, x in summary.items():
        if kind == "kamailio" or not x.get("tls"):
            continue
        ratios = [
            round(a / k, 2) if a and k else None
            for a, k in zip(x["tls"]["us_per_call"], kam["us_per_call"], strict=False)
        ]
        spread = _spread(ratios)
        out[kind] = {
            "us_per_call": x["tls"]["us_per_call_spread"],
            "ratio_per_round": ratios,
            "ratio": spread,
            "target_met": spread["median"] is not None and spread["median"] <= TLS_TARGET_RATIO,
        }
    return out


def _tail(uac: dict[str, Any]) -> float | None:
    """Seconds between the moment the last call was due and the moment the last call ended."""
    if not uac.get("elapsed_s") or not uac.get("rate"):
        return None
    return round(float(uac["elapsed_s"]) - (uac["calls"] - 1) / uac["rate"], 2)
