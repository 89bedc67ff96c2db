"""SIP over WebSocket end to end (RFC 7118): a WebSocket client (wsproto over a socket, shaped
like a browser) calls through the proxy to a sipp PBX over UDP, over ws:// and wss://; the PBX's
BYE comes back over the WebSocket; bad clients are refused while calls go on."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from ..tlscerts import make_certs
from .browser_sip import browser_missing, call_from_browser, http_server, site
from .harness import Harness
from .peers import Proxy
from .procs import HOST, free_port
from .wsclient import Call, WsSip

pytestmark = pytest.mark.e2e


def ws_proxy(e2e: Harness, upstream: str, scheme: str, tmp_path: Path, *extra: str) -> tuple[Proxy, int, Path | None]:
    """A proxy with a ``scheme`` (ws or wss) listener beside its UDP one; the CA for wss."""
    port = free_port()
    args = ["--listen", f"{scheme}:{HOST}:{port}", *extra]
    ca = None
    if scheme == "wss":
        certs = make_certs(tmp_path / "certs")
        args += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
        ca = certs.ca
    return e2e.proxy([upstream], extra=args), port, ca


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_a_websocket_call_reaches_a_udp_pbx(e2e: Harness, tmp_path: Path, scheme: str) -> None:
    """INVITE over the WebSocket: 100, 180, 200; ACK and BYE reach the PBX, which saw our Via
    over UDP and two Record-Routes (UDP towards it, ws/wss towards the caller, RFC 5658)."""
    uas = e2e.uas("uas_answer.xml")
    proxy, port, ca = ws_proxy(e2e, f"sip:{uas.addr}", scheme, tmp_path)
    client = WsSip(port, ca=ca)
    assert client.accepted, client.answer
    call = Call(client, port)
    assert call.invite() == [100, 180, 200]
    call.ack()
    assert call.bye() == 200
    client.close()
    uas.settle(1)
    assert uas.stat("SuccessfulCall(C)") == 1 and uas.count("BYE_Recv") == 1
    invite = uas.received("INVITE ")[0]
    assert f"<sip:{proxy.addr};lr;abt=" in invite, invite
    assert f"<sip:{HOST}:{port};transport={scheme};lr;abt=" in invite, invite
    # our Via on the UDP side: the proxy's host and the port its requests leave from (its own)
    assert re.search(rf"Via: SIP/2.0/UDP {re.escape(HOST)}:\d+;branch=z9hG4bK-ab", invite), invite


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_the_pbx_hangs_up_over_the_websocket(e2e: Harness, tmp_path: Path, scheme: str) -> None:
    """The PBX's BYE is for a ``.invalid`` Contact: it reaches the caller over its WebSocket."""
    uas = e2e.uas("uas_bye.xml")
    _, port, ca = ws_proxy(e2e, f"sip:{uas.addr}", scheme, tmp_path)
    client = WsSip(port, ca=ca)
    call = Call(client, port)
    assert call.invite()[-1] == 200
    call.ack()
    bye = call.answer_bye()
    assert bye.startswith(f"BYE sip:alice@{client.host};transport=ws SIP/2.0\r\n"), bye
    assert f"Via: SIP/2.0/{scheme.upper()} {HOST}:{port};branch=" in bye, bye
    uas.settle(1)
    assert uas.stat("SuccessfulCall(C)") == 1, "the PBX did not get the 200 for its BYE"


def test_bad_websocket_clients_are_refused_and_a_call_still_completes(e2e: Harness, tmp_path: Path) -> None:
    """No ``sip`` subprotocol: 400. A browser page from an origin not allowed: 403. A message
    over the size limit: closed with 1009. A call on another connection meanwhile completes."""
    uas = e2e.uas("uas_answer.xml")
    proxy, port, _ = ws_proxy(e2e, f"sip:{uas.addr}", "ws", tmp_path, "--ws-origin", "https://phone.example.com")
    good = WsSip(port, origin="https://phone.example.com")
    call = Call(good, port)
    assert call.invite() == [100, 180, 200]
    assert WsSip(port, subprotocols=("chat",)).status() == 400
    assert WsSip(port, origin="https://evil.example").status() == 403
    big = WsSip(port)
    big.send_bytes(b"x" * 70_000)
    assert big.closed_with() == 1009
    with socket.create_connection((HOST, port), timeout=10) as garbage:
        garbage.sendall(b"\x00\xff" * 5000)
        assert garbage.recv(100).startswith(b"HTTP/1.1 400 ")
    call.ack()
    assert call.bye() == 200
    stats = proxy.stop()
    assert stats.get("ws_refused_subprotocol") == 1 and stats.get("ws_refused_origin") == 1, stats
    assert stats.get("ws_too_large") == 1, stats


@pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
def test_a_browser_calls_through_the_websocket(e2e: Harness, tmp_path: Path) -> None:
    """Chromium runs SIP.js (pinned, from npm) on a page served from 127.0.0.1: its call over
    ws:// through the proxy to the sipp PBX (answering with a WebRTC SDP) is established and
    ended by the browser's BYE; the page's origin is the one allowed."""
    uas = e2e.uas("uas_webrtc.xml")
    port = free_port()
    root = site(tmp_path / "site", f"ws://{HOST}:{port}")
    with http_server(root) as origin:
        proxy = e2e.proxy([f"sip:{uas.addr}"], extra=["--listen", f"ws:{HOST}:{port}", "--ws-origin", origin])
        result = call_from_browser(origin, tmp_path / "profile")
    assert result["error"] is None, result
    states = [s for s in result["states"] if s != "Terminating"]
    assert states == ["Establishing", "Established", "Terminated"], result
    uas.settle(1)
    assert uas.stat("SuccessfulCall(C)") == 1 and uas.count("BYE_Recv") == 1
    invite = uas.received("INVITE ")[0]
    assert f"<sip:{HOST}:{port};transport=ws;lr;abt=" in invite, invite
    assert proxy.stop().get("ws_accepted") == 1
