"""The short fault bench (bench/faults.py --short) on a few scenarios: its targets, not its timings.

Each scenario runs legitimate calls at 20 calls/s through the proxy (detection on, enforce mode)
while an attacker or a fault is at work, and checks what the bench checks: the share of calls
completed, 503 with Retry-After, recovery of /readyz and the counters, the exit code.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from faultlib import faults, memory, net  # noqa: E402
from faultlib.common import SHORT  # noqa: E402
from faultlib.rig import Result  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture
def work() -> Iterator[Path]:
    """A short directory: the embedded Redis's unix socket path must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="faults-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _assert_met(results: list[Result], names: set[str]) -> None:
    assert {r.name for r in results} == names
    for r in results:
        missed = [what for what, ok in r.checks if not ok]
        assert r.checks and not missed, f"{r.name}: missed {missed}; {r.placed}/{r.completed}/{r.failed}, {r.figures}"


def test_garbled_sip_flood_from_other_addresses_leaves_legit_calls_alone(work: Path) -> None:
    _assert_met(net.udp_floods(work, SHORT, "udp-garbled"), {"udp-garbled"})


def test_slowloris_connections_are_closed_and_calls_go_on(work: Path) -> None:
    _assert_met(net.tcp_abuse(work, SHORT, "tcp-slowloris"), {"tcp-slowloris"})


def test_external_redis_stopped_loses_no_call_and_recovers(work: Path) -> None:
    results = faults.redis_faults(work, SHORT, "redis-stop")
    _assert_met(results, {"redis-stop"})
    assert results[0].figures["INVITEs marked store-unavailable"] > 0


def test_both_pbxs_down_callers_get_503_with_retry_after(work: Path) -> None:
    _assert_met(faults.pbx_faults(work, SHORT, "pbx-both-down"), {"pbx-both-down"})


def test_sigterm_exits_0_and_refuses_new_calls(work: Path) -> None:
    results = memory.shutdown(work, SHORT, "shutdown-drain")
    r = results[0]
    assert r.figures.get("exit code") == 0, r.figures
    assert ("exit code 0", True) in r.checks and (
        "new INVITEs during the drain get 503 with Retry-After",
        True,
    ) in r.checks, r.checks
