"""Handles on the running peers: the antibot proxy and sipp, with their logs and counters."""

from __future__ import annotations

import ast
import csv
import json
import re
import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .procs import HOST, stop_process, wait_for


@dataclass
class Proxy:
    """A running ``antibot run`` on one UDP+TCP port."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (other lines, e.g. a traceback, are skipped)."""
        out = []
        for line in read_text(self.log_path).splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """SIGTERM (graceful: in-flight transactions finish), expect exit 0; the counters it logged
        (with workers: the node's sum, which the parent logs once every worker has stopped)."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"antibot did not exit within {timeout:g}s of SIGTERM") from None
        assert rc == 0, f"antibot exited {rc} on SIGTERM"
        stopped = [r for r in self.records() if r.get("msg") == "stopped" and "worker" not in r]
        assert stopped, "antibot did not log 'stopped'"
        stats = ast.literal_eval(str(stopped[-1].get("stats", "{}")))
        assert isinstance(stats, dict), stopped[-1]
        return stats

    def processes(self) -> int:
        """How many proxy processes serve: the node's workers, or 1."""
        started = [r for r in self.records() if r.get("msg") == "antibot workers started"]
        return int(started[-1]["workers"]) if started else 1

    def applied_at(self, version: int, msg: str = "policy applied") -> float | None:
        """When the last of the proxy's processes logged ``msg`` for policy ``version`` (epoch
        seconds); None until every worker has (each follows the policy on its own)."""
        seen: dict[object, float] = {}
        for r in self.records():
            if msg in str(r.get("msg")) and r.get("version") == version:
                seen.setdefault(
                    r.get("worker"), datetime.fromisoformat(str(r["ts"]).replace("Z", "+00:00")).timestamp()
                )
        return max(seen.values()) if seen and len(seen) >= self.processes() else None

    def own_vias(self, transport: str) -> set[str]:
        """The ``SIP/2.0/<T> host:port`` this proxy puts in its Vias over ``transport``: its public
        address, and over UDP with workers each worker's own port (responses come back to it)."""
        ports = {self.port}
        if transport.lower() == "udp":
            ports |= {
                int(r["own_port"])
                for r in self.records()
                if r.get("msg") == "antibot proxy started" and "own_port" in r
            }
        return {f"SIP/2.0/{transport.upper()} {HOST}:{p}" for p in ports}

    def is_own_via(self, via: str, transport: str) -> bool:
        """``via`` (a header value) is one this proxy added over ``transport``."""
        return via.split(";", 1)[0].strip() in self.own_vias(transport)

    def ping(self, timeout: float = 0.25) -> bool:
        """OPTIONS sip:HOST:PORT (no user part) over UDP; the proxy answers 200 itself."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, 0))
            sock.settimeout(timeout)
            local = sock.getsockname()[1]
            msg = (
                f"OPTIONS sip:{self.addr} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bK-e2e-ping-{local};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:e2e@{HOST}:{local}>;tag=ping{local}\r\nTo: <sip:{self.addr}>\r\n"
                f"Call-ID: e2e-ping-{local}@{HOST}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            try:
                sock.sendto(msg.encode(), (HOST, self.port))
                data = sock.recv(65535)
            except OSError:  # timeout, or ICMP port unreachable
                return False
        return data.startswith(b"SIP/2.0 200 ")


@dataclass
class Sipp:
    """One sipp process, run in its own directory with every trace file at a known name."""

    label: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    port: int
    timeout: float

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def wait(self, timeout: float | None = None) -> int:
        """Exit code; on timeout the process is stopped and the test fails."""
        try:
            return self.proc.wait(self.timeout + 15 if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            raise AssertionError(f"sipp {self.label} did not exit in time") from None

    def settle(self, calls: int, timeout: float = 15.0) -> None:
        """Wait until sipp has ended ``calls`` calls (per its once-a-second stats), then stop it.

        For a PBX: the proxy's OPTIONS probes, auto-answered with -aa, leave sipp calls that
        never end, so sipp's soft exit (SIGUSR1) would wait forever. SIGTERM writes final stats.
        """

        def ended() -> bool:
            try:
                stats = self.stats()
                return int(stats["SuccessfulCall(C)"]) + int(stats["FailedCall(C)"]) >= calls
            except (AssertionError, KeyError, TypeError, ValueError):  # not written yet, or half a line
                return False

        try:
            wait_for(ended, timeout, f"sipp {self.label} to end {calls} calls")
        finally:
            stop_process(self.proc)

    def stats(self) -> dict[str, str]:
        """The last row of the ``-trace_stat`` CSV (cumulative counters end in ``(C)``)."""
        return _last_csv_row(self.workdir / "stats.csv")

    def counts(self) -> dict[str, str]:
        """The last row of the ``-trace_counts`` CSV: per scenario step ``<i>_<msg>_Recv/Retrans/...``."""
        files = sorted(self.workdir.glob("*_counts.csv"))
        assert files, f"sipp {self.label}: no -trace_counts file in {self.workdir}"
        return _last_csv_row(files[0])

    def count(self, column: str) -> int:
        """A -trace_counts column: its full name (``2_200_Retrans``) or an unambiguous suffix (``INVITE_Recv``)."""
        row = self.counts()
        keys = [column] if column in row else [k for k in row if k.split("_", 1)[-1] == column]
        assert len(keys) == 1, f"sipp {self.label}: want one column {column!r}, have {sorted(row)}"
        return int(row[keys[0]])

    def stat(self, name: str) -> int:
        return int(self.stats()[name])

    def messages(self) -> str:
        return read_text(self.workdir / "messages.log")

    def requests(self, method: str) -> list[str]:
        """Every ``method`` request line sipp logged (sent or received), from ``-trace_msg``."""
        return [line for line in self.messages().splitlines() if line.startswith(f"{method} ")]

    def received(self, start_line: str) -> list[str]:
        """The messages sipp received whose start line begins with ``start_line`` (``-trace_msg``)."""
        out = []
        for block in re.split(r"^-{20,} .*$", self.messages(), flags=re.M):
            head, _, message = block.strip("\n").partition("\n")
            if re.match(r"(UDP|TCP) message received", head) and message.lstrip("\n").startswith(start_line):
                out.append(message.strip("\n"))
        return out

    def actions(self) -> str:
        """What the scenario's ``<log>`` actions wrote (the values its checks captured)."""
        return read_text(self.workdir / "actions.log")

    def errors(self) -> str:
        return read_text(self.workdir / "errors.log")

    def summary(self) -> str:
        stats = self.stats()
        keys = ("OutgoingCall(C)", "IncomingCall(C)", "SuccessfulCall(C)", "FailedCall(C)")
        return f"sipp {self.label}: " + ", ".join(f"{k}={stats.get(k)}" for k in keys)


def header_values(message: str, name: str) -> list[str]:
    """The values of header ``name`` in a logged SIP message, comma-separated lists split."""
    values: list[str] = []
    for line in message.split("\n\n", 1)[0].splitlines()[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            values.extend(v.strip() for v in value.split(",") if v.strip())
    return values


def _last_csv_row(path: Path) -> dict[str, str]:
    assert path.exists(), f"missing {path}"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    assert rows, f"{path} has no data row"
    return rows[-1]


def read_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def sipp_failure(*peers: Sipp) -> str:
    """Message for a failed assertion: each peer's counters and the start of its error log."""
    parts = []
    for peer in peers:
        try:
            parts.append(peer.summary())
        except AssertionError as exc:
            parts.append(f"sipp {peer.label}: {exc}")
        errors = peer.errors()
        if errors:
            parts.append(errors[:1500])
    return "\n".join(parts)


_TRACED = re.compile(
    r"^-{20,} (?P<at>\S+ \S+)\n(?:UDP|TCP|TLS) message (?P<way>sent|received)[^\n]*\n\n(?P<msg>.*?)(?=^-{20,} |\Z)",
    re.M | re.S,
)


def _traced(peer: Sipp) -> dict[str, list[tuple[str, str, str]]]:
    """``-trace_msg``'s messages by Call-ID: (time, sent/received, message)."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for m in _TRACED.finditer(peer.messages()):
        msg = m["msg"].strip("\n")
        call = next(iter(header_values(msg, "Call-ID") or header_values(msg, "i")), "")
        out.setdefault(call, []).append((m["at"], m["way"], msg))
    return out


def call_flows(caller: Sipp, *others: Sipp, limit: int = 3) -> str:
    """For a failed assertion: the calls ``caller`` placed that never got a 200 for their BYE, one
    line per message each peer logged (time, peer, way, start line, CSeq, top Via: whose port)."""
    calls = _traced(caller)
    unfinished = [
        call
        for call, msgs in calls.items()
        if call
        and not any(
            way == "received" and msg.startswith("SIP/2.0 200") and "BYE" in " ".join(header_values(msg, "CSeq"))
            for _, way, msg in msgs
        )
    ]
    traces = [(caller, calls), *((peer, _traced(peer)) for peer in others)]
    lines = [f"{len(unfinished)} call(s) without a 200 for their BYE; the first {min(limit, len(unfinished))}:"]
    for call in unfinished[:limit]:
        rows = []
        for peer, by_call in traces:
            for at, way, msg in by_call.get(call, []):
                start = msg.split("\n", 1)[0]
                cseq = " ".join(header_values(msg, "CSeq"))
                via = next(iter(header_values(msg, "Via")), "").split(";", 1)[0]
                rows.append(f"  {at} {peer.label:>5} {way:>8} {start[:48]} | {cseq} | {via}")
        lines += [f"Call-ID {call}:", *sorted(rows)]
    return "\n".join(lines)
