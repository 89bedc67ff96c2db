"""A node's /metrics: each worker's published totals, added to the API worker's live ones."""

from __future__ import annotations

import json
from pathlib import Path

from antibot.run.node_metrics import NodeMetrics, add, clear, from_doc, metrics_dir, read, to_doc
from api.metrics import ApiMetrics, HistogramSample, MetricsSnapshot, render


def snap(relay: int, requests: int = 0, errors: int = 0, latency: tuple[int, int] = (0, 0)) -> MetricsSnapshot:
    fast, slow = latency
    hist = HistogramSample(((0.001, fast), (0.01, fast + slow)), fast + slow, 0.0005 * fast + 0.005 * slow)
    return MetricsSnapshot({"requests": requests}, {"relay": relay}, hist, redis_errors=errors, internal_errors=errors)


def test_add_sums_every_counter_and_the_histogram_bucket_by_bucket() -> None:
    a = snap(2, requests=10, errors=1, latency=(3, 1))
    b = MetricsSnapshot({"requests": 5, "refused": 1}, {"relay": 1, "reject": 4}, None, calllog_dropped=7)
    c = snap(0, latency=(0, 2))
    total = add([a, b, c])
    assert total.sip_messages == {"requests": 15, "refused": 1}
    assert total.verdicts == {"relay": 3, "reject": 4}
    assert (total.redis_errors, total.internal_errors, total.calllog_dropped) == (1, 1, 7)
    assert total.decision_latency == HistogramSample(((0.001, 3), (0.01, 6)), 6, 0.0015 + 0.015)
    assert add([b]).decision_latency is None


def test_a_snapshot_survives_json_and_garbage_is_not_one(tmp_path: Path) -> None:
    s = snap(3, requests=4, errors=2, latency=(1, 1))
    assert from_doc(json.loads(json.dumps(to_doc(s)))) == s
    (tmp_path / "half.json").write_text('{"sip_messages": {"requests": ')
    (tmp_path / "list.json").write_text("[1, 2]")
    assert read(tmp_path / "half.json") is None
    assert read(tmp_path / "list.json") is None
    assert read(tmp_path / "missing.json") is None


def test_the_api_worker_adds_the_others_latest_totals(tmp_path: Path) -> None:
    d = metrics_dir(tmp_path)
    api, w1, w2 = (NodeMetrics(d, i, 3) for i in range(3))
    w1.publish(snap(4, requests=8, latency=(2, 0)))
    assert api.node(snap(1, requests=2, latency=(0, 1))).verdicts == {"relay": 5}  # worker 2 wrote nothing yet
    w1.publish(snap(6, requests=12, latency=(3, 0)))  # the newer file replaces the older
    w2.publish(snap(2, requests=3))
    node = api.node(snap(1, requests=2, latency=(0, 1)))
    assert node.verdicts == {"relay": 9}
    assert node.sip_messages == {"requests": 17}
    assert node.decision_latency is not None and node.decision_latency.count == 4
    assert sorted(p.name for p in d.iterdir()) == ["worker-1.json", "worker-2.json"]  # no temporary file left
    text = render(ApiMetrics(), node, None).decode()
    assert 'antibot_verdicts_total{action="relay"} 9.0' in text


def test_a_restarted_worker_starts_from_its_predecessors_totals(tmp_path: Path) -> None:
    """Worker 1 dies after publishing 5 relayed calls; its successor relays 2 more: the node
    counts 5 + 2, never less than before the death. The API worker's successor does the same."""
    d = metrics_dir(tmp_path)
    api = NodeMetrics(d, 0, 2)
    NodeMetrics(d, 1, 2).publish(snap(5, requests=9))
    before = api.node(snap(1)).verdicts["relay"]
    successor = NodeMetrics(d, 1, 2)  # same index, a new process: its counters start at 0
    assert api.node(snap(1)).verdicts["relay"] == before == 6  # until it publishes, the old file counts
    successor.publish(snap(0))
    assert api.node(snap(1)).verdicts["relay"] == 6
    successor.publish(snap(2, requests=1))
    assert api.node(snap(1)).verdicts == {"relay": 8}
    assert api.node(snap(1)).sip_messages == {"requests": 10}
    # The API worker itself restarts: its last published totals carry over too.
    api.publish(snap(3))
    new_api = NodeMetrics(d, 0, 2)
    assert new_api.node(snap(0)).verdicts == {"relay": 10}
    assert new_api.node(snap(1)).verdicts == {"relay": 11}


def test_the_parent_clears_a_previous_runs_files(tmp_path: Path) -> None:
    d = metrics_dir(tmp_path)
    NodeMetrics(d, 1, 2).publish(snap(5))
    (d / "worker-1.json.tmp").write_text("{")
    clear(d)
    assert list(d.iterdir()) == []
    assert NodeMetrics(d, 0, 2).node(snap(1)).verdicts == {"relay": 1}
    clear(tmp_path / "never-made")  # nothing to clear: no error
