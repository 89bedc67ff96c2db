"""Proxy kinds and the CPU accounting of a whole process tree (bench/benchlib/procs.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchlib import procs

BURN = 0.3  # CPU seconds each burner process spends
TICK = 2 / procs.CLK_TCK  # /proc counts in clock ticks: allow a tick of rounding either way

# The root forks: a child renamed "burner" (it burns, then forks a grandchild that burns too), a
# plain child that burns, and a child that burns and exits (reaped: it lands in the root's cutime).
TREE = f"""
import os, sys, time
def burn():
    while time.process_time() < {BURN}:
        pass
def child(name, grandchild):
    if name:
        with open("/proc/self/comm", "w") as f:
            f.write(name)
    if grandchild and os.fork() == 0:
        burn(); print("grandchild", flush=True); sys.stdin.read(); os._exit(0)
    burn(); print("child", flush=True); sys.stdin.read(); os._exit(0)
for name, grandchild in (("burner", True), ("", False)):
    if os.fork() == 0:
        child(name, grandchild)
if os.fork() == 0:
    burn(); os._exit(0)
os.wait()
print("reaped", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # every process of the tree reads stdin to its end, then exits
        proc.wait(10)


def _burnt(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Wait until the four burners are done: the tree's CPU reaches theirs, four processes left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs.tree_cpu_seconds(proc.pid) >= 4 * BURN - 4 * TICK and len(procs.descendants(proc.pid)) == 4:
            time.sleep(0.2)  # the last tick of the last burner
            return
        time.sleep(0.1)
    raise AssertionError(f"the tree did not burn its CPU in {timeout:g} s: {procs.tree_cpu_split(proc.pid)}")


def test_tree_cpu_sums_children_grandchildren_and_reaped_children(tree: subprocess.Popen[str]) -> None:
    _burnt(tree)
    total, redis = procs.tree_cpu_split(tree.pid)
    assert procs.tree_cpu_split(tree.pid) == (total, redis)  # nothing burns any more: it holds still
    assert len(procs.descendants(tree.pid)) == 4  # root, two children, one grandchild
    assert total >= 4 * BURN - 4 * TICK  # three live burners and the reaped one
    assert redis == 0.0
    assert procs.tree_cpu_seconds(tree.pid) == total


def test_tree_cpu_split_counts_a_named_process_and_its_descendants(tree: subprocess.Popen[str]) -> None:
    _burnt(tree)
    total, burner = procs.tree_cpu_split(tree.pid, name="burner")
    assert burner >= 2 * BURN - 2 * TICK  # the burner and its grandchild
    assert total - burner >= 2 * BURN - 2 * TICK  # the other child and the reaped one are not in it


def test_tree_cpu_of_a_gone_process_is_zero() -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert procs.tree_cpu_split(int(proc.stdout)) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("antibot", ("antibot", 1)),
        ("antibot-w1", ("antibot", 1)),
        ("antibot-w2", ("antibot", 2)),
        ("antibot-w16", ("antibot", 16)),
        ("antibot-wN", ("antibot", len(os.sched_getaffinity(0)))),
        ("kamailio", ("kamailio", procs.KAMAILIO_CHILDREN)),
    ],
)
def test_parse_kind(kind: str, expected: tuple[str, int]) -> None:
    assert procs.parse_kind(kind) == expected


@pytest.mark.parametrize("kind", ["", "direct", "antibot-w0", "antibot-w", "antibot-wx", "antibot-2", "kamailio-w2"])
def test_parse_kind_rejects(kind: str) -> None:
    with pytest.raises(ValueError, match="unknown proxy kind"):
        procs.parse_kind(kind)


def test_antibot_commands_pin_the_workers_and_monitor_mode(tmp_path: Path) -> None:
    one = procs.Proxy("antibot", tmp_path, 5070, 5080, tmp_path).command()
    two = procs.Proxy("antibot-w2", tmp_path, 5070, 5080, tmp_path).command()
    assert one[one.index("--workers") + 1] == "1"
    assert two[two.index("--workers") + 1] == "2"
    for cmd in (one, two):
        assert cmd[cmd.index("--mode") + 1] == "monitor"
        assert "--no-detect" not in cmd
    kam = procs.Proxy("kamailio", tmp_path, 5070, 5080, tmp_path).command()
    assert f"BENCH_CHILDREN={procs.KAMAILIO_CHILDREN}" in kam


def test_wait_udp_bound_counts_sockets_sharing_the_port() -> None:
    socks: list[socket.socket] = []
    try:
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((procs.HOST, socks[0].getsockname()[1] if socks else 0))
            socks.append(s)
            port = socks[0].getsockname()[1]
            assert procs.wait_udp_bound(port, 0.2, count=1)
            assert procs.wait_udp_bound(port, 0.2, count=2) is (len(socks) == 2)
    finally:
        for s in socks:
            s.close()
