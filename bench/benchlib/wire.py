"""Kernel-timestamped capture on the loopback interface (an AF_PACKET socket; no tshark/libpcap).

Every datagram sent on ``lo`` passes the packet taps once as PACKET_OUTGOING, at the moment the
sender's sendto() hands it to the device; the kernel stamps it then (SO_TIMESTAMPNS). So for one
call the INVITE caller->proxy and the INVITE proxy->PBX carry two stamps from the same clock, taken
at the same point in the stack: their difference is the time the proxy held the request (socket
queueing, wake-up, parsing, routing, sending), free of sipp's own scheduling and logging delays.
Needs CAP_NET_RAW (root); ``available()`` says whether it can run here.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import re
import socket
import statistics
import struct
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_STATISTICS = 6
_CALL_ID = re.compile(rb"\r\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", re.I)
_CSEQ_INVITE = re.compile(rb"\r\nCSeq[ \t]*:[ \t]*\d+[ \t]+INVITE\r\n", re.I)


def available() -> tuple[bool, str]:
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind(("lo", 0))
        s.close()
    except (OSError, AttributeError) as exc:
        return False, f"AF_PACKET capture on lo unavailable: {exc}"
    return True, "ok"


class WireCapture(threading.Thread):
    """Records the first send time of INVITE and 200-for-INVITE on each side of the proxy, per Call-ID."""

    def __init__(self, proxy_port: int, uas_port: int) -> None:
        super().__init__(daemon=True)
        self.proxy_port, self.uas_port = proxy_port, uas_port
        self.first: dict[tuple[str, bytes], float] = {}
        self.packets = 0
        self.kernel_drops = 0
        self.no_kernel_ts = 0
        self._stop_evt = threading.Event()
        self._ready = threading.Event()
        self.error: str | None = None
        self.kernel_filter = False

    def start_and_wait(self) -> None:
        self.start()
        self._ready.wait(5)

    def stop(self) -> None:
        time.sleep(0.3)  # let the last datagrams drain from the capture socket
        self._stop_evt.set()
        self.join(5)

    def run(self) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind(("lo", 0))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
            sock.settimeout(0.1)
            self.kernel_filter = _attach_filter(sock, self.proxy_port, self.uas_port)
        except Exception as exc:  # noqa: BLE001 - reported in the result, never fatal to the run
            self.error = str(exc)
            self._ready.set()
            return
        self._ready.set()
        with sock:
            while not self._stop_evt.is_set():
                try:
                    data, anc, _flags, addr = sock.recvmsg(65535, 64)
                except TimeoutError:
                    continue
                except OSError as exc:
                    self.error = str(exc)
                    break
                if addr[2] != PACKET_OUTGOING:
                    continue
                self.packets += 1
                ts = None
                for level, kind, cdata in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                        sec, nsec = struct.unpack("qq", cdata[:16])
                        ts = sec + nsec / 1e9
                if ts is None:
                    self.no_kernel_ts += 1
                    ts = time.time()
                self._classify(data, ts)
            with contextlib.suppress(OSError):
                self.kernel_drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))[1]

    def _classify(self, frame: bytes, ts: float) -> None:
        if frame[12:14] != b"\x08\x00":
            return
        ip = frame[14:]
        if len(ip) < 28 or ip[9] != 17:
            return
        ihl = (ip[0] & 15) * 4
        sport, dport = struct.unpack("!HH", ip[ihl : ihl + 4])
        payload = ip[ihl + 8 :]
        if payload.startswith(b"INVITE "):
            kind = "inv_in" if dport == self.proxy_port else "inv_out" if dport == self.uas_port else None
        elif payload.startswith(b"SIP/2.0 200") and _CSEQ_INVITE.search(payload):
            if sport == self.uas_port and dport == self.proxy_port:
                kind = "ok_in"
            elif sport == self.proxy_port and dport != self.uas_port:
                kind = "ok_out"
            else:
                kind = None
        else:
            return
        if kind is None:
            return
        m = _CALL_ID.search(payload)
        if m:
            self.first.setdefault((kind, m.group(1).strip()), ts)

    def deltas_us(self, start: str, end: str) -> list[float]:
        out = []
        for (kind, cid), t0 in self.first.items():
            if kind == start:
                t1 = self.first.get((end, cid))
                if t1 is not None:
                    out.append((t1 - t0) * 1e6)
        return out

    def result(self) -> dict[str, object]:
        invites = sum(1 for k, _ in self.first if k == "inv_in")
        return {
            "method": "AF_PACKET kernel timestamps on lo (SO_TIMESTAMPNS), first transmission per Call-ID",
            "invite_forwarding_us": describe(self.deltas_us("inv_in", "inv_out")),
            "ok200_forwarding_us": describe(self.deltas_us("ok_in", "ok_out")),
            "invites_seen": invites,
            "packets_seen": self.packets,
            "capture_drops": self.kernel_drops,
            "packets_without_kernel_timestamp": self.no_kernel_ts,
            "kernel_bpf_filter": self.kernel_filter,
            "error": self.error,
        }


def _attach_filter(sock: socket.socket, proxy_port: int, uas_port: int) -> bool:
    """Classic BPF: keep only outgoing IPv4/UDP datagrams from/to the two ports whose payload starts
    with "INVI" or "SIP/", so the capture thread wakes for a fraction of the loopback traffic."""
    ins = [
        (0x20, 0, 0, 0xFFFFF004),  # 0  ld  pkttype (SKF_AD_OFF + SKF_AD_PKTTYPE)
        (0x15, 0, 15, PACKET_OUTGOING),  # 1  jeq OUTGOING else drop
        (0x28, 0, 0, 12),  # 2  ldh ethertype
        (0x15, 0, 13, 0x0800),  # 3  jeq IPv4 else drop
        (0x30, 0, 0, 23),  # 4  ldb ip proto
        (0x15, 0, 11, 17),  # 5  jeq UDP else drop
        (0xB1, 0, 0, 14),  # 6  ldxb 4*([14]&0xf): IP header length
        (0x48, 0, 0, 14),  # 7  ldh [x+14]: source port
        (0x15, 4, 0, proxy_port),  # 8
        (0x15, 3, 0, uas_port),  # 9
        (0x48, 0, 0, 16),  # 10 ldh [x+16]: destination port
        (0x15, 1, 0, proxy_port),  # 11
        (0x15, 0, 4, uas_port),  # 12 else drop
        (0x40, 0, 0, 22),  # 13 ld [x+22]: first 4 payload bytes
        (0x15, 1, 0, 0x494E5649),  # 14 "INVI"
        (0x15, 0, 1, 0x5349502F),  # 15 "SIP/" else drop
        (0x06, 0, 0, 0x40000),  # 16 accept
        (0x06, 0, 0, 0),  # 17 drop
    ]
    prog = b"".join(struct.pack("HBBI", *i) for i in ins)
    buf = ctypes.create_string_buffer(prog)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(ins), ctypes.addressof(buf)))
    except OSError:
        return False
    return True


def describe(values: list[float]) -> dict[str, object]:
    """n, p50, p90, p99, max, mean (same unit as the input), rounded."""
    if not values:
        return {"n": 0}
    v = sorted(values)

    def pct(p: float) -> float:
        return v[max(1, math.ceil(p / 100 * len(v))) - 1]  # nearest rank

    return {
        "n": len(v),
        "p50": round(pct(50), 1),
        "p90": round(pct(90), 1),
        "p99": round(pct(99), 1),
        "max": round(v[-1], 1),
        "mean": round(statistics.fmean(v), 1),
        "min": round(v[0], 1),
    }
