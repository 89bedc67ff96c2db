"""Bots and people on one address: ordinary calls, then a campaign from the same address.

Real sipp callers (scenarios/uac_inject.xml: a Yealink desk-phone layout, each call's caller and
callee from an injection file) through the proxy with its shipped model, embedded Redis and
default policy, to a sipp PBX. All from 127.0.0.1, so the campaign shares the ordinary calls'
source address; only its flow (User-Agent fingerprint) differs. The address's history must not
shelter the campaign, and the campaign must not taint the ordinary calls.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from .harness import Harness
from .peers import Proxy, Sipp, sipp_failure

pytestmark = pytest.mark.e2e

DESK = "Yealink SIP-T46S 66.86.0.15"


def _inject(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("SEQUENTIAL\n" + "".join(f"{frm};{to};\n" for frm, to in rows))
    return path


def _ordinary(n: int, seed: int) -> list[tuple[str, str]]:
    """Five office lines calling outside numbers all over London and a few colleagues."""
    rng = random.Random(seed)
    areas = ("20", "161", "121", "113", "131", "141", "117", "118", "114", "115", "1223", "1865")
    rows = []
    for _ in range(n):
        area = rng.choice(areas)
        outside = f"0{area}{rng.randrange(10 ** (9 - len(area)), 10 ** (10 - len(area)))}"
        rows.append((f"100{rng.randrange(1, 6)}", str(rng.randrange(100, 106)) if rng.random() < 0.2 else outside))
    return rows


def _run(e2e: Harness, proxy: Proxy, label: str, ua: str, rows: list[tuple[str, str]], rate: float) -> Sipp:
    inf = _inject(e2e.tmp / f"{label}.csv", rows)
    return e2e.uac(
        "uac_inject.xml",
        proxy,
        label=label,
        calls=len(rows),
        rate=rate,
        extra=["-key", "ua", ua, "-inf", str(inf)],
    )


def _verdicts(uas: Sipp, ua: str) -> list[str]:
    """The X-Antibot-Verdict of each INVITE with User-Agent ``ua`` that reached the PBX."""
    out = []
    for invite in uas.received("INVITE "):
        if re.search(rf"^User-Agent: {re.escape(ua)}\s*$", invite, re.M):
            found = re.search(r"^X-Antibot-Verdict: (\S+)", invite, re.M)
            out.append(found.group(1) if found else "?")
    return out


def _rejected(uac: Sipp) -> int:
    return uac.count("603_Recv") + uac.count("403_Recv") + uac.count("404_Recv")


#: Each scenario runs once; its tests read the figures (an ordinary-calls assertion fails alone).
_RUNS: dict[str, dict[str, list[str] | int]] = {}


def _sweep_run(e2e: Harness) -> dict[str, list[str] | int]:
    """60 ordinary calls (5/s), then extensions 400-599 in order with Zoiper's User-Agent (50/s)."""
    if "sweep" not in _RUNS:
        uas = e2e.uas("uas_answer.xml")
        proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--detect"])
        office = _run(e2e, proxy, "office", DESK, _ordinary(60, 5), rate=5)
        sweep = _run(e2e, proxy, "sweep", ZOIPER, [("400", str(ext)) for ext in range(400, 600)], rate=50)
        assert office.stat("SuccessfulCall(C)") == 60, sipp_failure(office, sweep, uas)
        _RUNS["sweep"] = {
            "office": _verdicts(uas, DESK),
            "reached": _verdicts(uas, ZOIPER),
            "rejected": _rejected(sweep),
        }
    return _RUNS["sweep"]


def _robodialer_run(e2e: Harness) -> dict[str, list[str] | int]:
    """150 ordinary calls (30/s), then 150 robocalls at 10/s: sequential callees, neighbour-spoofed
    caller IDs, one PBX User-Agent."""
    if "robodialer" not in _RUNS:
        uas = e2e.uas("uas_answer.xml")
        proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--detect"])
        office = _run(e2e, proxy, "office", DESK, _ordinary(150, 9), rate=30)
        rng = random.Random(3)
        rows = [(f"1650555{rng.randrange(10**4):04d}", f"1650555{1200 + k:04d}") for k in range(150)]
        dialer = _run(e2e, proxy, "robodialer", ROBO, rows, rate=10)
        assert office.stat("SuccessfulCall(C)") == 150, sipp_failure(office, dialer, uas)
        _RUNS["robodialer"] = {
            "office": _verdicts(uas, DESK),
            "reached": _verdicts(uas, ROBO),
            "rejected": _rejected(dialer),
        }
    return _RUNS["robodialer"]


ZOIPER = "Zoiper rv2.10.20.2"
ROBO = "Asterisk PBX 18.9.0"


def test_a_softphone_sweep_after_ordinary_calls_from_its_address_reaches_the_pbx_at_most_5_times(
    e2e: Harness,
) -> None:
    """At most 5 of the 200 sweep INVITEs reach the PBX, suspect counting as reaching
    (before: all 201 of such a sweep did)."""
    run = _sweep_run(e2e)
    reached = run["reached"]
    assert isinstance(reached, list)
    assert len(reached) + int(run["rejected"]) == 200, run  # type: ignore[arg-type]
    assert len(reached) <= 5, run


def test_the_ordinary_calls_before_a_sweep_all_pass(e2e: Harness) -> None:
    office = _sweep_run(e2e)["office"]
    # every call completed (checked in the run); sipp's message log may miss an INVITE under load
    assert isinstance(office, list) and len(office) >= 57 and set(office) == {"pass"}, office


def test_a_robodialer_on_a_shared_trunk_is_flagged_after_its_first_10_calls(e2e: Harness) -> None:
    """Flagged (suspect or rejected) on at least 95 % of its calls after its first 10 (before:
    109 of 150 relayed as pass, score-isolated, sheltered by the address's legitimate calls)."""
    run = _robodialer_run(e2e)
    reached = run["reached"]
    assert isinstance(reached, list)
    assert len(reached) + int(run["rejected"]) == 150, run  # type: ignore[arg-type]
    passed_late = max(0, reached.count("pass") - 10)  # rejected calls never reach the PBX
    assert passed_late <= 0.05 * 140, run


def test_the_ordinary_calls_sharing_the_trunk_are_never_flagged(e2e: Harness) -> None:
    office = _robodialer_run(e2e)["office"]
    # every call completed (checked in the run); sipp's message log may miss an INVITE under load
    assert isinstance(office, list) and len(office) >= 142 and set(office) == {"pass"}, office
