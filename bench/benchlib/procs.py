"""Processes under test: free ports, readiness, CPU accounting from /proc, and the proxies.

Proxy kinds: ``antibot`` (one process, ``--workers 1``), ``antibot-w<N>`` (``--workers N``),
``antibot-wN`` (one worker per usable core) and ``kamailio`` (its own default number of UDP
children, 8; ``KAMAILIO_CHILDREN=N`` in the environment sets N).
Any of them can also listen for TLS beside its UDP port (:class:`TlsListener`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"


# ---------------------------------------------------------------- ports and sockets
def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _udp_table() -> list[tuple[int, int]]:
    """(local port, kernel drop counter) of every bound IPv4 UDP socket."""
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 13:
            out.append((int(parts[1].split(":")[1], 16), int(parts[12])))
    return out


def udp_sockets() -> dict[int, int]:
    """Bound IPv4 UDP sockets: local port -> kernel drop counter (summed if several, e.g. SO_REUSEPORT)."""
    out: dict[int, int] = {}
    for port, drops in _udp_table():
        out[port] = out.get(port, 0) + drops
    return out


def wait_udp_bound(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, count: int = 1) -> bool:
    """Wait until ``count`` sockets are bound to ``port`` (workers sharing it with SO_REUSEPORT)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for p, _ in _udp_table() if p == port) >= count:
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is bound to right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def tcp_listening(text: str, port: int) -> int:
    """How many IPv4 sockets listen on ``port``, in the text of ``/proc/net/tcp``."""
    n = 0
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 3 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
            n += 1
    return n


def wait_tcp_listening(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, count: int = 1) -> bool:
    """Wait until ``count`` sockets listen on TCP ``port`` (no probe connection is made)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if tcp_listening(Path("/proc/net/tcp").read_text(), port) >= count:
                return True
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def wait_tls_handshake(port: int, ca: Path, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until a TLS handshake with 127.0.0.1:``port`` completes (certificate verified against
    ``ca``). A listening socket is not enough: antibot holds each listen address with a socket of
    its own from start-up until the real listener takes it over, and a connection made to that
    one is reset."""
    ctx = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as raw, ctx.wrap_socket(raw, server_hostname=HOST):
                return True
        except OSError:  # refused, reset, timed out (nobody accepts yet) or a failed handshake
            pass
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- CPU accounting
def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]; None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _comm(pid: int) -> str | None:
    """The command name of ``pid`` (``/proc/<pid>/stat``, between the parentheses)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.index("(") + 1 : raw.rindex(")")]


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_split(root: int, name: str = "redis-server") -> tuple[float, float]:
    """CPU seconds of ``root`` and all its descendants, and the part of it spent in processes
    called ``name`` (with their own descendants): ``(total, part)``.

    Each process counts utime+stime plus cutime+cstime (its reaped children, e.g. a worker that
    died and was replaced). /proc/<pid>/stat of a process already sums all its threads, so a
    multi-threaded process needs no per-task walk; a multi-process server (antibot's parent,
    workers and standby; Kamailio's main, timer and worker processes) is covered by the tree walk.
    """
    total = part = 0
    named: set[int] = set()
    for pid in descendants(root):  # parents come before their children
        st = _stat(pid)
        if st is None:
            continue
        ticks = int(st[11]) + int(st[12]) + int(st[13]) + int(st[14])
        total += ticks
        if _comm(pid) == name or int(st[1]) in named:
            named.add(pid)
            part += ticks
    return total / CLK_TCK, part / CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """utime+stime (+cutime+cstime of reaped children) of ``root`` and all its descendants."""
    return tree_cpu_split(root)[0]


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- process lifecycle
def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 5.0) -> dict[str, object]:
    """Signal ``proc`` (only it), wait ``grace`` s, then SIGKILL its own process group."""
    t0 = time.monotonic()
    clean = True
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            clean = False
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group we created with start_new_session
            proc.wait(5)
    return {"exit_code": proc.returncode, "stopped_cleanly": clean, "stop_seconds": round(time.monotonic() - t0, 2)}


_KAM_LEVEL = re.compile(r"\b(ALERT|BUG|CRITICAL|ERROR|WARNING)\b:?\s*(.*)")


def summarize_log(path: Path, limit: int = 8) -> dict[str, object]:
    """Count warning-and-worse lines of a proxy log (antibot JSON lines or Kamailio text)."""
    levels: Counter[str] = Counter()
    msgs: Counter[str] = Counter()
    first: list[str] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        level, msg = None, None
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {}
            level = str(rec.get("level", "")).lower()
            if level in ("debug", "info", ""):
                level = None
            msg = str(rec.get("msg", ""))
        else:
            m = _KAM_LEVEL.search(line)
            if m:
                level, msg = m.group(1).lower(), re.sub(r"\d+", "N", m.group(2))[:120]
        if level:
            levels[level] += 1
            msgs[f"{level}: {msg}"] += 1
            if len(first) < limit:
                first.append(line[:400])
    return {
        "lines": len(lines),
        "by_level": dict(levels),
        "messages": dict(msgs.most_common(limit)),
        "first_lines": first,
        "tail": [x[:400] for x in lines[-limit:]],
    }


#: Kamailio's default UDP workers (core parameter ``children``; ``tcp_children`` defaults to the
#: same): bench/kamailio/kamailio.cfg leaves both unset unless ``KAMAILIO_CHILDREN`` asks.
KAMAILIO_DEFAULT_CHILDREN = 8


def kamailio_children() -> int | None:
    """``KAMAILIO_CHILDREN=N`` from the environment (N UDP and TCP workers), else None: Kamailio's
    own default."""
    text = os.environ.get("KAMAILIO_CHILDREN", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"KAMAILIO_CHILDREN must be a positive integer, not {text!r}")
    return int(text)


ANTIBOT_MODE = "monitor"  # detection scores every call and still relays it (see bench/README.md)


def parse_kind(kind: str) -> tuple[str, int]:
    """``(program, processes)`` of a proxy kind: ``antibot`` = one worker, ``antibot-w<N>`` = N
    workers, ``antibot-wN`` = one per usable core, ``kamailio`` = its UDP children."""
    if kind == "kamailio":
        return "kamailio", kamailio_children() or KAMAILIO_DEFAULT_CHILDREN
    if kind == "antibot":
        return "antibot", 1
    if kind.startswith("antibot-w"):
        n = kind[len("antibot-w") :]
        if n == "N":
            return "antibot", len(os.sched_getaffinity(0))
        if n.isdigit() and int(n) >= 1:
            return "antibot", int(n)
    raise ValueError(f"unknown proxy kind {kind!r} (antibot, antibot-w<N>, antibot-wN, kamailio)")


@dataclass(frozen=True)
class TlsListener:
    """A TLS listener beside the proxy's UDP port (the PBX side stays UDP): its port, the server
    certificate and key, the ``tls.cfg`` holding them for Kamailio, and the CA that signed them."""

    port: int
    cert: Path
    key: Path
    kamailio_cfg: Path
    ca: Path


class Proxy:
    """One proxy process (and its process tree) of a kind accepted by :func:`parse_kind`."""

    def __init__(
        self, kind: str, workdir: Path, port: int, upstream_port: int, repo: Path, tls: TlsListener | None = None
    ) -> None:
        self.kind, self.workdir, self.port, self.upstream_port, self.repo = kind, workdir, port, upstream_port, repo
        self.tls = tls
        self.program, self.workers = parse_kind(kind)
        self.log_path = workdir / f"{kind}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.program == "antibot":
            t = self.tls
            tls = (
                []
                if t is None
                else ["--listen", f"tls:{HOST}:{t.port}", "--tls-cert", str(t.cert), "--tls-key", str(t.key)]
            )
            return [
                str(self.repo / ".venv/bin/python"),
                "-m",
                "antibot",
                "run",
                "--listen",
                f"udp:{HOST}:{self.port}",
                *tls,  # beside the UDP listener: the PBX side stays UDP
                "--upstream",
                f"sip:{HOST}:{self.upstream_port}",
                "--probe-interval",
                "0",
                "--log-level",
                "warning",
                # its embedded Redis keeps data here: fresh per run, nothing outside bench/
                "--data-dir",
                str(self.workdir / "antibot-data"),
                "--no-api",
                "--workers",
                str(self.workers),
                "--mode",
                ANTIBOT_MODE,
                # e.g. ANTIBOT_BENCH_ARGS="--no-detect" measures the proxy core alone
                *os.environ.get("ANTIBOT_BENCH_ARGS", "").split(),
            ]
        return kamailio_command(self.repo, self.workdir, self.port, self.upstream_port, kamailio_children(), self.tls)

    def env(self) -> dict[str, str]:
        """The environment: antibot is imported from this checkout (``repo``), even when the venv's
        editable install points at another one (a ``git worktree`` sharing the main venv)."""
        env = dict(os.environ)
        if self.program == "antibot":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.repo), env.get("PYTHONPATH", "")]))
        return env

    def start(self, timeout: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # antibot's workers each bind the public port (SO_REUSEPORT); Kamailio binds it once
        count = self.workers if self.program == "antibot" else 1
        if not wait_udp_bound(self.port, timeout, self.proc, count):
            info = stop_process(self.proc)
            raise RuntimeError(f"{self.kind} did not bind udp {self.port} ({info}); log: {self.log_path}")
        if self.tls is not None and not (
            wait_tcp_listening(self.tls.port, timeout, self.proc, count)
            and wait_tls_handshake(self.tls.port, self.tls.ca, timeout, self.proc)
        ):
            info = stop_process(self.proc)
            raise RuntimeError(
                f"{self.kind} did not complete a TLS handshake on {self.tls.port} ({info}); log: {self.log_path}"
            )
        if self.program == "kamailio":
            _wait_stable_tree(self.proc.pid)
        # start-up work after the bind (antibot's standby importing, workers loading the model)
        # must not fall into the first measured window
        _wait_quiet(self.proc.pid)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu(self) -> float:
        return tree_cpu_seconds(self.pid)

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds of the whole tree, and of its embedded ``redis-server`` (0 for Kamailio)."""
        return tree_cpu_split(self.pid)

    def stop(self) -> dict[str, object]:
        if self.proc is None:
            return {}
        crashed = self.proc.poll() is not None
        info = stop_process(self.proc, grace=5.0)
        info["crashed_during_run"] = crashed
        return info


KAMAILIO_MEM = "tlsf"  # Kamailio's fast allocator; the build's default (qm, a debugging one) costs ~2.5x CPU


def kamailio_command(
    repo: Path,
    workdir: Path,
    port: int,
    upstream_port: int,
    children: int | None = None,
    tls: TlsListener | None = None,
) -> list[str]:
    return [
        "kamailio",
        "-DD",
        "-E",
        "-f",
        str(repo / "bench/kamailio/kamailio.cfg"),
        "-m",
        "512",
        "-M",
        "8",
        "-x",
        KAMAILIO_MEM,
        "-X",
        KAMAILIO_MEM,
        "-A",
        f"BENCH_LISTEN=udp:{HOST}:{port}",
        "-A",
        f'BENCH_UPSTREAM="sip:{HOST}:{upstream_port}"',
        *(["-A", f"BENCH_CHILDREN={children}"] if children is not None else []),  # None: Kamailio's default
        *(kamailio_tls_defines(tls) if tls is not None else []),
        "-P",
        str(workdir / "kamailio.pid"),
        "-w",
        str(workdir),
        "-Y",
        str(workdir),
    ]


def kamailio_tls_defines(tls: TlsListener) -> list[str]:
    """The defines that turn on bench/kamailio/kamailio.cfg's TLS listener (see its header)."""
    return [
        "-A",
        "BENCH_TLS",
        "-A",
        f"BENCH_TLS_LISTEN=tls:{HOST}:{tls.port}",
        "-A",
        f'BENCH_TLS_CFG="{tls.kamailio_cfg}"',
    ]


def _wait_stable_tree(pid: int, timeout: float = 5.0) -> None:
    """Kamailio forks its workers after binding: wait until the process count stops changing."""
    deadline, last, stable = time.monotonic() + timeout, -1, 0
    while time.monotonic() < deadline and stable < 3:
        n = len(descendants(pid))
        stable = stable + 1 if n == last and n > 1 else 0
        last = n
        time.sleep(0.1)


def _wait_quiet(pid: int, timeout: float = 15.0, window: float = 0.3, share: float = 0.1) -> None:
    """Wait (at most ``timeout`` s) until the tree of ``pid`` uses < ``share`` of a core over ``window`` s."""
    deadline = time.monotonic() + timeout
    last = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = tree_cpu_seconds(pid)
        if now - last < share * window:
            return
        last = now


def check_kamailio_config(repo: Path, tls: TlsListener | None = None) -> tuple[bool, str]:
    """``kamailio -c`` on the config (with ``tls``: its TLS variant, the tls module loaded)."""
    cmd = ["kamailio", "-c", "-f", str(repo / "bench/kamailio/kamailio.cfg")]
    res = subprocess.run(
        cmd + (kamailio_tls_defines(tls) if tls is not None else []), capture_output=True, text=True, timeout=30
    )
    out = (res.stdout + res.stderr).strip()
    return res.returncode == 0, out[-600:]


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from the first line of /proc/stat."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]  # no guest (in user)
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)
