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


def _answer(request: bytes, status: bytes) -> bytes:
    """A UAS's response to ``request`` (RFC 3261 §8.2.6: Via, From, To, Call-ID, CSeq copied)."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    kept = [h for h in head if h.split(b":", 1)[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
    return b"SIP/2.0 " + status + b"\r\n" + b"\r\n".join(kept) + b"\r\nContent-Length: 0\r\n\r\n"


def test_a_single_process_sends_its_requests_from_a_port_of_its_own(tmp_path: Path) -> None:
    """The answers to what the proxy relays come back to a socket of their own, so a flood of
    new requests on the public port cannot push them out of a full receive buffer."""

    async def run() -> tuple[int, int, bytes, bytes]:
        pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pbx.bind(("127.0.0.1", 0))
        public = free_port()
        overrides = {
            "listen": [f"udp:127.0.0.1:{public}"],
            "no_detect": True,
            "data_dir": str(tmp_path),
            "shutdown_timeout": 0.2,
            "upstream": [f"sip:127.0.0.1:{pbx.getsockname()[1]}"],
        }
        rt = Runtime(load(None, overrides))
        await rt.start()
        caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        caller.bind(("127.0.0.1", 0))
        loop = asyncio.get_running_loop()
        try:
            via = f"127.0.0.1:{caller.getsockname()[1]}"
            caller.sendto(invite(via_host=via, branch="z9hG4bK-own"), ("127.0.0.1", public))
            pbx.settimeout(2.0)
            caller.settimeout(2.0)
            relayed, sender = await loop.run_in_executor(None, pbx.recvfrom, 65535)
            top = relayed.split(b"\r\nVia: ", 1)[1].split(b"\r\n", 1)[0]
            pbx.sendto(_answer(relayed, b"180 Ringing"), sender)  # to where the request came from
            got = b""
            while not got.startswith(b"SIP/2.0 180"):
                got = await loop.run_in_executor(None, caller.recv, 65535)
        finally:
            caller.close()
            pbx.close()
            await rt.stop()
        return public, int(sender[1]), top, got

    public, sent_from, top, got = asyncio.run(run())
    assert sent_from != public
    assert top.startswith(f"SIP/2.0/UDP 127.0.0.1:{sent_from};".encode())  # answers come back there
    assert got.startswith(b"SIP/2.0 180 Ringing")
