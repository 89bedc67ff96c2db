"""Real attack tools, SIPVicious 0.3.8 from PyPI, against the proxy (detection on, enforce mode,
shipped model) in front of a PBX that answers as a real one (scenarios/uas_pbx.xml).

Each tool runs twice: from a fresh loopback address, and from an address that carried ordinary
office calls just before (and carries more just after). The targets:

* a sweep (svwar, 200 extensions with INVITE) gets at most 5 INVITEs to the PBX, whatever its
  User-Agent and its address's history; ``suspect`` counts as reaching;
* a single svmap probe (5 of 200 rounds to none) and svcrack's REGISTERs likewise;
* every ordinary call on the shared address still passes (relayed with ``X-Antibot-Verdict: pass``).

The figures are in the assertion messages; bench/realtools.py prints them as a table. The shared
address carries 30 + 10 calls here (2 calls/s, an office's busy minute, each held as people's
calls are: median 12 s; about 52 s a case); ``ANTIBOT_REALTOOLS_FULL=1`` runs the 80 + 20 of the
target (as bench/realtools.py does: 100 of 100 pass).
"""

from __future__ import annotations

import os

import pytest

from .harness import Harness
from .realtools import SPOOFED_UA, SWEEP_SIZE, Case, Outcome, failure_report, run_case

pytestmark = pytest.mark.e2e

FULL = os.environ.get("ANTIBOT_REALTOOLS_FULL") == "1"
BEFORE, AFTER = (80, 20) if FULL else (30, 10)
#: At most this many of a sweep's requests may reach the PBX (pass or suspect).
MAX_REACHED = 5


def case(tool: str, ua: str | None, shared: bool, source: str) -> Case:
    return Case(tool, ua, shared, source, legit_before=BEFORE, legit_after=AFTER, legit_rate=2.0)


def check(outcome: Outcome, *, sent: int | None, max_reached: int) -> None:
    why = failure_report(outcome)
    if sent is None:
        assert outcome.sent >= 1, why
    else:
        assert outcome.sent == sent, why  # the tool ran its whole course
    assert outcome.reached_total <= max_reached, why
    if outcome.case.shared:
        assert outcome.legit_answered == outcome.legit_placed, why
        assert outcome.legit_pass == outcome.legit_placed, why


CASES = [
    pytest.param("svmap", None, False, "127.0.0.3", id="svmap-fresh"),
    pytest.param("svmap", None, True, "127.0.0.4", id="svmap-shared"),
    pytest.param("svwar", None, False, "127.0.0.5", id="svwar-fresh"),
    pytest.param("svwar", None, True, "127.0.0.6", id="svwar-shared"),
    pytest.param("svwar", SPOOFED_UA, False, "127.0.0.7", id="svwar-zoiper-fresh"),
    pytest.param("svwar", SPOOFED_UA, True, "127.0.0.8", id="svwar-zoiper-shared"),
    pytest.param("svcrack", None, False, "127.0.0.9", id="svcrack-fresh"),
    pytest.param("svcrack", None, True, "127.0.0.10", id="svcrack-shared"),
]


@pytest.mark.parametrize(("tool", "ua", "shared", "source"), CASES)
def test_real_tool_is_stopped_and_the_office_still_calls(
    e2e: Harness, tool: str, ua: str | None, shared: bool, source: str
) -> None:
    outcome = run_case(e2e, case(tool, ua, shared, source))
    if tool == "svwar":
        check(outcome, sent=SWEEP_SIZE + 1, max_reached=MAX_REACHED)  # + its probe of a random extension
    elif tool == "svmap":
        check(outcome, sent=1, max_reached=0)
    else:
        check(outcome, sent=None, max_reached=MAX_REACHED)
