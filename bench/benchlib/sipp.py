"""Driving sipp: the caller (UAC) and the PBX (UAS), their statistics and message logs."""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from .procs import HOST, stop_process, wait_udp_bound

SIPP = "sipp"
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
# A late 180 after the 200 (multi-process proxies) or a proxy's INVITE retransmission after the
# UAS already sent 180+200 (sipp only recognises a retransmission of what it answered last) must
# not abort the call: both ends run with -abortunexp off, for both proxies alike.
BEHAVIORS = ["-default_behaviors", "all,-abortunexp"]
RECV_TIMEOUT_MS = 5000
BUFF = ["-buff_size", "1048576"]


def read_rows(path: Path) -> list[dict[str, str]]:
    """All rows of a sipp ``-trace_stat`` CSV file (one per -fd period, plus the final one)."""
    try:
        with open(path, newline="", errors="replace") as fh:
            rows = [r for r in csv.reader(fh, delimiter=";") if r]
    except OSError:
        return []
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]


def read_stats(path: Path) -> dict[str, str]:
    """The last row of a sipp ``-trace_stat`` CSV file, as {column: value}."""
    rows = read_rows(path)
    return rows[-1] if rows else {}


def _epoch(value: str) -> float:
    # "2026-11-26\t09:17:19.746412\t1795684639.746412"
    try:
        return float(value.split()[-1])
    except (ValueError, IndexError):
        return 0.0


def _int(stats: dict[str, str], key: str) -> int:
    try:
        return int(stats.get(key, "0") or 0)
    except ValueError:
        return 0


def placement_rate(rows: list[dict[str, str]], calls: int) -> float | None:
    """Calls/s sipp really placed: over the whole seconds before the last call left (sipp's
    per-second rows), or, for a run shorter than one row, over the run itself."""
    if not rows:
        return None
    start = _epoch(rows[0].get("StartTime", ""))
    best = None
    for row in rows:
        t, n = _epoch(row.get("CurrentTime", "")) - start, _int(row, "OutgoingCall(C)")
        if n >= calls:
            break
        if t >= 0.5 and n > 0:
            best = n / t
    if best is None:
        last = rows[-1]
        elapsed = _epoch(last.get("CurrentTime", "")) - start
        best = _int(last, "OutgoingCall(C)") / elapsed if elapsed > 0 else None
    return best


def summarize(stats: dict[str, str]) -> dict[str, object]:
    """The cumulative counters that matter, from one stats row."""
    if not stats:
        return {"stats": "missing"}
    failures = {
        k[6:-3]: _int(stats, k)
        for k in stats
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and _int(stats, k)
    }
    return {
        "incoming": _int(stats, "IncomingCall(C)"),
        "outgoing": _int(stats, "OutgoingCall(C)"),
        "successful": _int(stats, "SuccessfulCall(C)"),
        "failed": _int(stats, "FailedCall(C)"),
        "current": _int(stats, "CurrentCall"),
        "failure_reasons": failures,
        "retransmissions": _int(stats, "Retransmissions(C)"),
        "out_of_call_msgs": _int(stats, "OutOfCallMsgs(C)"),
        "dead_call_msgs": _int(stats, "DeadCallMsgs(C)"),
        "elapsed_s": round(_epoch(stats.get("CurrentTime", "")) - _epoch(stats.get("StartTime", "")), 3),
    }


def run_uac(
    workdir: Path,
    target_port: int,
    port: int,
    rate: int,
    calls: int,
    *,
    trace_msg: bool = False,
    tag: str = "uac",
    transport: str = "u1",
) -> dict[str, object]:
    """Place ``calls`` calls at ``rate`` calls/s through 127.0.0.1:``target_port``; bounded in time.
    ``transport`` is sipp's ``-t``: ``u1`` (UDP) or ``t1`` (all calls on one TCP connection)."""
    workdir.mkdir(parents=True, exist_ok=True)
    bound = int(calls / rate + 20)
    cmd = [
        SIPP,
        "-sf",
        str(SCENARIOS / "uac_call.xml"),
        "-i",
        HOST,
        "-p",
        str(port),
        "-t",
        transport,
        "-r",
        str(rate),
        "-rp",
        "1000",
        "-m",
        str(calls),
        "-l",
        str(max(1000, rate * 10)),
        "-nostdin",
        "-recv_timeout",
        str(RECV_TIMEOUT_MS),
        "-timeout",
        f"{bound}s",
        *BEHAVIORS,
        *BUFF,
        "-trace_stat",
        "-stf",
        f"{tag}_stats.csv",
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        f"{tag}_errors.log",
        "-trace_counts",
    ]
    if trace_msg:
        cmd += ["-trace_msg", "-message_file", f"{tag}_messages.log"]
    cmd.append(f"{HOST}:{target_port}")
    t0 = time.monotonic()
    with open(workdir / f"{tag}_stderr.log", "wb") as err:
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        try:
            rc = proc.wait(bound + 15)
        except subprocess.TimeoutExpired:
            stop_process(proc, signal.SIGKILL)
            rc = None
    wall = time.monotonic() - t0
    rows = read_rows(workdir / f"{tag}_stats.csv")
    stats = rows[-1] if rows else {}
    out = summarize(stats)
    out.update({"rate": rate, "calls": calls, "exit_code": rc, "wall_s": round(wall, 3), "cmd": " ".join(cmd)})
    # Anything but a completed call counts against the proxy: failed, rejected, still open or never placed.
    out["not_successful"] = calls - _int(stats, "SuccessfulCall(C)")
    out["final_errors_received"] = error_responses(workdir / f"uac_call_{proc.pid}_counts.csv")
    achieved = placement_rate(rows, calls)
    out["achieved_cps"] = round(achieved, 1) if achieved else None
    return out


def error_responses(counts_csv: Path) -> dict[str, int]:
    """Error final responses the caller received, by status, from sipp's ``-trace_counts`` file."""
    last = read_stats(counts_csv)
    out: dict[str, int] = {}
    for key in last:
        m = re.fullmatch(r"\d+_([3-6]\d\d)_Recv", key)
        if m and _int(last, key):
            out[m.group(1)] = out.get(m.group(1), 0) + _int(last, key)
    return out


class Uas:
    """A sipp PBX answering every INVITE with 180 + 200 (``uas_answer.xml``)."""

    def __init__(self, workdir: Path, port: int, *, trace_msg: bool = False, lifetime_s: int = 600) -> None:
        self.workdir, self.port, self.trace_msg = workdir, port, trace_msg
        self.lifetime_s = lifetime_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.signalled = False

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            SIPP,
            "-sf",
            str(SCENARIOS / "uas_answer.xml"),
            "-i",
            HOST,
            "-p",
            str(self.port),
            "-nostdin",
            *BEHAVIORS,
            *BUFF,
            "-timeout",
            f"{self.lifetime_s}s",
            "-trace_stat",
            "-stf",
            "uas_stats.csv",
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            "uas_errors.log",
        ]
        if self.trace_msg:
            cmd += ["-trace_msg", "-message_file", "uas_messages.log"]
        with open(self.workdir / "uas_stderr.log", "wb") as err:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        if not wait_udp_bound(self.port, 10.0, self.proc):
            stop_process(self.proc, signal.SIGKILL)
            raise RuntimeError(f"sipp UAS did not bind udp {self.port}; see {self.workdir}/uas_stderr.log")

    def request_stop(self) -> None:
        """Ask sipp to quit gracefully (it finishes its 4 s time-wait, then writes final stats)."""
        if self.proc is not None and self.proc.poll() is None and not self.signalled:
            self.proc.send_signal(signal.SIGUSR1)  # a second SIGUSR1 makes sipp quit at once
            self.signalled = True

    def collect(self, grace: float = 10.0) -> dict[str, object]:
        """Wait (bounded) for the UAS to exit and return its counters; SIGTERM after ``grace``
        (sipp still writes its final statistics and closes its logs), SIGKILL as a last resort."""
        if self.proc is None:
            return {}
        self.request_stop()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, signal.SIGTERM, grace=3.0)
        return summarize(read_stats(self.workdir / "uas_stats.csv"))


# ---------------------------------------------------------------- -trace_msg logs
_HEADER = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)\n\w+ message (sent|received)[^\n]*\n\n", re.M)
_CALL_ID = re.compile(r"^(?:Call-ID|i)\s*:\s*(\S+)", re.M | re.I)


def first_times(path: Path, direction: str, method: str = "INVITE") -> dict[str, float]:
    """Call-ID -> time (epoch s, sipp's gettimeofday) of the first ``method`` request sent/received."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    out: dict[str, float] = {}
    heads = list(_HEADER.finditer(text))
    prefix = method + " "
    for i, m in enumerate(heads):
        if m.group(3) != direction or not text.startswith(prefix, m.end()):
            continue
        body = text[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        cid = _CALL_ID.search(body)
        if cid and cid.group(1) not in out:
            ts = datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M:%S.%f")
            out[cid.group(1)] = ts.timestamp()
    return out
