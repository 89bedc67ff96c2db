"""One scenario's rig: a sipp PBX, the proxy (detection on, the shipped model, enforce mode, the
admin API), a sipp caller placing legitimate calls at a fixed rate, and a sampler reading the
proxy's CPU and RSS (``/proc``) and Redis's ``used_memory`` twice a second.

Processes are started through the e2e harness (``tests/e2e``), so they are bounded in time and
stopped (TERM, then KILL, by pid) whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.harness import Harness
from tests.e2e.peers import Proxy, Sipp
from tests.e2e.procs import HOST, Processes, free_port, wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Legitimate calls per second placed through the proxy in every scenario.
LEGIT_RATE = 20
TOKEN_ENV = "ANTIBOT_API_TOKEN"
#: Proxy workers per scenario (``bench/faults.py --workers``). With more than one, CPU is the sum
#: over the process tree (parent, workers, standby; not redis-server) and RSS the largest process.
WORKERS = 1


def api_token() -> str:
    """The admin token the proxy is started with (a strong one, set once per bench process)."""
    if len(os.environ.get(TOKEN_ENV, "")) < 16:
        os.environ[TOKEN_ENV] = secrets.token_urlsafe(24)
    return os.environ[TOKEN_ENV]


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` (all its threads), or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _comm_and_ppid(pid: int) -> tuple[str, int] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.index("(") + 1 : raw.rindex(")")], int(raw[raw.rindex(")") + 2 :].split()[1])


def proxy_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, without ``redis-server`` (the embedded store is reported apart)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _comm_and_ppid(int(entry.name))) and info[0] != "redis-server":
            parents.setdefault(info[1], []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def redis_command(addr: str, *args: str, timeout: float = 1.0) -> Any:
    """One RESP command to ``addr`` (a unix socket path or HOST:PORT); the decoded reply."""
    from .resp import command

    return command(addr, list(args), timeout)


def redis_used_mb(addr: str | None) -> float | None:
    if addr is None:
        return None
    try:
        info = str(redis_command(addr, "INFO", "memory", timeout=0.5))
    except (OSError, ValueError):
        return None
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1]) / 2**20
    return None


@dataclass
class Sample:
    t: float
    phase: str
    cpu_pct: float | None
    rss_mb: float | None
    redis_mb: float | None


@dataclass
class Result:
    """What one scenario reports: the legitimate calls, resources per phase, figures and checks."""

    name: str
    title: str
    placed: int = 0
    completed: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    resources: dict[str, dict[str, float | None]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, bool]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def check(self, what: str, ok: bool) -> bool:
        self.checks.append((what, bool(ok)))
        return bool(ok)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok in self.checks)

    @property
    def completed_ratio(self) -> float:
        return self.completed / self.placed if self.placed else 0.0


class Rig:
    """Start peers for one scenario; ``close()`` stops them all."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.procs = Processes()
        self.h = Harness(self.procs, workdir)
        self.proxy: Proxy | None = None
        self.api = ""
        self.redis_addr: str | None = None
        self.phase = "before"
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    # ---------------------------------------------------------------- peers
    def pbx(self, scenario: str = "uas_answer.xml", label: str = "pbx", trace_msg: bool = False) -> Sipp:
        return self.h.uas(scenario, label=label, timeout=900, trace_msg=trace_msg)

    def start_proxy(
        self,
        upstreams: list[str],
        *,
        mode: str = "enforce",
        redis_url: str | None = None,
        settings: dict[str, Any] | None = None,
        extra: list[str] | None = None,
        data_dir: Path | None = None,
    ) -> Proxy:
        api_token()
        api_port = free_port()
        args = ["--api-listen", f"{HOST}:{api_port}", "--mode", mode, "--log-level", "info", *(extra or [])]
        if "--workers" not in args:
            # One process unless asked: the figures sample one process's RSS and CPU, and each
            # worker learns on its own that a PBX is down (the fail-fast checks assume one view).
            args += ["--workers", str(WORKERS)]
        if redis_url:
            args += ["--redis-url", redis_url]
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
        self.proxy = self.h.proxy(upstreams, extra=args, settings=settings, ready_timeout=60)
        self.api = f"http://{HOST}:{api_port}"
        if redis_url:
            self.redis_addr = redis_url.removeprefix("redis://")
        else:
            self.redis_addr = str((data_dir or self.proxy.log_path.parent / "antibot-data") / "redis.sock")
        wait_for(lambda: self.get("/readyz")[0] == 200, 30.0, "the admin API's /readyz")
        return self.proxy

    def caller(self, seconds: float, rate: int = LEGIT_RATE, label: str = "legit", transport: str = "udp") -> Sipp:
        """A sipp caller placing ``rate * seconds`` calls through the proxy, in the background."""
        assert self.proxy is not None
        calls = max(1, int(rate * seconds))
        return self.h.sipp(
            label,
            "uac_call.xml",
            remote=self.proxy.addr,
            calls=calls,
            rate=rate,
            trace_msg=False,
            timeout=seconds + 60,
            transport=transport,
            extra=["-recv_timeout", "15000", "-l", str(rate * 40)],
        )

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """GET on the admin API with the admin token: (status, body); 0 when it does not answer."""
        request = urllib.request.Request(self.api + path, headers={"Authorization": f"Bearer {api_token()}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return int(reply.status), reply.read().decode()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode(errors="replace")
        except OSError:
            return 0, ""

    def metric(self, name: str) -> float:
        """The sum of every sample of ``name`` on /metrics (0 when absent)."""
        total = 0.0
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(name) and not line.startswith("#"):
                with contextlib.suppress(ValueError):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def log(self, msg: str) -> list[dict[str, Any]]:
        assert self.proxy is not None
        return [r for r in self.proxy.records() if r.get("msg") == msg]

    # ---------------------------------------------------------------- sampling
    def start_sampling(self, interval: float = 0.5) -> None:
        assert self.proxy is not None
        pid = self.proxy.proc.pid

        def tree() -> list[int]:
            return proxy_tree(pid) if WORKERS > 1 else [pid]

        def cpu_of(pids: list[int]) -> dict[int, float]:
            return {p: c for p in pids if (c := cpu_seconds(p)) is not None}

        def run() -> None:
            last_cpu, last_t = cpu_of(tree()), time.monotonic()
            while not self._stop.wait(interval):
                pids = tree()
                cpu, now = cpu_of(pids), time.monotonic()
                pct = None
                if pid in cpu and pid in last_cpu and now > last_t:
                    # A worker started since the last sample counts from 0 (its whole life is inside).
                    pct = 100 * sum(c - last_cpu.get(p, 0.0) for p, c in cpu.items()) / (now - last_t)
                last_cpu, last_t = cpu, now
                rss = [r for p in pids if (r := rss_mb(p)) is not None]
                self.samples.append(
                    Sample(time.time(), self.phase, pct, max(rss) if rss else None, redis_used_mb(self.redis_addr))
                )

        self._sampler = threading.Thread(target=run, name="sampler", daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(5)

    def resources(self) -> dict[str, dict[str, float | None]]:
        """Per metric: the mean before, the peak during, the mean after (the last few samples)."""
        out: dict[str, dict[str, float | None]] = {}
        for metric in ("cpu_pct", "rss_mb", "redis_mb"):

            def vals(phase: str, metric: str = metric) -> list[float]:
                return [v for s in self.samples if s.phase == phase and (v := getattr(s, metric)) is not None]

            before, during, after = vals("before"), vals("during"), vals("after")
            out[metric] = {
                "before": _mean(before[-4:]),
                "peak": max(during + after) if during + after else None,
                "after": _mean(after[-4:]),
            }
        return out

    def finish(self, result: Result, caller: Sipp | None) -> Result:
        """Fill the legitimate calls and the resources into ``result``."""
        self.stop_sampling()
        if caller is not None:
            stats = caller.stats()
            result.placed = int(stats.get("OutgoingCall(C)", 0))
            result.completed = int(stats.get("SuccessfulCall(C)", 0))
            result.failed = int(stats.get("FailedCall(C)", 0))
            result.errors = sipp_errors(caller)
        result.resources = self.resources()
        result.samples = list(self.samples)
        return result

    def close(self) -> None:
        self.stop_sampling()
        self.procs.stop_all()


def sipp_errors(sipp: Sipp) -> dict[str, int]:
    """Non-zero timeout / unexpected / error-response counters of a caller's -trace_counts file."""
    try:
        row = sipp.counts()
    except AssertionError:
        return {}
    out: dict[str, int] = {}
    for key, value in row.items():
        if key and value.isdigit() and int(value) and key.endswith(("_Timeout", "_Unexp")):
            out[key] = int(value)
    return out


def wait_caller(caller: Sipp, seconds: float) -> int | None:
    """Wait (bounded) for a caller to end; its exit code, or None if it had to be stopped."""
    try:
        return caller.wait(seconds + 60)
    except AssertionError:
        return None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))


def udp_request(port: int, msg: bytes, src: tuple[str, int] = (HOST, 0), timeout: float = 3.0) -> bytes | None:
    """Send one datagram to the proxy and return the first final response (or None)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(src)
        sock.settimeout(timeout)
        sock.sendto(msg, (HOST, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535)
            except OSError:
                return None
            if not data.startswith(b"SIP/2.0 1"):
                return data
    return None


def tcp_ping(port: int, timeout: float = 3.0) -> str:
    """OPTIONS to the proxy itself over a new TCP connection from 127.0.0.1: the status line, or why not."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            local = sock.getsockname()[1]
            sock.sendall(
                (
                    f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\nVia: SIP/2.0/TCP {HOST}:{local};branch=z9hG4bK-tp{local}\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:bench@{HOST}>;tag=tp{local}\r\nTo: <sip:{HOST}:{port}>\r\n"
                    f"Call-ID: tcp-ping-{local}@{HOST}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                ).encode()
            )
            return sock.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace") or "closed"
    except OSError as exc:
        return type(exc).__name__
