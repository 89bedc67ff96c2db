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
import signal
from typing import TYPE_CHECKING

from ..config import ConfigError, Settings
from ..detect.shipped import find_model
from ..detect.unscored import UnscoredRules
from ..proxy.core import ProxyCore
from ..proxy.decision import Decide
from ..proxy.effects import CallOutcome
from ..transport.loop import ProxyRunner
from .policy import build_rules, seed_doc
from .proxy import build_core, build_tcp_limits
from .reserve import Reserved, reserve

if TYPE_CHECKING:
    from collections.abc import Callable

    from api.main import ApiServer

    from .detection import Detection

log = logging.getLogger("antibot")


class Runtime:
    """The proxy runner, detection and the admin API of one ``antibot run``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.core: ProxyCore | None = None
        self.runner: ProxyRunner | None = None
        #: With ``detect``: the Detector, its store, counter sync, call log and embedded Redis.
        self.detection: Detection | None = None
        #: With ``detect`` and ``api_listen``: the admin API served in this process.
        self.api: ApiServer | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start everything; :class:`ConfigError` (what failed, named) after undoing what started."""
        held = reserve(self.settings)
        try:
            await self._start(held)
        except BaseException:
            await self._close()
            raise
        finally:
            held.close()

    async def stop(self) -> None:
        """Graceful shutdown: finish in-flight transactions (up to ``shutdown_timeout``), then close."""
        log.info("shutting down: finishing in-flight transactions")
        if self.runner is not None:
            await self.runner.drain(self.settings.shutdown_timeout)
        await self._close()
        log.info("stopped", extra={"stats": self.core.stats if self.core is not None else {}})

    async def serve(self) -> None:
        """Start, run until SIGTERM or SIGINT, stop. The signals are caught before anything
        starts: one that comes while starting stops the proxy as soon as it has started."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        await self.stop()

    async def _start(self, held: Reserved) -> None:
        s = self.settings
        shown = {k: v for k, v in dataclasses.asdict(s).items() if k != "route_secret"}  # the secret stays secret
        log.debug("settings", extra={"settings": shown})
        core = self.core = build_core(s)
        tcp_limits = build_tcp_limits(s)  # first: the embedded Redis inherits the raised RLIMIT_NOFILE
        # Without detection the config's policy is the whole policy (no Redis, no admin API).
        unscored = UnscoredRules(build_rules(seed_doc(s)), reason_prefix=s.reason_prefix, reject_phrase=s.reject_phrase)
        decide: Decide = unscored.decide
        on_outcome: Callable[[CallOutcome], None] | None = None
        if s.detect:
            from .detection import start_detection

            self.detection = await start_detection(s, find_model(s.model))
            decide = self.detection.detector.decide
            on_outcome = self.detection.outcomes
        runner = self.runner = ProxyRunner(core, decide, tcp_limits=tcp_limits, on_outcome=on_outcome)
        if self.detection is not None and s.api_listen:
            from .api import start_api

            held.release_api()
            self.api = await start_api(s, core, self.detection, runner.latency, find_model(s.model))
        held.release_sip()
        for x in s.listen:
            try:
                await runner.listen(x.transport, x.host, x.port)
            except OSError as exc:
                raise ConfigError(f"cannot listen on {x.transport}:{x.host}:{x.port}: {exc.strerror or exc}") from None
        log.info(
            "antibot proxy started",
            extra={"upstreams": ",".join(u.uri for u in s.upstreams), "detect": s.detect, "mode": s.mode},
        )
        self._sweeper = asyncio.get_running_loop().create_task(_sweep(runner))

    async def _close(self) -> None:
        """Close the sockets, then the admin API, then detection (and its embedded Redis)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self.runner is not None:
            self.runner.close()
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self.detection is not None:
            await self.detection.close()
            self.detection = None


async def _sweep(runner: ProxyRunner) -> None:
    while True:
        await asyncio.sleep(runner.tcp.sweep_interval)
        runner.tcp.sweep()


def run(s: Settings) -> None:
    """``antibot run``: serve until a signal, on uvloop when installed."""
    # A proxy holds many small long-lived objects (transactions live 32 s): collect less often,
    # and never rescan what exists at start-up.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        import uvloop
    except ImportError:
        asyncio.run(Runtime(s).serve())
        return
    uvloop.run(Runtime(s).serve())
