"""Decision latency: the runner times every call of the decision hook, whichever hook it is
and whether or not an admin API exports it."""

from __future__ import annotations

import asyncio

from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr
from antibot.sip.message import Request
from antibot.transport.latency import LatencyHistogram
from antibot.transport.loop import ProxyRunner

from ..proxy.conftest import CALLER, invite, make_core


def test_latency_histogram() -> None:
    h = LatencyHistogram((0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.002, 0.5):
        h.observe(seconds)
    buckets, count, total = h.sample()
    assert buckets == ((0.001, 2), (0.01, 3)) and count == 4  # le: upper bounds inclusive
    assert abs(total - 0.5035) < 1e-9


def test_the_runner_times_every_decision_even_a_failed_one() -> None:
    seen: list[str] = []

    def hook(req: Request, source: Addr, now: float) -> Verdict:
        seen.append(source.host)
        if req.call_id == "boom":
            raise RuntimeError("a bug in the hook")
        return Verdict(Action.REJECT, status=603)

    async def run() -> tuple[int, int]:
        runner = ProxyRunner(make_core(), hook)
        try:
            runner._on_datagram(invite(call_id="c1", branch="z9hG4bK-1"), CALLER)
            runner._on_datagram(invite(call_id="boom", branch="z9hG4bK-2"), CALLER)
            return runner.latency.sample()[1], runner.core.stats.get("internal_error", 0)
        finally:
            runner.close()

    count, failed = asyncio.run(run())
    assert seen == ["192.0.2.10", "192.0.2.10"]  # the hook gets the typed source address
    assert count == 2 and failed == 1
