"""The UDP ports of a node's workers of their own: free, distinct, and never a listen port."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import antibot.run.ports as ports

from .test_runtime import free_port, settings


def test_a_listen_port_the_kernel_hands_out_again_is_never_a_workers_own_port(tmp_path: Path, monkeypatch: Any) -> None:
    """The parent's check of the listen addresses has released them when it picks the workers'
    own ports, and the kernel may hand the public port out again as a free one: a worker would
    then be refused its own port, or take the public one from its siblings."""
    public = free_port()
    real = ports._udp_bound
    asked: list[int] = []

    def kernel_reuses_the_public_port_first(host: str, port: int) -> socket.socket:
        asked.append(port)
        return real(host, public if len(asked) == 1 else port)

    monkeypatch.setattr(ports, "_udp_bound", kernel_reuses_the_public_port_first)
    got = ports.own_ports(settings(tmp_path, public), 2)
    assert len(asked) >= 3  # the public port was offered, refused, and two more asked for
    assert public not in got and len(set(got)) == 2
