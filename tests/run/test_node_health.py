"""The verdict "every upstream dead" shared by a node's workers: one slot each in a shared array,
written by its worker, read by all (in another process too), wired into each worker's pool."""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from antibot.config import load
from antibot.proxy.effects import Addr
from antibot.proxy.upstreams import Upstream, UpstreamPool, node_dead
from antibot.run.node_health import HEALTH_FIELDS, SharedVerdicts, health_size, make_health
from antibot.run.proxy import build_core
from antibot.run.workers import WorkerSpec

from .test_runtime import free_port, settings

CTX = multiprocessing.get_context("spawn")
TWO = ["sip:127.0.0.1:9", "sip:127.0.0.1:10;priority=2"]


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


def _pools(array: Any, workers: int = 2) -> list[UpstreamPool]:
    """Each worker's pool of the same two PBXs, sharing ``array``."""
    return [
        UpstreamPool(
            [
                Upstream("sip:pbx1", Addr("udp", "127.0.0.1", 5080)),
                Upstream("sip:pbx2", Addr("udp", "127.0.0.1", 5090), priority=2),
            ],
            probe_interval=30.0,
            down_hold=10.0,
            node=SharedVerdicts(array, i, workers, 2),
        )
        for i in range(workers)
    ]


def test_a_target_one_worker_marks_down_is_skipped_by_the_others_until_its_hold_ends() -> None:
    a, b = _pools(make_health(CTX, 2, 2))
    assert a.shared and b.shared
    assert [t.uri for t in b.candidates("call-1", 100.0)] == ["sip:pbx1", "sip:pbx2"]
    assert a.mark_failed(a.targets[0], 100.0, "timeout") == "down"  # worker A's call timed out on PBX 1
    assert not b.usable(b.targets[0], 101.0)  # worker B never tried it: it skips it all the same
    assert [t.uri for t in b.candidates("call-2", 101.0)] == ["sip:pbx2"]
    # B's timeout on PBX 2, now the node's last usable target, is no proof that it is dead
    assert b.mark_failed(b.targets[1], 102.0, "timeout") == "kept"
    assert b.usable(b.targets[0], 110.0) and a.usable(a.targets[0], 110.0)  # half-open after the hold


def test_a_target_heard_alive_by_any_worker_voids_the_marks_made_before() -> None:
    a, b = _pools(make_health(CTX, 2, 2))
    a.mark_failed(a.targets[0], 100.0, "503")
    b.heard(b.targets[0], 100.0)  # a tie counts as alive
    assert b.usable(b.targets[0], 100.5)
    assert a.usable(a.targets[0], 100.5)  # down in A's own pool, but B heard it since
    a.mark_failed(a.targets[0], 101.0, "503")  # a new mark, after the last "alive"
    assert not b.usable(b.targets[0], 101.5)
    b.probe_done(b.targets[0], True, 102.0)  # B's probe: alive again
    assert a.usable(a.targets[0], 102.5) and b.usable(b.targets[0], 102.5)
    assert b.usable(b.targets[1], 102.5)  # PBX 2 was never marked


def test_marks_are_held_while_their_hold_lasts_and_no_alive_came_after() -> None:
    assert node_dead([(100.0, 110.0, 0.0), (0.0, 0.0, 0.0)], 105.0)
    assert not node_dead([(100.0, 110.0, 0.0), (0.0, 0.0, 0.0)], 110.0)
    assert not node_dead([(100.0, 110.0, 0.0), (0.0, 0.0, 100.0)], 105.0)
    assert node_dead([(100.0, 110.0, 99.0), (101.0, 111.0, 0.0)], 105.0)
    assert not node_dead([(0.0, 0.0, 0.0)] * 2, 1.0)


def test_one_pbx_or_an_array_without_room_for_the_targets_shares_no_marks(tmp_path: Path) -> None:
    array = make_health(CTX, 2, 2)
    one = UpstreamPool([Upstream("sip:pbx1", Addr("udp", "127.0.0.1", 5080))], node=SharedVerdicts(array, 0, 2, 2))
    assert not one.shared  # one PBX is tried whatever its health: nothing to share
    s = dataclasses.replace(settings(tmp_path, free_port()), upstreams=load(None, {"upstream": TWO}).upstreams)
    small = make_health(CTX, 2, 1)  # made for one target: the pool keeps its marks to itself
    pool = build_core(s, WorkerSpec(0, (free_port(), free_port()), health=small)).pool
    assert pool.node is not None and not pool.shared
    assert pool.mark_failed(pool.targets[0], 100.0, "503") == "down" and not pool.usable(pool.targets[0], 101.0)
    full = build_core(s, WorkerSpec(0, (free_port(), free_port()), health=make_health(CTX, 2, 2))).pool
    assert full.shared


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
    assert len(sup.health) == health_size(sup.n, len(s.upstreams))
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
