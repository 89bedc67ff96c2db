"""The core each process of a node builds from the settings (``antibot.run.proxy``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from antibot.run.proxy import build_core
from antibot.run.workers import WorkerSpec

from .test_runtime import free_port, settings


def test_the_flood_limit_holds_for_the_node_not_per_worker(tmp_path: Path) -> None:
    """Spread by transaction, a source's REGISTERs go to every worker: each holds its share of the
    rate and burst, so the node lets the configured burst through, not one per worker."""
    s = dataclasses.replace(settings(tmp_path, free_port()), detect=True)  # the limit comes with detection
    assert build_core(dataclasses.replace(s, detect=False), None).config.flood is None
    alone = build_core(s, None).config.flood
    assert alone is not None and (alone.rate, alone.burst) == (s.flood_rate, s.flood_burst)
    ports = (free_port(), free_port())
    by_address = build_core(s, WorkerSpec(0, ports)).config.flood  # a source stays on one worker
    assert by_address is not None and by_address.rate == s.flood_rate
    s = dataclasses.replace(s, udp_spread="transaction")
    buckets = [build_core(s, WorkerSpec(i, ports)).config.flood for i in range(2)]
    assert all(b is not None and b.rate == s.flood_rate / 2 for b in buckets)
    allowed = sum(b.allow("203.0.113.9", 100.0) for n in range(100) if (b := buckets[n % 2]) is not None)
    assert allowed == s.flood_burst  # about half of them on each worker, as steering spreads them
