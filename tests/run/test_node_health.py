"""The verdict "every upstream dead" shared by a node's workers: one slot each in a shared array,
written by its worker, read by all (in another process too), wired into each worker's pool."""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from antibot.run.node_health import HEALTH_FIELDS, SharedVerdicts, make_health
from antibot.run.proxy import build_core
from antibot.run.workers import WorkerSpec

from .test_runtime import free_port, settings

CTX = multiprocessing.get_context("spawn")


def test_a_workers_verdict_is_read_by_every_worker() -> None:
    array = make_health(CTX, 2)
    assert len(array) == 2 * HEALTH_FIELDS
    w0, w1 = SharedVerdicts(array, 0, 2), SharedVerdicts(array, 1, 2)
    assert list(w1.verdicts()) == [(0.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    w0.publish_dead(100.0, 110.0)
    assert list(w1.verdicts()) == [(100.0, 110.0, 0.0), (0.0, 0.0, 0.0)]


def test_alive_clears_the_own_verdict_and_is_read_by_every_worker() -> None:
    array = make_health(CTX, 2)
    w0, w1 = SharedVerdicts(array, 0, 2), SharedVerdicts(array, 1, 2)
    w0.publish_dead(100.0, 110.0)
    w1.publish_dead(101.0, 111.0)
    w1.publish_alive(102.0)
    assert list(w0.verdicts()) == [(100.0, 110.0, 0.0), (101.0, 0.0, 102.0)]
    w1.publish_alive(101.5)  # never back in time
    assert list(w0.verdicts())[1][2] == 102.0


def test_an_index_outside_the_array_is_refused() -> None:
    with pytest.raises(ValueError):
        SharedVerdicts(make_health(CTX, 2), 2, 2)
    with pytest.raises(ValueError):
        SharedVerdicts(make_health(CTX, 1), 1, 2)


def _conclude(array: Any) -> None:
    SharedVerdicts(array, 1, 2).publish_dead(200.0, 210.0)


def test_a_verdict_written_in_another_process_is_read_here() -> None:
    array = make_health(CTX, 2)
    proc = CTX.Process(target=_conclude, args=(array,))
    proc.start()
    proc.join(60.0)
    assert proc.exitcode == 0
    assert list(SharedVerdicts(array, 0, 2).verdicts())[1] == (200.0, 210.0, 0.0)


def test_a_workers_pool_shares_the_nodes_array(tmp_path: Path) -> None:
    array = make_health(CTX, 2)
    SharedVerdicts(array, 1, 2).publish_dead(500.0, 510.0)  # worker 1 concluded: every PBX dead
    s = settings(tmp_path, free_port())
    pool = build_core(s, WorkerSpec(0, (free_port(), free_port()), health=array)).pool
    assert pool.node is not None and pool.all_dead(505.0)  # so worker 0 fails fast too
    assert not pool.all_dead(510.0)
    pool.heard(pool.targets[0], 506.0)  # worker 0 hears a PBX: the node's verdict is void
    assert array[2] == 506.0 and not pool.all_dead(507.0)
    assert build_core(s, None).pool.node is None  # one process alone: its own health only


class _Captured:
    """Stands in for a worker process: keeps what it would have been started with."""

    started: list[tuple[Any, ...]] = []

    def __init__(self, target: Any, args: tuple[Any, ...], name: str) -> None:
        self.args = args
        self.pid = 0

    def start(self) -> None:
        _Captured.started.append(self.args)


def test_the_parent_hands_every_worker_and_the_standby_the_same_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from antibot.run.workers import Supervisor

    s = dataclasses.replace(settings(tmp_path, free_port()), workers=2)
    sup = Supervisor(s)
    assert len(sup.health) == sup.n * HEALTH_FIELDS
    monkeypatch.setattr(sup.ctx, "Process", _Captured)
    _Captured.started = []
    ports = (free_port(), free_port())
    sup._spawn(s, WorkerSpec(0, ports))
    sup._spawn_standby(s, ports)
    worker_spec = _Captured.started[0][1]
    assert isinstance(worker_spec, WorkerSpec) and worker_spec.health is sup.health
    assert _Captured.started[1][-1] is sup.health
    sup.results[0].close()
    assert sup.standby is not None
    sup.standby.results.close()
    sup._drop_standby()
