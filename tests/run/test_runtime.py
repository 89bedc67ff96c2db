"""The Runtime of ``antibot run`` on real loopback sockets: it starts, answers, times its
decisions without an admin API, and stops; a start that fails undoes what it started."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from antibot.config import ConfigError, Settings, load
from antibot.run import Runtime

from ..proxy.conftest import invite


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def settings(tmp_path: Path, port: int) -> Settings:
    # --no-detect: the config's rules only, no Redis, no admin API
    listen = [f"udp:127.0.0.1:{port}"]
    overrides = {"listen": listen, "no_detect": True, "data_dir": str(tmp_path), "shutdown_timeout": 0.2}
    return load(None, {"upstream": ["sip:127.0.0.1:9"], **overrides})


def test_start_answer_time_the_decision_and_stop(tmp_path: Path) -> None:
    async def run() -> tuple[bytes, int, bool]:
        rt = Runtime(settings(tmp_path, free_port()))
        await rt.start()
        assert rt.runner is not None and rt.detection is None and rt.api is None
        proto = rt.runner.udp[4]
        assert proto.transport is not None
        port = proto.transport.get_extra_info("sockname")[1]
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2.0)
        loop = asyncio.get_running_loop()
        try:
            via = f"127.0.0.1:{peer.getsockname()[1]}"
            peer.sendto(invite(method="OPTIONS", uri=f"sip:127.0.0.1:{port}", via_host=via), ("127.0.0.1", port))
            answer = await loop.run_in_executor(None, peer.recv, 4096)
            peer.sendto(invite(via_host=via, branch="z9hG4bK-inv"), ("127.0.0.1", port))
            await loop.run_in_executor(None, peer.recv, 4096)  # the 100 Trying: decided by then
            decided = rt.runner.latency.sample()[1]
        finally:
            peer.close()
            await rt.stop()
        return answer, decided, proto.transport.is_closing()

    answer, decided, closed = asyncio.run(run())
    assert answer.startswith(b"SIP/2.0 200 ")  # OPTIONS to the proxy itself
    assert decided == 1  # the INVITE's decision, timed by the runner with no API at all
    assert closed


def test_a_busy_address_fails_the_start_and_leaves_nothing_running(tmp_path: Path) -> None:
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        rt = Runtime(settings(tmp_path, busy.getsockname()[1]))
        with pytest.raises(ConfigError, match="cannot listen on udp:127.0.0.1"):
            asyncio.run(rt.start())
        assert rt.core is None and rt.runner is None  # refused before anything was built
    finally:
        busy.close()
