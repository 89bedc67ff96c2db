"""The shared-address table counts bots and people on one address, per flow after a warm-up."""

from __future__ import annotations

import numpy as np

from antibot.detect.features import FEATURE_NAMES
from antibot.proxy.decision import Action
from antibot.sim.plans import SHARED_OFFICE
from antibot.train.dataset import Dataset, RowFacts
from antibot.train.shared import WARMUP, shared_markdown, shared_sources, shared_table


def _rows(spec: list[tuple[str, str, int, str]]) -> Dataset:
    """Rows ``(source, fingerprint, label, profile)`` one second apart."""
    n = len(spec)
    return Dataset(
        np.zeros((n, len(FEATURE_NAMES))),
        np.asarray([y for _, _, y, _ in spec], dtype=np.int64),
        np.asarray(["x"] * n),
        np.asarray([p for _, _, _, p in spec]),
        np.arange(n, dtype=np.float64),
        np.ones(n),
        [RowFacts(src, "", "", "", fp) for src, fp, _, _ in spec],
    )


def test_only_addresses_with_both_labels_count_and_flows_warm_up_separately() -> None:
    people = [(SHARED_OFFICE, "phone", 0, "office_pbx")] * 20
    bots = [(SHARED_OFFICE, "scan", 1, "scanner_sweep")] * (WARMUP + 10)
    alone = [("198.51.100.9", "scan", 1, "scanner_sweep")] * 5  # a bot-only address: not shared
    ds = _rows(people + bots + alone)
    assert shared_sources(ds) == {SHARED_OFFICE}
    # the people all pass but one; the bots are flagged only from their 16th call on
    acts: list[Action | None] = [Action.RELAY] * 19 + [Action.SUSPECT]
    acts += [Action.RELAY] * 15 + [Action.REJECT] * 5 + [Action.REJECT] * 5
    table = {r["profile"]: r for r in shared_table(ds, {"shipped": acts, "held_out": [None] * len(ds)})}
    assert set(table) == {"office_pbx", "scanner_sweep"}
    office, scan = table["office_pbx"], table["scanner_sweep"]
    assert office["place"] == "office NAT" and office["rows"] == 20
    assert office["shipped"]["flagged"] == 1 / 20 and office["shipped"]["flagged_after_warmup"] is None
    assert scan["rows"] == WARMUP + 10 and scan["shipped"]["flagged"] == 5 / 20
    assert scan["shipped"]["rows_after_warmup"] == 10 and scan["shipped"]["flagged_after_warmup"] == 5 / 10
    assert scan["held_out"]["rows"] == 0 and scan["held_out"]["flagged"] is None  # not decided: n/a, not 0
    text = "\n".join(shared_markdown(list(table.values()), {"shipped": "shipped", "held_out": "held out"}))
    assert "| office NAT | scanner_sweep | 1 | 20 | 25.00% | 50.00% | n/a | n/a |" in text
    assert "| office NAT | office_pbx | 0 | 20 | 5.00% | – | n/a | – |" in text
