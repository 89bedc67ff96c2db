"""Scenarios 5 and 6: the memory bound under unique callers, and graceful shutdown and restart."""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import time
from collections import Counter
from pathlib import Path

from tests.e2e.peers import Sipp
from tests.e2e.procs import HOST

from .attack import Attacker, attacker_addresses
from .common import RSS_LIMIT_MB, Durations, with_calls
from .faults import raw_invite
from .resp import scan_ttls
from .rig import Result, Rig, Sample, wait_caller

#: Keys documented as long-lived (no TTL): the call log stream (capped by MAXLEN) and the admin
#: keys (policy, its history and the audit stream, capped; operator feedback) - antibot/store/keys.py.
LONG_LIVED = {"ab:calls", "ab:{admin}:policy", "ab:{admin}:policy:history", "ab:{admin}:audit", "ab:{admin}:feedback"}
UAS = ("friendly-scanner", "Zoiper rv2.10.19.6")


class UniqueCallers(Attacker):
    """``total`` INVITEs at ``rate``/s, each with its own Call-ID, From and To, half from a scanner's
    User-Agent, half from a softphone's; every final response is ACKed (RFC 3261 §17.1.1.3)."""

    def __init__(self, port: int, rate: float, total: int, addrs: list[str]) -> None:
        super().__init__(total / rate + 30)
        self.port, self.rate, self.total = port, rate, total
        self.socks = []
        for addr in addrs:
            for _ in range(4):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
                sock.bind((addr, 0))
                sock.setblocking(False)
                self.socks.append(sock)

    def invite(self, n: int, sock: socket.socket) -> bytes:
        host, port = sock.getsockname()
        caller, callee = random.randrange(10**9, 10**10), random.randrange(10**9, 10**10)
        return (
            f"INVITE sip:{callee}@{HOST}:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-u{n}x{random.getrandbits(32):x};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{caller}@{host}>;tag=u{n}\r\nTo: <sip:{callee}@{HOST}>\r\n"
            f"Call-ID: u{n}-{random.getrandbits(48):x}@{host}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:{caller}@{host}:{port}>\r\nUser-Agent: {UAS[n % 2]}\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    def body(self, deadline: float) -> None:
        t0 = time.monotonic()
        n = 0
        while n < self.total and not self._stop.is_set() and time.monotonic() < deadline:
            due = min(self.total, int((time.monotonic() - t0) * self.rate))
            while n < due:
                sock = self.socks[n % len(self.socks)]
                try:
                    sock.sendto(self.invite(n, sock), (HOST, self.port))
                    self.counts.sent += 1
                except OSError:
                    self.counts.errors += 1
                n += 1
            self._ack_finals()
            time.sleep(0.002)
        end = time.monotonic() + 3
        while time.monotonic() < end:
            self._ack_finals()
            time.sleep(0.05)
        for sock in self.socks:
            sock.close()

    def _ack_finals(self) -> None:
        for sock in self.socks:
            while True:
                try:
                    data = sock.recv(65535)
                except OSError:
                    break
                status = data[8:11]
                if not data.startswith(b"SIP/2.0 ") or status < b"200" or b" INVITE\r\n" not in data:
                    continue
                self.counts.replies += 1
                self.counts.note(f"final {status.decode()}")
                with contextlib.suppress(OSError):
                    sock.sendto(ack_for(data, status), (HOST, self.port))


def ack_for(final: bytes, status: bytes) -> bytes:
    """The ACK a caller sends for ``final``. Non-2xx: the INVITE's own branch, to the proxy
    (RFC 3261 §17.1.1.3). 2xx: a new transaction to the Contact, through the Record-Route set,
    reversed (§13.2.2.4, §12.1.2), so the PBX stops retransmitting its 200."""
    head = final.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head[1:] if h[:4].lower() in (b"via:", b"from", b"to: ", b"call")]
    uri = b"sip:" + HOST.encode()
    if status.startswith(b"2"):
        routes = [h.split(b":", 1)[1].strip() for h in head[1:] if h[:13].lower() == b"record-route:"]
        contact = next((h.split(b":", 1)[1].strip() for h in head[1:] if h[:8].lower() == b"contact:"), b"")
        uri = contact.lstrip(b"<").split(b">", 1)[0] or uri
        # A new transaction: the Via with a branch of its own (the flood's all start z9hG4bK).
        keep = [h.replace(b"branch=z9hG4bK", b"branch=z9hG4bK-ack", 1) for h in keep]
        keep += [b"Route: " + r for r in reversed(routes)]
    return b"\r\n".join(
        [b"ACK " + uri + b" SIP/2.0", *keep, b"CSeq: 1 ACK", b"Max-Forwards: 70", b"Content-Length: 0", b"", b""]
    )


def key_shape(key: str) -> str:
    """A key with its entity and numbers replaced: ``ab:{src:*}:inv:1h:N``."""
    digits = re.sub(r"\d{4,}", "N", key)
    return re.sub(r"\{[a-z]+:[^}]*\}", lambda m: "{" + m.group(0)[1:].split(":", 1)[0] + ":*}", digits)


def plot(samples: list[Sample], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = samples[0].t
    fig, ax = plt.subplots(figsize=(8, 4))
    nan = float("nan")
    xs = [s.t - t0 for s in samples]
    ax.plot(xs, [nan if s.rss_mb is None else s.rss_mb for s in samples], label="proxy RSS (MB)")
    ax.plot(xs, [nan if s.redis_mb is None else s.redis_mb for s in samples], label="Redis used_memory (MB)")
    flood = [s.t - t0 for s in samples if s.phase == "during"]
    if flood:
        ax.axvspan(flood[0], flood[-1], color="orange", alpha=0.15, label="unique-caller flood")
    ax.axhline(RSS_LIMIT_MB, color="red", linestyle="--", linewidth=0.8, label="300 MB target")
    ax.set_xlabel("seconds")
    ax.set_ylabel("MB")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def memory_bound(work: Path, d: Durations, only: str = "", png: Path | None = None) -> list[Result]:
    total = d.memory_invites

    def flood(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
        assert rig.proxy is not None and rig.redis_addr is not None
        counts = UniqueCallers(rig.proxy.port, 2000, total, attacker_addresses(200, 16)).start().join()
        result.figures.update(
            invites_sent=counts.sent, finals_received=counts.replies, **{k: v for k, v in sorted(counts.notes.items())}
        )
        rig.phase = "after"
        time.sleep(d.after * 4)
        ttls = scan_ttls(rig.redis_addr)
        none = Counter(key_shape(k) for k, ttl in ttls.items() if ttl == -1)
        result.figures["redis keys"] = len(ttls)
        result.figures["keys without TTL"] = dict(none)
        undocumented = {k: n for k, n in none.items() if k not in LONG_LIVED}
        result.check("every key has a TTL except the documented long-lived ones", not undocumented)

    out = []
    # A PBX that rejects the unique callers (404: none is one of its numbers) while it answers
    # the legit calls; then one that answers every relayed INVITE, each call left up.
    variants = [
        ("memory", "uas_did.xml", "a PBX that 404s numbers not its own"),
        ("memory-answer-all", "uas_answer.xml", "a PBX that answers every call 200"),
    ]
    for name, scenario, pbx in variants:
        if only not in ("", "memory", name):
            continue
        r = with_calls(
            work,
            name,
            f"{total:,} INVITEs with unique From/To/Call-ID at 2,000/s, {pbx}",
            d,
            flood,
            pbx_scenarios=(scenario,),
            fault_seconds=total / 2000 + d.after * 4,
        )
        if png is not None and r.samples and name == "memory":
            plot(r.samples, png, f"{total:,} unique callers at 2,000/s (enforce mode)")
            r.figures["plot"] = str(png)
        out.append(r)
    return out


def shutdown(work: Path, d: Durations, only: str = "") -> list[Result]:
    out: list[Result] = []
    if not only or "shutdown-drain".startswith(only) or only in ("shutdown", "shutdown-drain"):
        out.append(_drain(work, d))
    if not only or "shutdown-restart".startswith(only) or only in ("shutdown", "shutdown-restart"):
        out.append(_restart(work, d))
    return out


def legit_reached(pbx_calls: int, probe_answers: list[str]) -> int:
    """The legit calls among the PBX's incoming calls: a probe INVITE that beat the SIGTERM into
    the proxy was relayed like any call (answered, not 503), and the probe never completes it."""
    relayed = sum(1 for a in probe_answers if a != "no answer" and not a.startswith("SIP/2.0 503"))
    return pbx_calls - relayed


def _drain(work: Path, d: Durations) -> Result:
    result = Result("shutdown-drain", f"SIGTERM under load (shutdown_timeout {d.drain_timeout:g} s)")
    rig = Rig(work / result.name)
    try:
        pbx = rig.pbx(trace_msg=False)
        rig.start_proxy([f"sip:{pbx.addr}"], settings={"shutdown_timeout": d.drain_timeout, "probe_interval": 0})
        assert rig.proxy is not None
        rig.start_sampling()
        seconds = d.before + d.fault
        caller = rig.caller(seconds)
        time.sleep(d.before)
        rig.phase = "during"
        t0 = time.monotonic()
        rig.proxy.proc.send_signal(signal.SIGTERM)
        answers: list[str] = []
        while rig.proxy.proc.poll() is None and len(answers) < 20:
            answers.append(raw_invite(rig.proxy.port, len(answers), timeout=0.5))
        answer = next((a for a in answers if a.startswith("SIP/2.0 503")), answers[-1] if answers else "none sent")
        try:
            code = rig.proxy.proc.wait(d.drain_timeout + 15)
        except Exception:  # noqa: BLE001
            code = None
        result.figures["exit after s"] = round(time.monotonic() - t0, 2)
        result.figures["INVITE during the drain"] = answer
        wait_caller(caller, seconds)
        pbx.proc.send_signal(signal.SIGTERM)
        pbx.proc.wait(10)
        rig.finish(result, caller)
        reached = legit_reached(int(pbx.stats().get("IncomingCall(C)", 0)), answers)
        result.figures["exit code"] = code
        result.figures["legit calls that reached the PBX"] = reached
        result.check("exit code 0", code == 0)
        drained = [a for a in answers if a != "no answer"]
        result.figures["INVITEs sent during the drain / answered"] = f"{len(answers)} / {len(drained)}"
        result.check(
            "new INVITEs during the drain get 503 with Retry-After",
            all(a.startswith("SIP/2.0 503") and "no Retry-After" not in a for a in drained[1:]),
        )
        result.check("every call that reached the PBX completed", result.completed >= reached > 0)
    except Exception as exc:  # noqa: BLE001
        result.check(f"scenario ran ({type(exc).__name__}: {str(exc)[:300]})", False)
    finally:
        rig.close()
    return result


def _restart(work: Path, d: Durations) -> Result:
    n = d.restart_invites
    result = Result("shutdown-restart", f"restart with a data dir holding {n:,} unique callers' counters")
    data = work / result.name / "data"
    rig = Rig(work / result.name / "first")
    try:
        pbx = rig.pbx()
        rig.start_proxy([f"sip:{pbx.addr}"], data_dir=data, settings={"shutdown_timeout": 2.0})
        assert rig.proxy is not None and rig.redis_addr is not None
        counts = UniqueCallers(rig.proxy.port, 2000, n, attacker_addresses(220, 16)).start().join()
        keys = len(scan_ttls(rig.redis_addr))
        rig.proxy.stop(30)
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        second = Rig(work / result.name / "second")
        try:
            t0 = time.monotonic()
            second.start_proxy([f"sip:{pbx.addr}"], data_dir=data)
            result.figures["restart to ready s"] = round(time.monotonic() - t0, 2)
            assert second.redis_addr is not None
            result.figures["keys after restart"] = len(scan_ttls(second.redis_addr))
            caller = second.caller(d.before + 2)
            wait_caller(caller, d.before + 2)
            second.finish(result, caller)
        finally:
            second.close()
        result.figures.update(invites_sent=counts.sent, keys_before=keys, data_dir_mb=round(size / 2**20, 1))
        result.check("ready again (OPTIONS answered, /readyz 200)", "restart to ready s" in result.figures)
        result.check("legit calls complete after the restart", result.placed > 0 and result.completed == result.placed)
    except Exception as exc:  # noqa: BLE001
        result.check(f"scenario ran ({type(exc).__name__}: {str(exc)[:300]})", False)
    finally:
        rig.close()
    return result
