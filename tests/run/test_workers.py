"""A node's workers (``--workers``): one per core by default, one "stopped" record for the node
that adds up the counters each worker hands its parent when it stops, and the standby process
that takes a dead worker's place."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from antibot.config import load
from antibot.run import Runtime
from antibot.run.workers import (
    FIELDS,
    NODE_FIELDS,
    READY,
    Supervisor,
    WorkerSpec,
    standby_main,
    sum_stats,
    worker_count,
)

from .test_runtime import free_port, settings


def test_one_worker_per_core_by_default_and_one_when_asked(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    assert worker_count(load(None, {"upstream": ["sip:127.0.0.1:9"]})) == cores
    assert worker_count(load(None, {"upstream": ["sip:127.0.0.1:9"], "workers": 1})) == 1
    # a WebSocket lives in one process: one per core then means one
    assert (
        worker_count(
            load(None, {"upstream": ["sip:127.0.0.1:9"], "listen": ["udp:127.0.0.1:5060", "ws:127.0.0.1:8088"]})
        )
        == 1
    )


def test_the_node_counters_are_the_sum_of_its_workers() -> None:
    parts = [{"requests": 3, "verdict_relay": 1}, {"requests": 2, "refused": 4}, {}]
    assert sum_stats(parts) == {"refused": 4, "requests": 5, "verdict_relay": 1}


def test_a_stopping_worker_sends_its_counters_to_the_parent(tmp_path: Path) -> None:
    """A worker Runtime that answered one OPTIONS sends counters counting it down its pipe."""
    recv, send = multiprocessing.Pipe(duplex=False)
    port = free_port()
    s = settings(tmp_path, port)
    worker = WorkerSpec(0, (free_port(),), None, send)

    async def run() -> None:
        rt = Runtime(s, worker)
        await rt.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            me = peer.getsockname()[1]
            peer.sendto(
                (
                    f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-w1\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\n"
                    "Call-ID: w1@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                ("127.0.0.1", port),
            )
            peer.setblocking(False)
            loop = asyncio.get_running_loop()
            answer = await asyncio.wait_for(loop.sock_recv(peer, 65535), 5.0)
        assert answer.startswith(b"SIP/2.0 200 ")
        await rt.stop()

    asyncio.run(run())
    assert recv.poll(5.0)
    stats = recv.recv()
    assert stats.get("requests", 0) >= 1, stats


def test_the_parent_collects_what_stopped_workers_sent_and_skips_a_killed_one(tmp_path: Path) -> None:
    sup = Supervisor(load(None, {"upstream": ["sip:127.0.0.1:9"], "workers": 3, "data_dir": str(tmp_path)}))
    pipes = [multiprocessing.Pipe(duplex=False) for _ in range(3)]
    sup.results = [r for r, _ in pipes]
    pipes[0][1].send({"requests": 2})
    pipes[2][1].send({"requests": 5, "refused": 1})
    pipes[1][1].close()  # killed: its pipe closed with nothing in it
    assert sum_stats(sup._collect()) == {"refused": 1, "requests": 7}


class _Child:
    """What the parent's nap reads of a worker process: its exit pipe and exit code."""

    def __init__(self) -> None:
        self.sentinel, self.write_end = os.pipe()
        self.exitcode: int | None = None

    def exit(self) -> None:
        self.exitcode = -9
        os.close(self.write_end)  # as a process's sentinel: readable (EOF) once it has exited


def test_the_parent_sleeps_until_a_worker_exits_or_it_is_stopped(tmp_path: Path, monkeypatch: Any) -> None:
    """No polling: the parent's nap lasts its whole idle check unless a worker's exit pipe or
    the stop event wakes it."""
    import antibot.run.workers as workers

    monkeypatch.setattr(workers, "IDLE_CHECK", 30.0)
    sup = Supervisor(load(None, {"upstream": ["sip:127.0.0.1:9"], "workers": 2, "data_dir": str(tmp_path)}))
    children = [_Child(), _Child()]
    sup.procs = list(children)
    spare = _Child()
    sup.standby = workers._Standby(proc=spare, cmd=None, results=None, ready=True)

    async def scenario() -> tuple[bool, bool, bool]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        nap = loop.create_task(sup._nap(stop))
        await asyncio.sleep(0.2)
        still_asleep = not nap.done()
        children[1].exit()
        await asyncio.wait_for(nap, 10.0)
        nap = loop.create_task(sup._nap(stop))  # the dead worker is no longer watched
        await asyncio.sleep(0.2)
        asleep_again = not nap.done()
        stop.set()
        await asyncio.wait_for(nap, 10.0)
        return still_asleep, asleep_again, nap.done()

    try:
        assert asyncio.run(scenario()) == (True, True, True)
    finally:
        for c in (*children, spare):
            os.close(c.sentinel)
            if c.exitcode is None:
                os.close(c.write_end)


def test_a_dead_standby_is_let_go_and_the_next_one_waits_for_the_node_to_settle(tmp_path: Path) -> None:
    import antibot.run.workers as workers

    sup = Supervisor(load(None, {"upstream": ["sip:127.0.0.1:9"], "workers": 1, "data_dir": str(tmp_path)}))
    ready = multiprocessing.Pipe(duplex=False)
    cmd = multiprocessing.Pipe(duplex=False)
    dead = _Child()
    dead.exit()
    sup.standby = workers._Standby(proc=dead, cmd=cmd[1], results=ready[0], ready=True)
    sup.status[0 * FIELDS + 2] = 1  # the one worker serves
    sup._standby_state()
    try:
        assert sup.standby is None
        assert sup.status[sup.n * FIELDS + 1] == 0  # no standby pid published
        assert not sup._settled()  # a replacement waits STABLE seconds, not a crash loop
    finally:
        os.close(dead.sentinel)
        ready[1].close()
        cmd[0].close()


def _options(port: int, me: int) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-s{me}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\n"
        f"Call-ID: s{me}@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_a_standby_told_its_index_becomes_that_worker(tmp_path: Path) -> None:
    """A standby process says it is ready, binds nothing until told, then serves as worker 0
    (own port, public port) and at SIGTERM hands its counters to the parent."""
    ctx = multiprocessing.get_context("spawn")
    port, own = free_port(), free_port()
    status = ctx.Array("q", FIELDS + NODE_FIELDS, lock=False)
    recv, send = ctx.Pipe(duplex=False)
    cmd_recv, cmd_send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=standby_main, args=(settings(tmp_path, port), (own,), status, send, cmd_recv))
    proc.start()
    send.close()
    cmd_recv.close()
    try:
        assert recv.poll(60.0) and recv.recv() == READY
        assert status[2] == 0  # not serving before it is told which worker to be
        cmd_send.send(0)
        deadline = time.monotonic() + 30.0
        while not status[2] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status[2] == 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(5.0)
            peer.sendto(_options(port, peer.getsockname()[1]), ("127.0.0.1", port))
            assert peer.recv(65535).startswith(b"SIP/2.0 200 ")
        os.kill(proc.pid or 0, signal.SIGTERM)
        proc.join(30.0)
        assert proc.exitcode == 0
        stats = recv.recv()
        assert stats.get("requests", 0) >= 1, stats
    finally:
        if proc.exitcode is None:
            proc.kill()
            proc.join(5.0)


def test_a_standby_whose_parent_lets_go_exits_without_serving(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    status = ctx.Array("q", FIELDS + NODE_FIELDS, lock=False)
    recv, send = ctx.Pipe(duplex=False)
    cmd_recv, cmd_send = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=standby_main, args=(settings(tmp_path, free_port()), (free_port(),), status, send, cmd_recv)
    )
    proc.start()
    send.close()
    cmd_recv.close()
    assert recv.poll(60.0) and recv.recv() == READY
    cmd_send.close()
    proc.join(30.0)
    assert proc.exitcode == 0 and status[2] == 0


_HANGS = """
import asyncio, signal
from antibot.run.runtime import dump_tasks
from antibot.run.workers import dump_stack_on_sigusr1
dump_stack_on_sigusr1()
async def stuck_while_starting():
    await asyncio.Event().wait()
async def main():
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump_tasks)
    print("hanging", flush=True)
    await stuck_while_starting()
asyncio.run(main())
"""


class _Hung:
    """A process that stands for a worker stuck while starting (what the parent reads of a
    worker: its pid and exit code), set up as :func:`worker_main` sets up a worker."""

    def __init__(self, stderr: Path) -> None:
        self.stderr = stderr
        with stderr.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", _HANGS], stdout=subprocess.PIPE, stderr=err)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == b"hanging\n"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def exitcode(self) -> int | None:
        return self.proc.poll()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5.0)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def test_a_worker_hung_while_starting_writes_its_stack_and_is_killed(tmp_path: Path, caplog: Any) -> None:
    """Not serving :data:`START_TIMEOUT` s after its start: the worker is hung (another that
    serves, or that started just now, is not); the parent has it write its Python stack to the
    log, then kills it, for the main loop to restart it."""
    import antibot.run.workers as workers

    sup = Supervisor(load(None, {"upstream": ["sip:127.0.0.1:9"], "workers": 3, "data_dir": str(tmp_path)}))
    children = [_Hung(tmp_path / f"stderr-{i}") for i in range(3)]
    try:
        sup.procs = list(children)
        now = time.monotonic()
        sup.started_at = [now - workers.START_TIMEOUT - 1, now - workers.START_TIMEOUT - 1, now - 1.0]
        sup.status[1 * FIELDS + 2] = 1  # worker 1 serves; worker 2 is young
        assert sup._hung(now) == [0]
        asyncio.run(sup._kill_hung(0))
        assert children[0].exitcode == -signal.SIGKILL
        dump = children[0].stderr.read_text()
        assert "in stuck_while_starting" in dump  # where its task waits (SIGUSR2)
        assert "most recent call first" in dump  # its thread's stack (SIGUSR1, faulthandler)
        assert children[1].exitcode is None and children[2].exitcode is None
        assert any("start timeout" in r.getMessage() for r in caplog.records)
    finally:
        for child in children:
            child.close()


def test_the_node_starts_again_a_worker_hung_at_start_and_gives_up_after_three(tmp_path: Path) -> None:
    import antibot.run.workers as workers

    def node(serves_after: int) -> tuple[bool, int]:
        sup = Supervisor(load(None, {"upstream": ["sip:127.0.0.1:9"], "workers": 1, "data_dir": str(tmp_path)}))
        started: list[_Hung] = []

        def spawn(s: Any, spec: WorkerSpec) -> None:
            started.append(_Hung(tmp_path / f"stderr-{serves_after}-{len(started)}"))
            sup.procs[0] = started[-1]
            sup.started_at[0] = time.monotonic() - workers.START_TIMEOUT  # hung at once ...
            sup.status[2] = int(len(started) > serves_after)  # ... until this start serves

        sup._spawn = spawn  # type: ignore[method-assign]
        try:
            spawn(sup.settings, WorkerSpec(0, (0,)))
            ok = asyncio.run(sup._wait_ready(asyncio.Event(), sup.settings, [WorkerSpec(0, (0,))]))
            return ok, sum(child.exitcode == -signal.SIGKILL for child in started)
        finally:
            for child in started:
                child.close()

    assert node(serves_after=1) == (True, 1)  # the second start serves
    assert node(serves_after=99) == (False, workers.START_ATTEMPTS)
