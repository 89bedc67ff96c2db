"""``antibot run --workers N``: N proxy processes on one node, supervised by the parent.

The workers share the public SIP port (``SO_REUSEPORT``, UDP and TCP: the kernel spreads
datagrams and connections by address 4-tuple). Each also binds a UDP port of its own, given by
the parent and kept across restarts: its Vias carry it as sent-by and its requests leave from it,
so responses and retransmissions come back to the worker holding the transaction (RFC 3261
§18.2.1, RFC 3581). A CANCEL that lands on another worker is relayed to its siblings
(:mod:`antibot.proxy.siblings`). Record-Routes name the public port and carry a token keyed by
the node's route secret, which every worker shares, so in-dialog requests go to any worker.
Each worker keeps its own upstream health; the targets it marks down and its verdict "every
upstream dead" are shared (:mod:`.node_health`), so a dead PBX costs the node one failed attempt
and callers get 503 at once whichever worker they hash to.

The parent binds nothing itself: it checks the listen addresses and the model, raises
RLIMIT_NOFILE, makes the route key, starts the embedded Redis (shared by the workers, as by
nodes), then starts the workers. It keeps a standby process, its imports done, that takes the
place of a worker that dies within a fraction of a second (same index, same own port). SIGTERM is
passed on to every worker at once; the parent logs the node's summed counters once all stopped.
Worker 0 serves the admin API; its ``/healthz`` reports every worker and the standby, its
``/metrics`` every worker's counters added up (:mod:`.node_metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import faulthandler
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cancel import cancel_and_wait
from ..config import ConfigError, Settings
from .node_health import make_health
from .ports import own_ports
from .reserve import reserve

log = logging.getLogger("antibot")

#: Per worker in the shared status array: pid, restarts, ready (1 once listening). After the
#: workers' fields, two for the node: how often the parent restarted the embedded Redis, and the
#: pid of the standby once it is ready to take a worker's place (else 0).
FIELDS = 3
NODE_FIELDS = 2
#: What a standby sends its parent once its imports are done.
READY = "ready"
#: Seconds a worker must live for its next death to be restarted at once (else: back off).
STABLE = 5.0
#: Seconds between two looks at the node when nothing happens: a worker's or the standby's exit
#: and the standby's ready message wake the parent at once (their pipes), so this only paces the
#: embedded Redis's restart count and the standby's start after :data:`STABLE`.
IDLE_CHECK = 1.0
#: ... and while a worker starts with no standby behind it (its readiness is only a flag).
STARTING_CHECK = 0.05
#: Seconds a worker may take from its start to serving (about one, 1-6 on a loaded machine); one
#: still not serving then is hung: it writes where it waits to the log, is killed and restarted.
START_TIMEOUT = 10.0
#: Workers hung at the node's start before the node gives up (exit status 2).
START_ATTEMPTS = 3


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker needs to know about the others."""

    index: int
    #: The own UDP port of every worker, by index.
    ports: tuple[int, ...]
    #: The status array the parent shares (``FIELDS`` ints per worker); None outside a node.
    status: Any = None
    #: Where this worker sends its counters when it stops (a pipe to the parent); None outside a node.
    results: Any = None
    #: The node's shared verdicts on its upstreams (:mod:`.node_health`); None outside a node.
    health: Any = None

    @property
    def port(self) -> int:
        return self.ports[self.index]

    def report(self) -> list[dict[str, int | bool]]:
        """Every worker's pid, restarts and whether it is serving (``/healthz``)."""
        out: list[dict[str, int | bool]] = []
        for i in range(len(self.ports)):
            pid, restarts, ready = (self.status[i * FIELDS + k] for k in range(FIELDS)) if self.status else (0, 0, 0)
            out.append({"index": i, "pid": pid, "restarts": restarts, "serving": bool(ready)})
        return out

    def redis_restarts(self) -> int:
        """How often the parent restarted the node's embedded Redis (``/metrics``)."""
        return int(self.status[len(self.ports) * FIELDS]) if self.status is not None else 0

    def standby_ready(self) -> bool:
        """A standby process waits, ready to replace the next worker that dies (``/healthz``)."""
        return self.status is not None and self.status[len(self.ports) * FIELDS + 1] != 0

    def mark_ready(self) -> None:
        if self.status is not None:
            self.status[self.index * FIELDS + 2] = 1

    def send_stats(self, stats: dict[str, int]) -> None:
        """Hand this worker's counters to the parent, which logs the node's sum when it stops."""
        if self.results is not None:
            with contextlib.suppress(OSError):
                self.results.send(dict(stats))


def sum_stats(parts: list[dict[str, int]]) -> dict[str, int]:
    """The node's counters: each worker's, added up."""
    out: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = out.get(key, 0) + value
    return dict(sorted(out.items()))


def worker_count(s: Settings) -> int:
    """``workers``, 0 meaning one per core (one with a WebSocket listener: a connection lives
    in one process)."""
    if s.workers:
        return s.workers
    if any(x.transport in ("ws", "wss") for x in s.listen):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Supervisor:
    """The parent of a node's workers: starts them, restarts those that die, stops them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.n = worker_count(settings)
        self.ctx = multiprocessing.get_context("spawn")
        self.status: Any = self.ctx.Array("q", self.n * FIELDS + NODE_FIELDS, lock=False)
        #: Each worker's upstream marks and verdict "every upstream dead" (:mod:`.node_health`).
        self.health: Any = make_health(self.ctx, self.n, len(settings.upstreams))
        self.procs: list[Any] = [None] * self.n
        #: The read end of each running worker's pipe (its counters, sent when it stops).
        self.results: list[Any] = [None] * self.n
        self.started_at = [0.0] * self.n
        self.stopping = False
        self.embedded: Any = None
        #: A process started ahead, its imports done, that takes the place of the next worker to die.
        self.standby: _Standby | None = None
        self.last_restart = 0.0

    async def serve(self) -> int:
        """Run until SIGTERM or SIGINT; the exit status (2: a worker could not start)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop, stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        shared = await self._prepare()
        ports = own_ports(shared, self.n)
        specs = [WorkerSpec(i, ports) for i in range(self.n)]
        try:
            for spec in specs:
                self._spawn(shared, spec)
            if not await self._wait_ready(stop, shared, specs):
                return 2
            if stop.is_set():
                return 0
            log.info("antibot workers started", extra={"workers": self.n, "ports": ",".join(map(str, ports))})
            while not stop.is_set():
                await self._nap(stop)
                if self.embedded is not None:
                    self.status[self.n * FIELDS] = self.embedded.restarts
                for i in self._hung(time.monotonic()):
                    await self._kill_hung(i)
                for spec in specs:
                    proc = self.procs[spec.index]
                    if proc.exitcode is not None and not stop.is_set():
                        await self._restart(shared, spec, proc.exitcode)
                if self.standby is None and not stop.is_set() and self._settled():
                    self._spawn_standby(shared, ports)
                self._standby_state()
            return 0
        finally:
            await self._stop_all()

    async def _nap(self, stop: asyncio.Event) -> None:
        """Sleep until a worker or the standby exits, the standby says it is ready, ``stop``, or
        :data:`IDLE_CHECK` (sooner when the node settles after a restart): no polling while the
        node runs as it should."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        fds = [p.sentinel for p in self.procs if p is not None and p.exitcode is None]
        sb = self.standby
        if sb is not None:
            fds.append(sb.proc.sentinel)
            if not sb.ready:
                fds.append(sb.results.fileno())
        timeout = IDLE_CHECK
        if sb is None:  # no standby yet: look again when the node may be settled (a worker's
            # readiness is a flag in the shared array, with no pipe to wake on)
            timeout = min(timeout, max(STARTING_CHECK, self.last_restart + STABLE - time.monotonic()))
        for fd in fds:
            loop.add_reader(fd, wake)
        stopped = loop.create_task(stop.wait())
        try:
            await asyncio.wait((woken, stopped), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            for fd in fds:
                loop.remove_reader(fd)

    def _on_stop(self, stop: asyncio.Event) -> None:
        """SIGTERM or SIGINT: passed on to the workers at once, so each refuses new calls from now
        on (as one process does), then :meth:`_stop_all` waits for them."""
        stop.set()
        self.stopping = True
        self._signal(signal.SIGTERM)
        self._drop_standby()

    def _settled(self) -> bool:
        """Every worker serves and none was replaced within ``STABLE`` s: time to start a standby
        (it takes a core for a second; not while the node is short of a worker)."""
        serving = all(self.status[i * FIELDS + 2] for i in range(self.n))
        return serving and time.monotonic() - self.last_restart >= STABLE

    def _spawn_standby(self, s: Settings, ports: tuple[int, ...]) -> None:
        recv, send = self.ctx.Pipe(duplex=False)
        cmd_recv, cmd_send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(
            target=standby_main,
            args=(s, ports, self.status, send, cmd_recv, self.health),
            name="antibot-worker-standby",
        )
        proc.start()
        send.close()
        cmd_recv.close()
        self.standby = _Standby(proc, cmd_send, recv)

    def _standby_state(self) -> None:
        """Publish the standby's pid once it says it is ready (the parent owns the flag); a
        standby that died is let go, and the next one starts :data:`STABLE` s later (as after a
        worker's restart: a standby that cannot start is not restarted in a loop)."""
        sb = self.standby
        if sb is not None and sb.proc.exitcode is not None:
            log.warning("standby exited; starting another later", extra={"exitcode": sb.proc.exitcode})
            sb.results.close()
            self._drop_standby()
            self.last_restart = time.monotonic()
            return
        with contextlib.suppress(EOFError, OSError, ValueError, pickle.UnpicklingError):
            if sb is not None and not sb.ready and sb.results.poll() and sb.results.recv() == READY:
                sb.ready = True
        self.status[self.n * FIELDS + 1] = sb.proc.pid if sb is not None and sb.ready and sb.proc.pid else 0

    def _drop_standby(self) -> None:
        """The standby exits when its command pipe closes (it holds no socket and no state)."""
        self.status[self.n * FIELDS + 1] = 0
        if self.standby is not None:
            self.standby.cmd.close()
            self.standby = None

    def _signal(self, sig: int) -> None:
        for proc in self.procs:
            if proc is not None and proc.exitcode is None and proc.pid is not None:
                os.kill(proc.pid, sig)

    def _reload(self) -> None:
        """SIGHUP: passed on to every running worker (each reloads its TLS certificates)."""
        self._signal(signal.SIGHUP)

    async def _prepare(self) -> Settings:
        """Check every listen address, make the route key, start the embedded Redis: what the
        workers share. Returns their settings."""
        s = self.settings
        from .proxy import build_tcp_limits, route_secret

        reserve(s).close()  # a busy address is reported here, once
        if s.detect and s.api_listen:
            from .node_metrics import clear, metrics_dir

            clear(metrics_dir(s.data_dir))  # the workers' totals of a previous run of the node
        build_tcp_limits(s)  # raises RLIMIT_NOFILE, for the workers and the embedded Redis alike
        if s.detect:
            from ..detect.shipped import find_model
            from .detection import load_shipped_model

            model = find_model(s.model)
            if model is not None:
                load_shipped_model(model)  # a model the workers would refuse is reported here, once

        shared = dataclasses.replace(s, route_secret=route_secret(s).decode())
        if s.detect and s.redis_url is None:
            from ..store.embedded import EmbeddedRedis, EmbeddedRedisError

            self.embedded = EmbeddedRedis(
                Path(s.data_dir),
                load_timeout=s.redis_load_timeout,
                maxmemory=s.redis_maxmemory,
                maxmemory_policy=s.redis_maxmemory_policy,
            )
            try:
                url = await asyncio.to_thread(self.embedded.start)
            except EmbeddedRedisError as exc:
                raise ConfigError(str(exc)) from None
            log.info("embedded redis started", extra={"url": url, "data_dir": s.data_dir})
            self._redis_task = asyncio.get_running_loop().create_task(self.embedded.supervise())
            # Several writers now: the workers sync at the shared-Redis interval unless one is set.
            shared = dataclasses.replace(shared, redis_url=url)
        return shared

    def _spawn(self, s: Settings, spec: WorkerSpec) -> None:
        i = spec.index
        self.status[i * FIELDS + 2] = 0
        if self.results[i] is not None:
            self.results[i].close()  # a dead worker's counters die with it
        recv, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(
            target=worker_main,
            args=(s, WorkerSpec(i, spec.ports, self.status, send, self.health)),
            name=f"antibot-worker-{i}",
        )
        proc.start()
        send.close()
        self.procs[i] = proc
        self.results[i] = recv
        self.status[i * FIELDS] = proc.pid or 0
        self.started_at[i] = time.monotonic()

    async def _wait_ready(self, stop: asyncio.Event, s: Settings, specs: list[WorkerSpec]) -> bool:
        """Wait until every worker serves (True) or ``stop`` (True); False when one exited (a
        config error, reported by the worker) or hung :data:`START_ATTEMPTS` times."""
        hung = 0
        while not stop.is_set():
            if all(self.status[i * FIELDS + 2] for i in range(self.n)):
                return True
            for i, proc in enumerate(self.procs):
                if proc.exitcode is not None:
                    log.error("worker failed to start", extra={"worker": i, "exitcode": proc.exitcode})
                    return False
            for i in self._hung(time.monotonic()):
                hung += 1
                await self._kill_hung(i)
                if hung >= START_ATTEMPTS:
                    return False
                self._spawn(s, specs[i])
            await asyncio.sleep(0.05)
        return True

    def _hung(self, now: float) -> list[int]:
        """The workers started :data:`START_TIMEOUT` s ago or more and not serving yet."""
        return [
            i
            for i, proc in enumerate(self.procs)
            if proc is not None
            and proc.exitcode is None
            and not self.status[i * FIELDS + 2]
            and now - self.started_at[i] >= START_TIMEOUT
        ]

    async def _kill_hung(self, i: int) -> None:
        """Worker ``i`` hung while starting: SIGUSR2 makes it write where each of its tasks
        waits (:func:`~antibot.run.runtime.dump_tasks`), SIGUSR1 the stack of each thread
        (``faulthandler``, set up by :func:`worker_main`: a loop blocked in a call), both to its
        stderr; then SIGKILL. The main loop restarts it as any dead worker."""
        proc = self.procs[i]
        log.error(
            "worker not serving within its start timeout: its tasks and threads follow; killed",
            extra={"worker": i, "pid": proc.pid, "start_timeout": START_TIMEOUT},
        )
        for sig in (signal.SIGUSR2, signal.SIGUSR1):
            with contextlib.suppress(OSError):
                os.kill(proc.pid, sig)
            await asyncio.sleep(0.3)
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGKILL)
        while proc.exitcode is None:
            await asyncio.sleep(0.01)

    async def _restart(self, s: Settings, spec: WorkerSpec, code: int) -> None:
        i = spec.index
        lived = time.monotonic() - self.started_at[i]
        self.status[i * FIELDS + 1] += 1
        log.warning("worker died; restarting", extra={"worker": i, "exitcode": code, "lived": round(lived, 1)})
        self.last_restart = time.monotonic()
        standby, self.standby = self.standby, None
        if lived < STABLE:
            await asyncio.sleep(min(STABLE, 0.5 * self.status[i * FIELDS + 1]))  # crashing at start: back off
        if self.stopping:
            if standby is not None:
                standby.cmd.close()
        elif standby is not None and standby.proc.exitcode is None:
            self._take_over(standby, i)
        else:
            self._spawn(s, spec)

    def _take_over(self, standby: _Standby, i: int) -> None:
        """The standby becomes worker ``i``: it binds that worker's own port and the public one."""
        self.status[i * FIELDS + 2] = 0
        self.status[self.n * FIELDS + 1] = 0
        if self.results[i] is not None:
            self.results[i].close()
        standby.cmd.send(i)
        standby.cmd.close()
        self.procs[i] = standby.proc
        self.results[i] = standby.results
        self.status[i * FIELDS] = standby.proc.pid or 0
        self.started_at[i] = time.monotonic()

    async def _stop_all(self) -> None:
        self.stopping = True
        self._signal(signal.SIGTERM)
        self._drop_standby()
        deadline = time.monotonic() + self.settings.shutdown_timeout + 5.0
        for proc in self.procs:
            if proc is None:
                continue
            while proc.exitcode is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.exitcode is None:
                proc.kill()
                await asyncio.to_thread(proc.join, 5.0)
        if self.embedded is not None:
            await cancel_and_wait([self._redis_task])
            await asyncio.to_thread(self.embedded.stop)
        log.info("stopped", extra={"workers": self.n, "stats": sum_stats(self._collect())})

    def _collect(self) -> list[dict[str, int]]:
        """The counters each stopped worker sent (a killed worker sent none; a worker that was a
        standby may have sent :data:`READY` first)."""
        out: list[dict[str, int]] = []
        for conn in self.results:
            try:
                while conn is not None and conn.poll():
                    msg = conn.recv()
                    if isinstance(msg, dict):
                        out.append(msg)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                pass
        return out


@dataclass
class _Standby:
    """A started standby process: the pipe that tells it its index, and its counters' pipe."""

    proc: Any
    cmd: Any
    results: Any
    ready: bool = False


class _WorkerTag(logging.Filter):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True


def worker_main(s: Settings, spec: WorkerSpec) -> None:
    """One worker process: the :class:`~antibot.run.runtime.Runtime` with its own port."""
    from .. import logs
    from .runtime import serve

    _die_with_parent()
    dump_stack_on_sigusr1()
    logs.setup(s.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WorkerTag(spec.index))
    try:
        serve(s, spec)
    except ConfigError as exc:
        print(f"antibot: config error: worker {spec.index}: {exc}", file=sys.stderr)
        sys.exit(2)


def standby_main(s: Settings, ports: tuple[int, ...], status: Any, results: Any, cmd: Any, health: Any = None) -> None:
    """A standby process: import what a worker runs, then wait to be told which worker to be
    (it exits, having bound nothing, when the parent closes the pipe)."""
    _die_with_parent()
    from . import runtime  # noqa: F401 - the imports are the slow part of a worker's start

    if s.detect:
        from . import detection  # noqa: F401
    if s.detect and s.api_listen:
        from . import api  # noqa: F401
    results.send(READY)
    try:
        index = int(cmd.recv())
    except (EOFError, OSError):
        return
    cmd.close()
    worker_main(s, WorkerSpec(index, ports, status, results, health))


def dump_stack_on_sigusr1() -> None:
    """SIGUSR1 from the parent (a worker hung while starting): write the Python stack of every
    thread to stderr, the node's log."""
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a worker whose parent was killed gets SIGTERM (Linux; else nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
