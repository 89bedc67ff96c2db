"""Process and socket plumbing for the e2e tests: free ports, polling, clean-up.

Every child process of a test is registered with :class:`Processes`, which stops it (SIGTERM,
then SIGKILL) whatever happens in the test; every log file is registered as an artifact so a
failing test shows the proxy log and sipp's logs.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

HOST = "127.0.0.1"

T = TypeVar("T")
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1: bind port 0 (TCP), bind the same UDP port, release."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free UDP+TCP port on 127.0.0.1")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Processes:
    """The children and log files of one test."""

    procs: list[tuple[subprocess.Popen[bytes], float]] = field(default_factory=list)
    artifacts: list[tuple[str, Path]] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)

    def spawn(
        self,
        args: list[str],
        cwd: Path,
        stdout: Path,
        stderr: Path,
        grace: float = 5.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        self.procs.append((proc, grace))
        return proc

    def stop_all(self) -> None:
        for proc, grace in reversed(self.procs):
            stop_process(proc, grace)
        for sock in self.sockets:
            sock.close()

    def dump(self, limit: int = 6000) -> Iterable[tuple[str, str]]:
        """(title, tail of the file) for every artifact that exists and is not empty."""
        for label, path in self.artifacts:
            if path.exists() and path.stat().st_size:
                text = path.read_bytes()[-limit:].decode("utf-8", "replace")
                yield f"{label} ({path})", text


class Blackhole:
    """A bound UDP socket nobody reads until the test asks what arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
        self.datagrams: list[bytes] = []

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def received(self) -> list[bytes]:
        """Every datagram so far."""
        while True:
            try:
                self.datagrams.append(self.sock.recv(65535))
            except BlockingIOError:
                return self.datagrams

    def call_ids(self, method: str) -> set[str]:
        """Call-IDs of the ``method`` requests that arrived (retransmissions collapse)."""
        out = set()
        for data in self.received():
            text = data.decode("utf-8", "replace")
            if text.startswith(f"{method} "):
                for line in text.split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() in ("call-id", "i"):
                        out.add(value.strip())
        return out
