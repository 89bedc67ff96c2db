"""The UDP ports of a node's workers of their own (:mod:`.workers`), or of a single process."""

from __future__ import annotations

import socket

from ..config import ConfigError, Settings


def own_ports(s: Settings, n: int) -> tuple[int, ...]:
    """N free UDP ports, each free on every UDP listen host (the workers' own ports), none of
    them a listen port: the parent has released its check of the listen addresses by now, and
    the kernel may hand one of those out again as a free port."""
    hosts = sorted({x.host for x in s.listen if x.transport == "udp"}) or ["127.0.0.1"]
    listen = {x.port for x in s.listen}
    ports: list[int] = []
    for _ in range(100 * n):
        if len(ports) == n:
            break
        held: list[socket.socket] = []
        try:
            first = _udp_bound(hosts[0], 0)
            held.append(first)
            port = int(first.getsockname()[1])
            held.extend(_udp_bound(h, port) for h in hosts[1:])
            if port not in ports and port not in listen:
                ports.append(port)
        except OSError:
            pass
        finally:
            for sock in held:
                sock.close()
    if len(ports) < n:
        raise ConfigError("cannot find a free UDP port for every worker")
    return tuple(ports)


def _udp_bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
