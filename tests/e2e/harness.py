"""The e2e harness a test drives: start the proxy and sipp peers on 127.0.0.1, all bounded in time."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from .peers import Proxy, Sipp, read_text
from .procs import HOST, Blackhole, Processes, free_port, wait_for

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
REPO = Path(__file__).resolve().parents[2]
#: Every trace at a fixed name in sipp's directory; stats and counts dumped every second.
SIPP_TRACES = shlex.split(
    "-trace_err -error_file errors.log -trace_stat -stf stats.csv -fd 1 -trace_counts"
    " -trace_screen -screen_file screen.log -trace_logs -log_file actions.log"
)
SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}
SIPP_MISSING = "sipp not found on PATH: the e2e tests need it; install Debian's sip-tester (apt-get install sip-tester)"


class Harness:
    """What a test uses: ``proxy(...)``, ``uas(...)``, ``uac(...)``; all processes die with the test."""

    def __init__(self, procs: Processes, tmp_path: Path) -> None:
        self.procs = procs
        self.tmp = tmp_path
        self._n = 0

    # ------------------------------------------------------------------ the proxy
    def proxy(
        self,
        upstreams: list[str],
        *,
        extra: Iterable[str] = (),
        settings: dict[str, Any] | None = None,
        ready_timeout: float = 30.0,  # a worker hung while starting is restarted after 10 s
    ) -> Proxy:
        """Start ``python -m antibot run`` on a fresh UDP+TCP port and wait until it answers (with
        the product's default of one worker per core: until every worker serves)."""
        workdir = self._dir("proxy")
        port = free_port()
        # shutdown_timeout bounds the graceful drain (default 32 s) when the proxy is stopped.
        spread = os.environ.get("ANTIBOT_E2E_UDP_SPREAD")  # e.g. "transaction": the suite in that mode
        proxy_settings = {"shutdown_timeout": 1.0, **({"udp_spread": spread} if spread else {}), **(settings or {})}
        config = workdir / "antibot.toml"
        config.write_text("[proxy]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in proxy_settings.items()))
        args = [sys.executable, "-m", "antibot", "run", "--config", str(config)]
        args += ["--listen", f"udp:{HOST}:{port}", "--listen", f"tcp:{HOST}:{port}"]
        for upstream in upstreams:
            args.append(f"--upstream={upstream}")
        args.extend(extra)
        if "--api-listen" not in args and "--detect" not in args:
            # Proxy-core tests: static rules only (no Redis, no model, no admin API port).
            args += ["--no-detect", "--no-api"]
        if "--detect" in args:
            args.remove("--detect")
            args.append("--no-api")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        log_path = workdir / "antibot.log"
        self.procs.artifacts.append((f"proxy log, {' '.join(args[2:])}", log_path))
        proc = self.procs.spawn(args, workdir, workdir / "stdout.log", log_path, grace=6.0, env=env)
        proxy = Proxy(port, proc, log_path)

        state = {"started logged": False, "OPTIONS ping answered": False}

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"antibot exited with {proc.returncode} before listening:\n" + read_text(log_path)[-3000:]
                )
            # each once, in order: pings sent while it starts would trip its flood limit
            state["started logged"] = state["started logged"] or any(_started(r) for r in proxy.records())
            if state["started logged"] and not state["OPTIONS ping answered"]:
                state["OPTIONS ping answered"] = proxy.ping()
            return all(state.values())

        try:
            wait_for(ready, ready_timeout, f"antibot to listen on {proxy.addr}")
        except AssertionError as exc:
            raise AssertionError(f"{exc} ({state}); log:\n" + read_text(log_path)[-3000:]) from None
        return proxy

    def blackhole(self) -> Blackhole:
        """A UDP port that takes datagrams and never answers (a hung PBX)."""
        hole = Blackhole()
        self.procs.sockets.append(hole.sock)
        return hole

    # ------------------------------------------------------------------ sipp
    def sipp(
        self,
        label: str,
        scenario: str,
        *,
        remote: str | None = None,
        transport: str = "udp",
        calls: int | None = None,
        rate: float | None = None,
        auto_answer: bool = False,
        trace_msg: bool = True,
        timeout: float = 30.0,
        extra: Iterable[str] = (),
    ) -> Sipp:
        """Start sipp with ``scenario`` (copied from scenarios/) in its own directory under tmp_path."""
        binary = shutil.which("sipp")
        if binary is None:
            pytest.fail(SIPP_MISSING, pytrace=False)
        workdir = self._dir(label)
        shutil.copy(SCENARIOS / scenario, workdir / scenario)
        port = free_port()
        args = [binary, "-sf", scenario, "-i", HOST, "-p", str(port), "-t", SIPP_TRANSPORT[transport], "-nostdin"]
        args += [*SIPP_TRACES, "-timeout", f"{timeout:g}s", "-timeout_error"]
        # Our own control port: sipp's default (8888, then the next free one) is shared with any other
        # sipp on the machine, and a stray "q" sent there would end our run early with exit code 0.
        args += ["-ci", HOST, "-cp", str(free_port())]
        if trace_msg:
            args += ["-trace_msg", "-message_file", "messages.log"]
        if auto_answer:
            args.append("-aa")
        if calls is not None:
            args += ["-m", str(calls)]
        if rate is not None:
            args += ["-r", f"{rate:g}"]
        args.extend(extra)
        if remote is not None:
            args.append(remote)
        for name in ("errors.log", "actions.log", "screen.log", "stderr.log"):
            self.procs.artifacts.append((f"sipp {label} {name}", workdir / name))
        proc = self.procs.spawn(args, workdir, workdir / "stdout.log", workdir / "stderr.log", grace=3.0)
        return Sipp(label, proc, workdir, port, timeout)

    def uas(self, scenario: str = "uas_answer.xml", *, label: str = "uas", transport: str = "udp", **kw: Any) -> Sipp:
        """A PBX: sipp in server mode, auto-answering the proxy's OPTIONS probes, bound and ready."""
        uas = self.sipp(label, scenario, transport=transport, auto_answer=True, **kw)
        wait_for(lambda: _listening(uas, transport), 10.0, f"sipp {label} to bind {uas.addr}/{transport}")
        return uas

    def uac(
        self, scenario: str, proxy: Proxy, *, label: str = "uac", calls: int = 1, rate: float = 10, **kw: Any
    ) -> Sipp:
        """A caller: run ``calls`` calls through ``proxy`` and wait for sipp to exit."""
        uac = self.sipp(label, scenario, remote=proxy.addr, calls=calls, rate=rate, **kw)
        uac.wait()
        return uac

    def _dir(self, label: str) -> Path:
        self._n += 1
        path = self.tmp / f"{self._n:02d}-{label}"
        path.mkdir()
        return path


def _listening(sipp: Sipp, transport: str) -> bool:
    """sipp has bound its SIP port (read from /proc/net, so no probe socket races sipp's bind)."""
    if sipp.proc.poll() is not None:
        raise AssertionError(
            f"sipp {sipp.label} exited early with {sipp.proc.returncode}: "
            + read_text(sipp.workdir / "stderr.log")
            + read_text(sipp.workdir / "stdout.log")[-2000:]
        )
    table, state = ("/proc/net/udp", "07") if transport == "udp" else ("/proc/net/tcp", "0A")
    for line in Path(table).read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == sipp.port:
            return True
    return False


def _started(record: dict[str, Any]) -> bool:
    """The node serves: one process has started, or the parent has seen every worker start."""
    if record.get("msg") == "antibot workers started":
        return True
    return record.get("msg") == "antibot proxy started" and "worker" not in record


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))
