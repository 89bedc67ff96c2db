"""Proxy kinds and the CPU accounting of a whole process tree (bench/benchlib/procs.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchlib import procs, tlsbridge

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
        ("kamailio", ("kamailio", 8)),
    ],
)
def test_parse_kind(kind: str, expected: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAMAILIO_CHILDREN", raising=False)
    assert procs.parse_kind(kind) == expected


def test_kamailio_keeps_its_default_children_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAMAILIO_CHILDREN", raising=False)
    kam = procs.Proxy("kamailio", tmp_path, 5070, 5080, tmp_path).command()
    assert not any(arg.startswith("BENCH_CHILDREN") for arg in kam)  # the config then sets none
    monkeypatch.setenv("KAMAILIO_CHILDREN", "2")
    assert procs.parse_kind("kamailio") == ("kamailio", 2)
    kam = procs.Proxy("kamailio", tmp_path, 5070, 5080, tmp_path).command()
    assert kam[kam.index("BENCH_CHILDREN=2") - 1] == "-A"
    monkeypatch.setenv("KAMAILIO_CHILDREN", "two")
    with pytest.raises(ValueError, match="KAMAILIO_CHILDREN"):
        procs.parse_kind("kamailio")


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


def _tls(tmp_path: Path) -> procs.TlsListener:
    return procs.TlsListener(
        5061, tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "tls.cfg", tmp_path / "ca.pem"
    )


def test_antibot_over_tls_listens_for_tls_beside_udp(tmp_path: Path) -> None:
    cmd = procs.Proxy("antibot", tmp_path, 5070, 5080, tmp_path, _tls(tmp_path)).command()
    listens = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--listen"]
    assert listens == ["udp:127.0.0.1:5070", "tls:127.0.0.1:5061"]  # the PBX side stays UDP
    assert cmd[cmd.index("--tls-cert") + 1] == str(tmp_path / "server.pem")
    assert cmd[cmd.index("--tls-key") + 1] == str(tmp_path / "server.key")
    assert cmd[cmd.index("--upstream") + 1] == "sip:127.0.0.1:5080"
    assert "--tls-cert" not in procs.Proxy("antibot", tmp_path, 5070, 5080, tmp_path).command()


def test_kamailio_over_tls_gets_the_tls_defines(tmp_path: Path) -> None:
    cmd = procs.Proxy("kamailio", tmp_path, 5070, 5080, tmp_path, _tls(tmp_path)).command()
    defines = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-A"]
    assert "BENCH_LISTEN=udp:127.0.0.1:5070" in defines
    assert defines[-3:] == ["BENCH_TLS", "BENCH_TLS_LISTEN=tls:127.0.0.1:5061", f'BENCH_TLS_CFG="{tmp_path}/tls.cfg"']
    plain = procs.Proxy("kamailio", tmp_path, 5070, 5080, tmp_path).command()
    assert "BENCH_TLS" not in plain and cmd[cmd.index("-f") + 1] == plain[plain.index("-f") + 1]


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:13C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:13C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:13C4 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:13C4 00000000:0000 06 00000000:00000000 00:00000000 00000000     0        0 0 3
"""


def test_tcp_listening_counts_listening_sockets_only() -> None:
    assert procs.tcp_listening(PROC_NET_TCP, 5061) == 2  # two workers sharing the port
    assert procs.tcp_listening(PROC_NET_TCP, 5060) == 0  # established and time-wait: not listening
    assert procs.tcp_listening("header only\n", 5061) == 0


def test_antibot_is_imported_from_the_bench_s_own_checkout(tmp_path: Path) -> None:
    env = procs.Proxy("antibot", tmp_path / "run", 5070, 5080, tmp_path).env()
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(tmp_path)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_held_listen_address_is_not_a_ready_tls_listener(tmp_path: Path) -> None:
    """antibot holds its listen addresses with sockets of its own before the real listeners take
    over: a socket that listens but never accepts is not ready; a TLS server that answers is."""
    certs = tlsbridge.make_certs(tmp_path)
    with socket.socket() as held:
        held.bind((procs.HOST, 0))
        held.listen(1)
        port = held.getsockname()[1]
        assert procs.wait_tcp_listening(port, 1.0)
        assert not procs.wait_tls_handshake(port, certs.ca, 1.5)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs.cert, certs.key)
    with socket.socket() as server:
        server.bind((procs.HOST, 0))
        server.listen(4)

        def answer() -> None:
            conn, _ = server.accept()
            with contextlib.suppress(OSError), ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        assert procs.wait_tls_handshake(server.getsockname()[1], certs.ca, 10.0)
        t.join(10)
