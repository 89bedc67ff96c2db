"""A real Redis Cluster on loopback for the tests: ``redis-server --cluster-enabled yes`` per
node, joined by ``redis-cli --cluster create``; stopped (TERM, then KILL) by :meth:`stop`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from .resp import Resp, RespError

HOST = "127.0.0.1"
MISSING = "redis-server and redis-cli not found on PATH: install Debian's redis-server package"


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def cluster_ports(n: int) -> list[int]:
    """``n`` ports free on 127.0.0.1 whose cluster bus ports (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port + 10000 <= 65535 and port not in ports and _free(port + 10000):
            ports.append(port)
        elif port + 10000 > 65535 and _free(port - 30000) and _free(port - 20000):
            ports.append(port - 30000)
    return ports


def stop_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """TERM every process still running, then wait for each (KILL after 5 s)."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class LocalCluster:
    """``masters`` masters (each with ``replicas`` replicas) on 127.0.0.1, data in ``tmp``."""

    def __init__(self, tmp: Path, masters: int = 3, replicas: int = 0) -> None:
        self.tmp = tmp
        self.ports = cluster_ports(masters * (1 + replicas))
        self.replicas = replicas
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node as a seed."""
        return "redis+cluster://" + ",".join(f"{HOST}:{p}" for p in self.ports)

    def client(self, port: int) -> Resp:
        return Resp((HOST, port))

    def start(self, timeout: float = 30.0) -> LocalCluster:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            pytest.fail(MISSING, pytrace=False)
        for port in self.ports:
            self.start_node(port)
        create = [cli, "--cluster", "create", *(f"{HOST}:{p}" for p in self.ports)]
        create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(create, capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            self.stop()
            raise AssertionError(f"redis-cli --cluster create failed: {done.stdout!r} {done.stderr!r}")
        self.wait_ok(timeout)
        return self

    def start_node(self, port: int) -> None:
        server = shutil.which("redis-server") or "redis-server"
        args = [server, "--port", str(port), "--bind", HOST, "--cluster-enabled", "yes"]
        args += ["--cluster-config-file", f"nodes-{port}.conf", "--dir", str(self.tmp), "--save", ""]
        args += ["--appendonly", "no", "--cluster-node-timeout", "1000", "--logfile", f"redis-{port}.log"]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while True:
            try:
                client = self.client(port)
                client("PING")
                client.close()
                return
            except (OSError, RespError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"redis-server on port {port} did not start") from None
                time.sleep(0.02)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every running node says ``cluster_state:ok`` and knows every slot's master."""
        deadline = time.monotonic() + timeout
        while not all(self._ok(port) for port, proc in self.procs.items() if proc.poll() is None):
            if time.monotonic() > deadline:
                raise AssertionError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def _ok(self, port: int) -> bool:
        try:
            client = self.client(port)
            try:
                return "cluster_state:ok" in client("CLUSTER", "INFO") and all(
                    r[2][1] in self.procs and self.procs[r[2][1]].poll() is None for r in client("CLUSTER", "SLOTS")
                )
            finally:
                client.close()
        except (OSError, RespError):
            return False

    def masters(self) -> dict[int, list[tuple[int, int]]]:
        """Each master's port and its slot ranges, as a running node sees them."""
        port = next(p for p, proc in self.procs.items() if proc.poll() is None)
        client = self.client(port)
        try:
            out: dict[int, list[tuple[int, int]]] = {}
            for start, end, master, *_ in client("CLUSTER", "SLOTS"):
                out.setdefault(int(master[1]), []).append((int(start), int(end)))
            return out
        finally:
            client.close()

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        proc.kill()
        proc.wait(5)

    def stop(self) -> None:
        stop_all(self.procs.values())
