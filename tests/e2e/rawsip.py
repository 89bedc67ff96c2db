"""Raw UDP SIP peers for the security tests: a PBX that records every byte it receives, and a
caller that sends hand-written requests (headers sipp would not let through unchanged)."""

from __future__ import annotations

import re
import socket
import threading
import time

from .procs import HOST


def _header(data: bytes, name: bytes) -> list[bytes]:
    """The values of header ``name`` (case-insensitive, no compact forms needed here)."""
    return [m.group(1).strip() for m in re.finditer(rb"\r\n" + name + rb"[ \t]*:(.*?)(?=\r\n)", data, re.I)]


def _response(request: bytes, status: int, reason: str, extra: bytes = b"") -> bytes:
    """A response to ``request``: its Vias, From, To (tagged), Call-ID, CSeq and Record-Route copied."""
    lines = [f"SIP/2.0 {status} {reason}".encode()]
    for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq", b"record-route"):
            lines.append(line)
        elif name in (b"to", b"t"):
            lines.append(line if b"tag=" in line else line + b";tag=rawpbx")
    return b"\r\n".join([*lines, extra + b"Content-Length: 0", b"", b""])


class RawPbx:
    """A PBX on a UDP socket of 127.0.0.1: every datagram is kept as received; OPTIONS and BYE get
    ``200``, an INVITE ``180`` then ``200`` (with a Contact and the Record-Route copied)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def requests(self, method: str) -> list[bytes]:
        """The ``method`` requests received (not the proxy's OPTIONS probes unless asked)."""
        return [d for d in list(self.datagrams) if d.startswith(method.encode() + b" ")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.datagrams.append(data)
            if data.startswith((b"OPTIONS ", b"BYE ", b"MESSAGE ")):
                self.sock.sendto(_response(data, 200, "OK"), peer)
            elif data.startswith(b"INVITE "):
                contact = f"Contact: <sip:pbx@{self.addr}>\r\n".encode()
                self.sock.sendto(_response(data, 180, "Ringing", contact), peer)
                self.sock.sendto(_response(data, 200, "OK", contact), peer)


class RawCaller:
    """A UDP socket on 127.0.0.1 that sends requests to the proxy and reads what comes back."""

    def __init__(self, proxy_port: int) -> None:
        self.proxy = (HOST, proxy_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def request(
        self,
        method: str,
        uri: str,
        *,
        call_id: str,
        from_: str,
        to: str,
        ua: str = "Zoiper rv2.10.19.6",
        cseq: int = 1,
        extra: str = "",
        branch: str = "",
    ) -> None:
        """Send one request; ``from_`` and ``to`` are whole header values (the From tag is added)."""
        branch = branch or f"z9hG4bK-raw{time.monotonic_ns()}"
        body = "" if method != "INVITE" else f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        body += f"m=audio {self.port + 2} RTP/AVP 0 8\r\n" if method == "INVITE" else ""
        text = (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: {from_};tag=raw{self.port}\r\nTo: {to}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:caller@{HOST}:{self.port}>\r\nUser-Agent: {ua}\r\n{extra}"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        self.sock.sendto(text.encode("utf-8"), self.proxy)

    def final(self, call_id: str, timeout: float = 10.0) -> bytes | None:
        """The first final response (≥ 200) for ``call_id`` within ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return None
            final = data.startswith(b"SIP/2.0 ") and not data.startswith(b"SIP/2.0 1")
            if final and call_id.encode() in b"".join(_header(data, b"call-id")):
                return data
        return None


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def header(data: bytes, name: str) -> list[bytes]:
    return _header(data, re.escape(name.encode()))
