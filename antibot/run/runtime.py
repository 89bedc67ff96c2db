"""``antibot run``: the :class:`Runtime` owns every running piece and the order they start and
stop in, as uvicorn's ``Server`` does for its app.

Start: every listen address is bound first (:mod:`.reserve`: a busy one is refused before
anything starts), then the proxy core, detection (embedded Redis, store, counter sync, call log),
the admin API, and last the SIP listeners. Stop: refuse new calls and let those in flight finish,
then close the SIP sockets, the admin API, and detection (its embedded Redis last).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import ConfigError, Settings
from ..detect.shipped import find_model
from ..detect.unscored import UnscoredRules
from ..proxy.core import ProxyCore
from ..proxy.decision import Decide
from ..proxy.effects import CallOutcome
from ..transport.loop import ProxyRunner
from .policy import build_rules, seed_doc
from .proxy import build_core, build_tcp_limits, build_tls, build_ws, spread_over
from .reserve import Reserved, reserve

if TYPE_CHECKING:
    from collections.abc import Callable

    from api.main import ApiServer

    from .detection import Detection
    from .node_metrics import NodeMetrics
    from .workers import WorkerSpec

log = logging.getLogger("antibot")
T = TypeVar("T")


class Runtime:
    """The proxy runner, detection and the admin API of one ``antibot run``."""

    def __init__(self, settings: Settings, worker: WorkerSpec | None = None) -> None:
        self.settings = settings
        #: One of a node's workers (``--workers``): the SIP port shared, a UDP port of its own.
        self.worker = worker
        #: A single process's own UDP port for the requests it sends (0: none, or a worker).
        self.own_port = 0
        self.core: ProxyCore | None = None
        self.runner: ProxyRunner | None = None
        #: With ``detect``: the Detector, its store, counter sync, call log and embedded Redis.
        self.detection: Detection | None = None
        #: With ``detect`` and ``api_listen``: the admin API served in this process.
        self.api: ApiServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        #: A worker's published totals (with ``detect`` and ``api_listen``: the node's /metrics).
        self.node_metrics: NodeMetrics | None = None
        self._publisher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start everything; :class:`ConfigError` (what failed, named) after undoing what started."""
        held = reserve(self.settings) if self.worker is None else Reserved()  # a node's parent checked
        try:
            await self._start(held)
        except BaseException:
            await self._close()
            raise
        finally:
            held.close()

    async def stop(self) -> None:
        """Graceful shutdown: drain (:meth:`drain`), then close."""
        log.info("shutting down: finishing in-flight transactions")
        await self.drain()
        await self._close()
        stats = self.core.stats if self.core is not None else {}
        log.info("stopped", extra={"stats": stats})
        if self.worker is not None:
            self.worker.send_stats(stats)

    async def drain(self) -> None:
        """Refuse new calls (503 + Retry-After) and keep serving the rest: until no transaction
        is in flight and no answered call is in progress (their BYE, ACK and re-INVITE still
        relayed), answered calls waited for at most ``shutdown_call_grace`` and everything at
        most ``shutdown_timeout`` after the signal."""
        core = self.core
        if core is None or self.runner is None:
            return
        core.draining = True
        loop = asyncio.get_running_loop()
        start = loop.time()
        calls_until = start + min(self.settings.shutdown_call_grace, self.settings.shutdown_timeout)
        until = start + self.settings.shutdown_timeout
        while (now := loop.time()) < until:
            if core.idle and (not core.dialogs.calls or now >= calls_until):
                break
            await asyncio.sleep(0.05)
        if core.dialogs.calls:
            log.info("drained", extra={"calls_in_progress": len(core.dialogs.calls)})

    async def serve(self) -> None:
        """Start, run until SIGTERM or SIGINT, stop. The signals are caught before anything
        starts: one that comes while starting stops the proxy as soon as it has started."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        loop.add_signal_handler(signal.SIGUSR2, dump_tasks)
        await self.start()
        # the model, lists, tables and connections made while starting: never rescanned
        gc.collect()
        gc.freeze()
        await stop.wait()
        await self.stop()

    def reload(self) -> None:
        """SIGHUP: reload the TLS certificates (new connections use them; calls go on)."""
        if self.runner is not None:
            self.runner.reload_tls()

    async def _start(self, held: Reserved) -> None:
        s = self.settings
        shown = {k: v for k, v in dataclasses.asdict(s).items() if k != "route_secret"}  # the secret stays secret
        log.debug("settings", extra={"settings": shown})
        # A single process reads the answers to its requests from a UDP port of its own, as each
        # worker does: under a flood of new requests on the public port, answers are not
        # dropped with the flood's datagrams when the receive buffer overflows.
        from .ports import own_ports

        udp = any(x.transport == "udp" for x in s.listen)
        self.own_port = own_ports(s, 1)[0] if self.worker is None and udp else 0
        core = self.core = build_core(s, self.worker, self.own_port)
        tcp_limits = build_tcp_limits(s)  # first: the embedded Redis inherits the raised RLIMIT_NOFILE
        # Without detection the config's policy is the whole policy (no Redis, no admin API).
        unscored = UnscoredRules(
            build_rules(seed_doc(s), s.mode_override), reason_prefix=s.reason_prefix, reject_phrase=s.reject_phrase
        )
        decide: Decide = unscored.decide
        on_outcome: Callable[[CallOutcome], None] | None = None
        if s.detect:
            from .detection import start_detection
            from .policy import follow_policy

            self.detection = await start_detection(s, find_model(s.model))
            decide = self.detection.detector.decide
            on_outcome = self.detection.outcomes
            self.detection.tasks.append(asyncio.get_running_loop().create_task(follow_policy(self.detection)))
        tls = build_tls(s)
        runner = self.runner = ProxyRunner(
            core, decide, tcp_limits=tcp_limits, on_outcome=on_outcome, tls=tls, ws=build_ws(s)
        )
        if self.detection is not None and s.api_listen and self.worker is not None:
            from .node_metrics import NodeMetrics, metrics_dir

            self.node_metrics = NodeMetrics(metrics_dir(s.data_dir), self.worker.index, len(self.worker.ports))
        if self.detection is not None and s.api_listen and (self.worker is None or self.worker.index == 0):
            from .api import start_api

            held.release_api()
            w = self.worker
            self.api = await start_api(
                s,
                core,
                self.detection,
                runner.latency,
                find_model(s.model),
                w.report if w is not None else None,
                w.redis_restarts if w is not None else None,
                w.standby_ready if w is not None else None,
                self.node_metrics,
            )
        held.release_sip()
        worker = self.worker
        for x in s.listen:
            own = (worker.port if worker is not None else self.own_port) if x.transport == "udp" else 0
            try:
                await runner.listen(
                    x.transport,
                    x.host,
                    x.port,
                    reuse_port=worker is not None,
                    own_port=own,
                    path=x.path,
                    workers=spread_over(s, worker),
                )
            except OSError as exc:
                raise ConfigError(f"cannot listen on {x.transport}:{x.host}:{x.port}: {exc.strerror or exc}") from None
        log.info(
            "antibot proxy started",
            extra={
                "upstreams": ",".join(u.uri for u in s.upstreams),
                "detect": s.detect,
                "mode": s.mode_override or s.mode,
                **({"pid": os.getpid(), "own_port": self.worker.port} if self.worker is not None else {}),
            },
        )
        self._sweeper = asyncio.get_running_loop().create_task(_sweep(runner))
        if self.node_metrics is not None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_every())
        if worker is not None:
            worker.mark_ready()

    async def _close(self) -> None:
        """Close the sockets, then the admin API, then detection (and its embedded Redis)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self.runner is not None:
            self.runner.close()
        if self._publisher is not None:
            self._publisher.cancel()
            self._publisher = None
        self._publish()  # the last totals, for the node's /metrics (and this index's successor)
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self.detection is not None:
            await self.detection.close()
            self.detection = None

    def _publish(self) -> None:
        """Write this worker's totals for the worker serving /metrics (:mod:`.node_metrics`)."""
        if self.node_metrics is not None and self.core is not None and self.detection is not None:
            from .node_metrics import local_snapshot

            assert self.runner is not None
            self.node_metrics.publish(local_snapshot(self.core, self.detection, self.runner.latency))

    async def _publish_every(self) -> None:
        from .node_metrics import PUBLISH_EVERY

        while True:
            await asyncio.sleep(PUBLISH_EVERY)
            self._publish()


def dump_tasks() -> None:
    """SIGUSR2 (sent by a node's parent to a worker hung while starting, or by an operator):
    where each of the loop's tasks waits, written to stderr (the log)."""
    for task in asyncio.all_tasks():
        lines = [f"task {task.get_name()} awaits (outermost first):"]
        coro: Any = task.get_coro()
        while coro is not None:  # down the chain of awaits (a compiled coroutine ends it)
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None:
                code = frame.f_code
                lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        print("\n".join(lines), file=sys.stderr, flush=True)


async def _sweep(runner: ProxyRunner) -> None:
    while True:
        await asyncio.sleep(runner.tcp.sweep_interval)
        runner.tcp.sweep()


def run(s: Settings) -> int:
    """``antibot run``: serve until a signal, on uvloop when installed; with several workers,
    supervise them (:mod:`.workers`). Returns the exit status."""
    from .workers import Supervisor, worker_count

    if worker_count(s) > 1:
        return _run_loop(Supervisor(s).serve())
    serve(s, None)
    return 0


def serve(s: Settings, worker: WorkerSpec | None) -> None:
    """One proxy process (the whole node, or one of its workers) until a signal."""
    if os.environ.get("ANTIBOT_TRACEMALLOC"):  # a debugging aid (docs/reliability.md)
        from .memtrace import install_from_env

        install_from_env()
    # A proxy holds many small long-lived objects (transactions live 32 s): collect less often
    # (a call's short-lived containers, such as a counter sync's pending counts, then mostly
    # die before a collection sees them), and never rescan what exists at start-up.
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 50, 100)
    _run_loop(Runtime(s, worker).serve())


def _run_loop(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
