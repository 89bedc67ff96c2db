"""The attackers: a rate-limited UDP flooder sending from other loopback addresses, and TCP abusers.

Every attacker runs in a thread for a fixed time and counts what it did; none of them shares an
address with the legitimate caller (127.0.0.1).
"""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

HOST = "127.0.0.1"
FLOOD_KINDS = ("random", "garbled", "big", "invite", "register", "options")


def attacker_addresses(first: int, n: int) -> list[str]:
    """``n`` loopback addresses from 127.0.0.<first> on (Linux routes all of 127/8 to lo)."""
    return [f"127.0.{(first + i) // 250}.{(first + i) % 250 + 2}" for i in range(n)]


def sip_request(method: str, port: int, src: tuple[str, int], n: int, ua: str = "friendly-scanner") -> bytes:
    """A well-formed request from ``src``: unique Call-ID, caller, callee and branch."""
    caller, callee = random.randrange(10**9, 10**10), random.randrange(10**9, 10**10)
    uri = f"sip:{callee}@{HOST}:{port}" if method != "REGISTER" else f"sip:{HOST}:{port}"
    to = f"<sip:{callee}@{HOST}>" if method != "REGISTER" else f"<sip:{caller}@{HOST}>"
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {src[0]}:{src[1]};branch=z9hG4bK-f{n}x{random.getrandbits(40):x};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:{caller}@{src[0]}>;tag=t{n}\r\nTo: {to}\r\n"
        f"Call-ID: {random.getrandbits(64):x}@{src[0]}\r\nCSeq: 1 {method}\r\n"
        f"Contact: <sip:{caller}@{src[0]}:{src[1]}>\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def garble(msg: bytes) -> bytes:
    """Truncate, flip bytes, break line endings or a header: one of them, at random."""
    choice = random.randrange(5)
    if choice == 0:
        return msg[: random.randrange(1, len(msg))]
    data = bytearray(msg)
    if choice == 1:
        for _ in range(random.randrange(1, 20)):
            data[random.randrange(len(data))] = random.randrange(256)
        return bytes(data)
    if choice == 2:
        return msg.replace(b"\r\n", random.choice([b"\n", b"\r", b"\r\r\n", b" "]))
    if choice == 3:
        return msg.replace(b"Content-Length: 0", b"Content-Length: " + str(random.randrange(-5, 10**9)).encode())
    return msg.replace(b"Via: ", b"Via : ;;;\x00").replace(b"CSeq: 1", b"CSeq: x")


@dataclass
class Counts:
    sent: int = 0
    replies: int = 0
    errors: int = 0
    notes: dict[str, int] = field(default_factory=dict)

    def note(self, key: str, n: int = 1) -> None:
        self.notes[key] = self.notes.get(key, 0) + n


class Attacker:
    """A thread running ``body`` until ``seconds`` pass or ``stop()``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.counts = Counts()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> Counts:
        self._stop.set()
        self._thread.join(30)
        return self.counts

    def join(self) -> Counts:
        self._thread.join(self.seconds + 30)
        return self.counts

    def _run(self) -> None:
        try:
            self.body(time.monotonic() + self.seconds)
        except Exception as exc:  # noqa: BLE001 - reported, never fatal to the bench
            self.counts.note(f"crashed: {exc!r}"[:120])

    def body(self, deadline: float) -> None:
        raise NotImplementedError


class UdpFlood(Attacker):
    """``kind`` datagrams at ``rate``/s to the proxy from ``ports`` sockets on each of ``addrs``."""

    def __init__(self, kind: str, port: int, rate: float, seconds: float, addrs: list[str], ports: int = 8) -> None:
        super().__init__(seconds)
        self.kind, self.port, self.rate = kind, port, rate
        self.socks: list[socket.socket] = []
        for addr in addrs:
            for _ in range(ports):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
                sock.bind((addr, 0))
                sock.setblocking(False)
                self.socks.append(sock)
        self.payload: Callable[[int, tuple[str, int]], bytes] = {
            "random": lambda n, src: os.urandom(random.randrange(1, 1400)),
            "garbled": lambda n, src: garble(
                sip_request(random.choice(["INVITE", "REGISTER", "OPTIONS"]), self.port, src, n)
            ),
            "big": lambda n, src: _big(self.port, src, n),
            "invite": lambda n, src: sip_request("INVITE", self.port, src, n),
            "register": lambda n, src: sip_request("REGISTER", self.port, src, n),
            "options": lambda n, src: sip_request("OPTIONS", self.port, src, n),
        }[kind]

    def body(self, deadline: float) -> None:
        t0 = time.monotonic()
        n = 0
        while not self._stop.is_set() and (now := time.monotonic()) < deadline:
            due = int((now - t0) * self.rate)
            while n < due:
                sock = self.socks[n % len(self.socks)]
                try:
                    sock.sendto(self.payload(n, sock.getsockname()), (HOST, self.port))
                    self.counts.sent += 1
                except OSError as exc:
                    self.counts.errors += 1
                    self.counts.note(errno.errorcode.get(exc.errno or 0, str(exc)))
                n += 1
            self._drain()
            time.sleep(0.002)
        for sock in self.socks:
            sock.close()

    def _drain(self) -> None:
        for sock in self.socks:
            try:
                while sock.recv(65535):
                    self.counts.replies += 1
            except OSError:
                pass


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _big(port: int, src: tuple[str, int], n: int) -> bytes:
    head = sip_request("INVITE", port, src, n).replace(b"Content-Length: 0", b"Content-Length: 64000")
    return (head + b"v" * 64000)[:65507]


# ---------------------------------------------------------------- TCP
class TcpIdle(Attacker):
    """Open ``per_addr`` connections from each of ``addrs``, send nothing, hold them; then count
    how many the proxy kept open (accepted) and how many it refused (closed or reset)."""

    def __init__(self, port: int, seconds: float, addrs: list[str], per_addr: int) -> None:
        super().__init__(seconds)
        self.port, self.addrs, self.per_addr = port, addrs, per_addr

    def body(self, deadline: float) -> None:
        pending: list[socket.socket] = []
        for addr in self.addrs:  # non-blocking connects: a full accept backlog only delays some
            for _ in range(self.per_addr):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((addr, 0))
                sock.setblocking(False)
                sock.connect_ex((HOST, self.port))
                pending.append(sock)
        socks: list[socket.socket] = []
        limit = time.monotonic() + min(15.0, max(1.0, deadline - time.monotonic()))
        poller = select.poll()
        by_fd = {sock.fileno(): sock for sock in pending}
        for fd in by_fd:
            poller.register(fd, select.POLLOUT)
        while pending and time.monotonic() < limit:
            for fd, _ in poller.poll(200):
                poller.unregister(fd)
                sock = by_fd[fd]
                pending.remove(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    socks.append(sock)
                    self.counts.sent += 1
                else:
                    self.counts.note("connect failed")
                    sock.close()
        self.counts.notes["connect pending at the end"] = len(pending)
        self._stop.wait(min(2.0, max(0.0, deadline - time.monotonic())))
        self.census(socks, "after 2 s")
        self._stop.wait(max(0.0, deadline - time.monotonic()))
        self.census(socks, "at the end")
        for sock in socks + pending:
            sock.close()

    def census(self, socks: list[socket.socket], when: str) -> None:
        open_, closed = 0, 0
        for sock in socks:
            try:
                data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                closed += data == b""
                open_ += data != b""
            except BlockingIOError:
                open_ += 1
            except OSError:
                closed += 1
        self.counts.notes[f"open {when}"] = open_
        self.counts.notes[f"closed by proxy {when}"] = closed


class TcpSlowloris(Attacker):
    """``n`` connections each sending a header line every second that never ends the header."""

    def __init__(self, port: int, seconds: float, addr: str, n: int) -> None:
        super().__init__(seconds)
        self.port, self.addr, self.n = port, addr, n
        self.closed_after: list[float] = []

    def body(self, deadline: float) -> None:
        socks: dict[socket.socket, float] = {}
        for i in range(self.n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.addr, 0))
            sock.connect((HOST, self.port))
            via = f"Via: SIP/2.0/TCP {self.addr};branch=z9hG4bK-s{i}"
            sock.sendall(f"INVITE sip:{i}@{HOST} SIP/2.0\r\n{via}\r\n".encode())
            sock.setblocking(False)
            socks[sock] = time.monotonic()
            self.counts.sent += 1
        while socks and not self._stop.is_set() and time.monotonic() < deadline:
            for sock, t0 in list(socks.items()):
                try:
                    sock.sendall(f"X-Slow-{random.getrandbits(16)}: a\r\n".encode())
                    if sock.recv(4096, socket.MSG_PEEK) == b"":
                        raise ConnectionResetError
                    self.counts.replies += 1  # the proxy answered something (a 408 or 400)
                except BlockingIOError:
                    continue
                except OSError:
                    self.closed_after.append(round(time.monotonic() - t0, 1))
                    del socks[sock]
                    sock.close()
            self._stop.wait(1.0)
        self.counts.notes["closed by proxy"] = len(self.closed_after)
        self.counts.notes["still open at the end"] = len(socks)
        for sock in socks:
            sock.close()


class TcpHugeBody(Attacker):
    """Requests announcing ``Content-Length: 100000000``, then streaming the body: the answer."""

    def __init__(self, port: int, seconds: float, addr: str, n: int) -> None:
        super().__init__(seconds)
        self.port, self.addr, self.n = port, addr, n

    def body(self, deadline: float) -> None:
        for i in range(self.n):
            if time.monotonic() >= deadline or self._stop.is_set():
                break
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((self.addr, 0))
                sock.settimeout(3.0)
                sock.connect((HOST, self.port))
                head = sip_request("INVITE", self.port, sock.getsockname(), i).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
                head = head.replace(b"Content-Length: 0", b"Content-Length: 100000000")
                reply = b""
                try:
                    sock.sendall(head)
                    for _ in range(2000):  # up to ~128 MB, stops when the proxy answers or closes
                        sock.sendall(b"x" * 65536)
                        self.counts.sent += 65536
                        if _readable(sock):
                            break
                    reply = sock.recv(4096)
                except OSError as exc:
                    self.counts.note(f"sender saw {type(exc).__name__}")
                status = reply.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"
                self.counts.note(status)


class TcpChurn(Attacker):
    """Connect and close in a loop from ``addr`` as fast as one thread can."""

    def __init__(self, port: int, seconds: float, addr: str) -> None:
        super().__init__(seconds)
        self.port, self.addr = port, addr

    def body(self, deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            try:
                sock.bind((self.addr, 0))
                sock.connect((HOST, self.port))
                self.counts.sent += 1
            except OSError:
                self.counts.errors += 1
            finally:
                sock.close()
