"""A tiny blocking RESP2 client over a unix socket, so the tests inspect Redis without redis-py."""

from __future__ import annotations

import socket
from typing import Any


class RespError(Exception):
    """An error reply (``-ERR ...``)."""


class Resp:
    """``Resp(path)("SET", "k", 1)``: one command, one reply (strings decoded, errors raised);
    ``path`` is a unix socket, or ``(host, port)`` for TCP."""

    def __init__(self, path: str | tuple[str, int], timeout: float = 5.0) -> None:
        family = socket.AF_UNIX if isinstance(path, str) else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(path)
        self._file = self._sock.makefile("rb")

    def __call__(self, *args: str | int | float | bytes) -> Any:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(parts))
        return self._read()

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def scan(self, pattern: str = "*") -> list[str]:
        """Every key matching ``pattern``, by SCAN."""
        found: list[str] = []
        cursor = "0"
        while True:
            cursor, batch = self("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found += batch
            if cursor == "0":
                return found

    def info(self, section: str) -> dict[str, str]:
        text: str = self("INFO", section)
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))

    def _read(self) -> Any:
        line = self._file.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._file.read(size + 2)[:-2].decode("utf-8", "surrogateescape")
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._read() for _ in range(size)]
        raise ValueError(f"bad RESP line {line!r}")
