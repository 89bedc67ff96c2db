"""A tiny blocking RESP2 client for the bench (unix socket path or HOST:PORT), so no redis-py."""

from __future__ import annotations

import socket
from typing import Any


def connect(addr: str, timeout: float) -> socket.socket:
    if addr.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(addr)
        return sock
    host, _, port = addr.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def encode(args: list[str]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def read_reply(fh: Any) -> Any:
    line = fh.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ValueError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else fh.read(n + 2)[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(fh) for _ in range(n)]
    raise ValueError(f"bad RESP reply {line!r}")


def command(addr: str, args: list[str], timeout: float = 1.0) -> Any:
    """One command, one reply."""
    return pipeline(addr, [args], timeout)[0]


def pipeline(addr: str, commands: list[list[str]], timeout: float = 5.0) -> list[Any]:
    """Several commands sent at once; their replies in order (an error reply is returned, not raised)."""
    with connect(addr, timeout) as sock, sock.makefile("rb") as fh:
        sock.sendall(b"".join(encode(c) for c in commands))
        out: list[Any] = []
        for _ in commands:
            try:
                out.append(read_reply(fh))
            except ValueError as err:
                out.append(err)
        if len(out) == 1 and isinstance(out[0], ValueError):
            raise out[0]
        return out


def scan_ttls(addr: str, pattern: str = "*") -> dict[str, int]:
    """Every key matching ``pattern`` and its TTL in seconds (-1: none)."""
    keys: list[str] = []
    cursor = "0"
    while True:
        cursor, batch = command(addr, ["SCAN", cursor, "MATCH", pattern, "COUNT", "5000"], timeout=10.0)
        keys += batch
        if cursor == "0":
            break
    ttls: dict[str, int] = {}
    for i in range(0, len(keys), 5000):
        chunk = keys[i : i + 5000]
        for key, ttl in zip(chunk, pipeline(addr, [["TTL", k] for k in chunk], timeout=30.0), strict=True):
            if isinstance(ttl, int):
                ttls[key] = ttl
    return ttls
