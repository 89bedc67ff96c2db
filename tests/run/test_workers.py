"""A node's workers (``--workers``): one per core by default, and one "stopped" record for the
node that adds up the counters each worker hands its parent when it stops."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
from pathlib import Path

from antibot.config import load
from antibot.run import Runtime
from antibot.run.workers import Supervisor, WorkerSpec, sum_stats, worker_count

from .test_runtime import free_port, settings


def test_one_worker_per_core_by_default_and_one_when_asked(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    assert worker_count(load(None, {"upstream": ["sip:127.0.0.1:9"]})) == cores
    assert worker_count(load(None, {"upstream": ["sip:127.0.0.1:9"], "workers": 1})) == 1


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
