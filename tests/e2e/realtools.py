"""Real attack tools against the proxy: SIPVicious 0.3.8 (PyPI) in front of a PBX that answers as a real one.

One *case* is: the proxy with detection on (enforce mode, the shipped model) before a sipp PBX
(scenarios/uas_pbx.xml: 200 for extensions 100-105 and outside numbers, 404 for the rest, 401 then
403 for REGISTER); a SIPVicious tool run from one loopback address; and, for a *shared* address,
ordinary office calls (scenarios/uac_office.xml, a Yealink desk-phone layout) from that same
address before the tool runs and after it. What reached the PBX is read from the PBX's own message
log: each request once (retransmissions collapse), labelled by the proxy's ``X-Antibot-Verdict``.
Used by test_real_tools.py (assertions) and bench/realtools.py (the table).
"""

from __future__ import annotations

import math
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .harness import Harness
from .peers import Proxy, Sipp, read_text
from .procs import free_port, wait_for

LAUNCHER = Path(__file__).resolve().parent / "sipvicious_ua.py"
#: The office phones' User-Agent; anything else that reaches the PBX came from the tool.
OFFICE_UA = "Yealink SIP-T46S 66.86.0.15"
#: A popular softphone's User-Agent, copied by the tool.
SPOOFED_UA = "Zoiper rv2.10.19.6"
#: The sweep: 200 extensions, none of which exists on the PBX (it answers 404).
SWEEP_RANGE = "400-599"
SWEEP_SIZE = 200
#: svcrack: one username, 100 numeric passwords (two REGISTERs each: a bare one, then the answer).
CRACK_USER = "101"
CRACK_RANGE = "1000-1099"
#: svcrack has stopped sending (no password left, or an answer it does not know: the proxy's 603 or 503).
SVCRACK_DONE = ("no more passwords", "We got an unknown response")


@dataclass
class Case:
    """One run: ``tool`` is svmap, svwar or svcrack; ``ua`` None keeps the tool's own User-Agent."""

    tool: str
    ua: str | None
    shared: bool
    source: str
    legit_before: int = 80
    legit_after: int = 20
    legit_rate: float = 2.0
    #: The tool's ``-t`` (seconds it waits for an answer before sending the next request); None: its default, 0.005.
    pace: float | None = None

    @property
    def name(self) -> str:
        paced = f"-t{self.pace:g}" if self.pace else ""
        return f"{self.tool}{paced}-{'spoofed' if self.ua else 'default'}-{'shared' if self.shared else 'fresh'}"


@dataclass
class Outcome:
    """What the PBX saw of one case."""

    case: Case
    method: str
    #: Requests the tool sent (from its own debug log).
    sent: int
    #: The tool's requests at the PBX, by X-Antibot-Verdict ("none" if the header is missing).
    reached: Counter[str] = field(default_factory=Counter)
    #: Ordinary calls placed, and of those: relayed as pass, relayed as anything else, answered 200 end to end.
    legit_placed: int = 0
    legit_pass: int = 0
    legit_flagged: int = 0
    legit_answered: int = 0
    #: Each ordinary call not relayed as pass: its From user, verdict, score and reasons, in order.
    legit_not_passed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    tool_log: str = ""

    @property
    def reached_total(self) -> int:
        return sum(self.reached.values())

    @property
    def stopped(self) -> int:
        """Sent but not at the PBX: rejected or dropped by the proxy."""
        return max(0, self.sent - self.reached_total)

    def summary(self) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.reached.items())) or "none"
        legit = (
            f"; legit {self.legit_pass}/{self.legit_placed} pass ({self.legit_flagged} flagged,"
            f" {self.legit_answered} answered)"
            if self.legit_placed
            else ""
        )
        return (
            f"{self.case.name}: {self.method} sent {self.sent}, reached PBX {self.reached_total} ({labels}),"
            f" stopped {self.stopped}{legit} [{self.seconds:.1f}s]"
        )


#: People's answered calls: log-normal lengths, median 12 s (1 in 8 under 6 s, the detector's
#: "hung up at once"), within 2-30 s; real calls run longer, so this errs on the bots' side.
HELD_MEDIAN_S, HELD_SIGMA, HELD_RANGE_S = 12.0, 0.6, (2.0, 30.0)


def office_calls(path: Path, count: int, seed: int) -> Path:
    """An injection file (from;to;milliseconds) for ``count`` ordinary calls: five office lines
    calling colleagues (100-105) and a recurring set of outside numbers, in no particular order,
    each held as long as people's calls last (:data:`HELD_MEDIAN_S`)."""
    rng = random.Random(seed)
    lines = [f"1415555{n:04d}" for n in (123, 187, 240, 311, 342)]
    contacts = [f"1{rng.choice('2345678')}{rng.randrange(10**9):09d}" for _ in range(25)]
    weights = [1.0 / (rank + 1) for rank in range(len(contacts))]  # a few numbers are called often
    rows = ["SEQUENTIAL"]
    for _ in range(count):
        callee = str(rng.randrange(100, 106)) if rng.random() < 0.3 else rng.choices(contacts, weights)[0]
        held = min(max(rng.lognormvariate(math.log(HELD_MEDIAN_S), HELD_SIGMA), HELD_RANGE_S[0]), HELD_RANGE_S[1])
        rows.append(f"{rng.choice(lines)};{callee};{held * 1000:.0f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def office(e2e: Harness, proxy: Proxy, source: str, calls: int, rate: float, label: str, seed: int) -> Sipp:
    """Ordinary calls from ``source`` (sipp's ``-i`` binds it), ``rate`` calls/s: returns once
    every call is placed, the last ones still up (people keep talking while a tool sweeps)."""
    inf = office_calls(e2e.tmp / f"{label}.csv", calls, seed)
    sipp = e2e.sipp(
        label,
        "uac_office.xml",
        remote=proxy.addr,
        calls=calls,
        rate=rate,
        timeout=calls / rate + HELD_RANGE_S[1] + 30.0,
        # -l: sipp's own cap on calls up at once (3 x rate x the scenario's fixed pauses) would
        # hold back the next calls while people talk.
        extra=["-i", source, "-inf", str(inf), "-key", "ua", OFFICE_UA, "-l", str(calls)],
    )
    placed = time.monotonic() + calls / rate
    while time.monotonic() < placed and sipp.proc.poll() is None:
        time.sleep(0.2)
    return sipp


def tool_args(case: Case, host: str, port: int, local_port: int) -> list[str]:
    """The command line of ``case.tool``, bound to ``case.source``; ``-vv`` logs each request sent."""
    bind = ["-b", case.source, "-P", str(local_port), "-vv"] + (["-t", f"{case.pace:g}"] if case.pace else [])
    if case.tool == "svmap":
        return [*bind, "-m", "INVITE", "-e", "100", "-p", str(port), host]
    if case.tool == "svwar":
        return [*bind, "-m", "INVITE", f"-e{SWEEP_RANGE}", "--maximumtime", "5", f"udp://{host}:{port}"]
    if case.tool == "svcrack":
        return [*bind, "-u", CRACK_USER, f"-r{CRACK_RANGE}", "--maximumtime", "5", f"udp://{host}:{port}"]
    raise ValueError(f"unknown tool {case.tool!r}")


def sent_count(tool: str, log: str) -> int:
    """Requests sent, from the tool's debug log."""
    if tool == "svmap":
        return log.count("sending packet to")
    if tool == "svwar":  # the first, to a random extension, is its check of the 'no such user' answer
        return log.count("sending request for") + (1 if "Ok SIP device found" in log or "Bad user" in log else 0)
    # svcrack logs its first REGISTER whole, then one line per later one
    return log.count(":REGISTER sip:") + log.count("Sending REGISTER with")


def run_tool(e2e: Harness, case: Case, proxy_addr: str, timeout: float = 60.0) -> str:
    """Run the tool to its end (svcrack: until it has no password left) and return its log."""
    host, port = proxy_addr.rsplit(":", 1)
    workdir = e2e.tmp / f"tool-{case.name}"
    workdir.mkdir()
    log_path = workdir / "tool.log"
    args = [sys.executable, str(LAUNCHER), case.ua or "", case.tool, *tool_args(case, host, int(port), free_port())]
    e2e.procs.artifacts.append((f"{case.tool} log", log_path))
    proc = e2e.procs.spawn(args, workdir, workdir / "stdout.log", log_path, grace=2.0)
    # svcrack then waits out a fixed 10 s socket timeout: it is done once it says it stopped.
    wait_for(
        lambda: proc.poll() is not None or any(end in read_text(log_path) for end in SVCRACK_DONE),
        timeout,
        f"{case.tool} to finish",
        interval=0.1,
    )
    if proc.poll() is None:
        time.sleep(1.0)  # the answers to its last requests
        proc.terminate()
        proc.wait(5)
    return read_text(log_path) + read_text(workdir / "stdout.log")


def pbx_requests(pbx: Sipp, method: str) -> list[str]:
    """Each ``method`` request the PBX received once (by Call-ID and CSeq: retransmissions collapse)."""
    seen: dict[tuple[str, str], str] = {}
    for message in pbx.received(f"{method} "):
        call_id = _header(message, "Call-ID") or ""
        cseq = _header(message, "CSeq") or ""
        seen.setdefault((call_id, cseq), message)
    return list(seen.values())


def _header(message: str, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}:\s*(.*?)\s*$", message, re.M | re.I)
    return match.group(1) if match else None


def run_case(e2e: Harness, case: Case, seed: int = 17) -> Outcome:
    """Run ``case`` end to end and count what reached the PBX."""
    started = time.monotonic()
    pbx = e2e.uas("uas_pbx.xml", label="pbx", timeout=600.0)
    proxy = e2e.proxy([f"sip:{pbx.addr}"], extra=["--detect"])
    before = None
    if case.shared and case.legit_before:
        before = office(e2e, proxy, case.source, case.legit_before, case.legit_rate, "office-before", seed)
    log = run_tool(e2e, case, proxy.addr)
    after = None
    if case.shared and case.legit_after:
        after = office(e2e, proxy, case.source, case.legit_after, case.legit_rate, "office-after", seed + 1)
    for sipp in (before, after):
        if sipp is not None:
            sipp.wait()
    method = "REGISTER" if case.tool == "svcrack" else "INVITE"
    outcome = Outcome(case, method, sent_count(case.tool, log), seconds=0.0, tool_log=log)
    placed = (case.legit_before + case.legit_after) if case.shared else 0
    # Every request is decided before its answer reaches the tool (and each call before sipp ends),
    # so what the PBX will see is in its log; give sipp's log writer a moment to flush it.
    wait_for(lambda: len(_office_invites(pbx)) >= _relayed(before, after), 5.0, "the office calls in the PBX log")
    for message in pbx_requests(pbx, method):
        if _header(message, "User-Agent") == OFFICE_UA:
            continue
        outcome.reached[_header(message, "X-Antibot-Verdict") or "none"] += 1
    if placed:
        invites = _office_invites(pbx)
        verdicts = Counter(_header(m, "X-Antibot-Verdict") or "none" for m in invites)
        outcome.legit_placed = placed
        outcome.legit_pass = verdicts["pass"]
        outcome.legit_flagged = placed - verdicts["pass"]
        outcome.legit_not_passed = [_verdict_line(m) for m in invites if _header(m, "X-Antibot-Verdict") != "pass"]
        outcome.legit_answered = sum(
            sipp.stat("SuccessfulCall(C)") - _rejected(sipp) for sipp in (before, after) if sipp is not None
        )
    outcome.seconds = time.monotonic() - started
    return outcome


def _verdict_line(message: str) -> str:
    """One relayed INVITE's caller and X-Antibot-* verdict, score and reasons, on one line."""
    caller = re.search(r"^From:.*?sip:([^@;>]*)", message, re.M | re.I)
    fields = (_header(message, f"X-Antibot-{name}") or "-" for name in ("Verdict", "Score", "Reasons"))
    return " ".join([caller.group(1) if caller else "?", *fields])


def _office_invites(pbx: Sipp) -> list[str]:
    return [m for m in pbx_requests(pbx, "INVITE") if _header(m, "User-Agent") == OFFICE_UA]


def _rejected(sipp: Sipp) -> int:
    """Calls the proxy turned away (the scenario's optional 403/603 steps)."""
    return sipp.count("603_Recv") + sipp.count("403_Recv")


def _relayed(*runs: Sipp | None) -> int:
    return sum(s.stat("SuccessfulCall(C)") - _rejected(s) for s in runs if s is not None)


def failure_report(outcome: Outcome) -> str:
    """The figures, the ordinary calls not passed and the tail of the tool's log, for an assertion message."""
    flagged = "".join(f"\n  office call {line}" for line in outcome.legit_not_passed)
    return outcome.summary() + flagged + "\n" + outcome.tool_log[-1500:]
