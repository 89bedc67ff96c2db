"""Fixtures for the e2e tests: a :class:`Harness` per test, failure dumps of every log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Harness
from .procs import Processes

PROCS = pytest.StashKey[Processes]()


@pytest.fixture
def e2e(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Start the proxy and sipp peers through this; they are stopped (TERM, then KILL) at teardown."""
    procs = Processes()
    request.node.stash[PROCS] = procs
    try:
        yield Harness(procs, tmp_path)
    finally:
        procs.stop_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, stop the processes (so logs are complete) and attach the proxy log and sipp logs."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    procs = item.stash.get(PROCS, None)
    if procs is None or not report.failed or report.when not in ("setup", "call"):
        return
    procs.stop_all()
    for title, text in procs.dump():
        report.sections.append((f"e2e: {title}", text))
