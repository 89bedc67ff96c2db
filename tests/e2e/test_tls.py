"""SIP over TLS end to end: calls over TLS in both directions, certificate reload, bad clients.

Debian's sipp is built without TLS, so a real TLS peer stands in front of it: socat (OpenSSL)
turns sipp's TCP into TLS. Caller side, ``socat TCP-LISTEN -> OPENSSL`` (it verifies the
proxy's certificate against the test CA); PBX side, ``socat OPENSSL-LISTEN -> TCP``. The test CA
and certificates are made in the test with the ``openssl`` command.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import ssl
import time
from pathlib import Path

import pytest

from ..tlscerts import Certs, make_certs
from .harness import Harness
from .peers import Proxy, Sipp, sipp_failure
from .procs import HOST, free_port, wait_for
from .rawsip import RawPbx
from .test_calls import assert_calls
from .test_tcp_limits import options

pytestmark = pytest.mark.e2e

CALLS = 5
HANDSHAKE_TIMEOUT = 1.0


def socat(e2e: Harness, label: str, *address: str) -> None:
    binary = shutil.which("socat")
    if binary is None:
        pytest.fail("socat not found on PATH: the TLS tests use it as sipp's TLS (apt-get install socat)", False)
    workdir = e2e.tmp / label
    workdir.mkdir()
    e2e.procs.artifacts.append((f"socat {label}", workdir / "stderr.log"))
    e2e.procs.spawn([binary, "-d", *address], workdir, workdir / "stdout.log", workdir / "stderr.log", grace=2.0)


def pbx_tls(e2e: Harness, certs: Certs, port: int, uas: Sipp) -> None:
    """socat as the PBX's TLS side: TLS on ``port`` (presenting ``certs``), TCP to the sipp PBX."""
    listen = f"OPENSSL-LISTEN:{port},bind={HOST},reuseaddr,fork,cert={certs.cert},key={certs.key},verify=0"
    socat(e2e, "socat-pbx", listen, f"TCP:{uas.addr}")
    wait_for(lambda: _accepts(port), 10.0, f"socat to listen on {port}")


def tls_proxy(e2e: Harness, certs: Certs, upstreams: list[str], *extra: str) -> tuple[Proxy, int]:
    port = free_port()
    args = ["--listen", f"tls:{HOST}:{port}", "--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
    args += ["--tls-handshake-timeout", f"{HANDSHAKE_TIMEOUT:g}", *extra]
    return e2e.proxy(upstreams, extra=args), port


def tls_caller(e2e: Harness, certs: Certs, tls_port: int, *, label: str = "uac", calls: int = CALLS) -> Sipp:
    """sipp over TCP into socat, which carries it over TLS to the proxy (verifying its certificate)."""
    bridge = free_port()
    socat(e2e, f"socat-{label}", f"TCP-LISTEN:{bridge},bind={HOST},reuseaddr",
          f"OPENSSL:{HOST}:{tls_port},cafile={certs.ca}")  # fmt: skip
    wait_for(lambda: _accepts(bridge), 10.0, f"socat to listen on {bridge}")
    uac = e2e.sipp(label, "uac_call.xml", remote=f"{HOST}:{bridge}", transport="tcp", calls=calls, rate=10)
    uac.wait()
    return uac


def _accepts(port: int) -> bool:
    """Something listens on 127.0.0.1:port (read from /proc/net/tcp: no probe connection)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False


def test_calls_from_a_tls_caller_reach_a_udp_pbx(e2e: Harness, tmp_path: Path) -> None:
    """sipp -> TLS -> proxy -> UDP -> sipp PBX: the calls complete; the PBX sees our two
    Record-Routes (UDP towards it, TLS towards the caller, RFC 5658) and our UDP Via."""
    certs = make_certs(tmp_path / "certs")
    uas = e2e.uas("uas_answer.xml")
    proxy, tls_port = tls_proxy(e2e, certs, [f"sip:{uas.addr}"])
    uac = tls_caller(e2e, certs, tls_port)
    assert_calls(uac, uas, CALLS)
    invite = uas.received("INVITE ")[0]
    assert f"<sip:{proxy.addr};lr;abt=" in invite, invite
    assert f"<sip:{HOST}:{tls_port};transport=tls;lr;abt=" in invite, invite
    assert uas.count("ACK_Recv") == CALLS
    stats = proxy.stop()
    assert "tls_handshake_failed" not in stats, stats


def test_calls_reach_a_pbx_over_tls(e2e: Harness, tmp_path: Path) -> None:
    """sipp -> UDP -> proxy -> TLS (verified against the configured CA) -> sipp PBX: the calls
    complete, and the PBX sees a TLS Via and a transport=tls Record-Route."""
    certs = make_certs(tmp_path / "certs")
    uas = e2e.uas("uas_answer.xml", transport="tcp")
    pbx = free_port()
    pbx_tls(e2e, certs, pbx, uas)
    proxy, tls_port = tls_proxy(e2e, certs, [f"sip:{HOST}:{pbx};transport=tls"], "--tls-upstream-ca", str(certs.ca))
    uac = e2e.uac("uac_call.xml", proxy, calls=CALLS)
    assert_calls(uac, uas, CALLS)
    invite = uas.received("INVITE ")[0]
    assert f"Via: SIP/2.0/TLS {HOST}:{tls_port};branch=" in invite, invite
    assert f"<sip:{HOST}:{tls_port};transport=tls;lr;abt=" in invite, invite


def test_an_upstream_certificate_from_another_ca_is_refused(e2e: Harness, tmp_path: Path) -> None:
    """The PBX presents a certificate the configured upstream CA did not sign: no INVITE reaches
    it, and the failed connection is logged."""
    certs = make_certs(tmp_path / "certs")
    other = make_certs(tmp_path / "other")
    uas = e2e.uas("uas_answer.xml", transport="tcp")
    pbx = free_port()
    pbx_tls(e2e, other, pbx, uas)
    proxy, _ = tls_proxy(e2e, certs, [f"sip:{HOST}:{pbx};transport=tls"], "--tls-upstream-ca", str(certs.ca))
    uac = e2e.sipp("uac", "uac_call.xml", remote=proxy.addr, calls=1, timeout=10)
    uac.wait()
    assert uac.stat("SuccessfulCall(C)") == 0
    assert uas.count("INVITE_Recv") == 0
    failed = [r for r in proxy.records() if r.get("msg") == "connect failed"]
    assert failed and "CERTIFICATE_VERIFY_FAILED" in str(failed[0].get("error")), failed


def test_a_stalled_handshake_and_a_plain_text_client_are_closed_and_calls_go_on(e2e: Harness, tmp_path: Path) -> None:
    """A client that never sends its ClientHello is closed after the handshake timeout; one that
    speaks plain SIP on the TLS port gets no SIP answer and is closed; TLS calls still complete."""
    certs = make_certs(tmp_path / "certs")
    uas = e2e.uas("uas_answer.xml")
    proxy, tls_port = tls_proxy(e2e, certs, [f"sip:{uas.addr}"])
    with (
        socket.create_connection((HOST, tls_port), timeout=10) as stalled,
        socket.create_connection((HOST, tls_port), timeout=10) as plain,
    ):
        plain.sendall(options(tls_port, plain.getsockname()[1]))
        answer = _read_to_eof(plain)
        assert b"SIP/2.0" not in answer, answer
        assert _read_to_eof(stalled) == b""  # closed by the proxy (bounded by the 10 s socket timeout)
        uac = tls_caller(e2e, certs, tls_port)
        assert_calls(uac, uas, CALLS)
    stats = proxy.stop()
    assert stats.get("tls_handshake_timeout") == 1, stats
    assert stats.get("tls_handshake_failed") == 1, stats


def _read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_sighup_reloads_the_certificate_and_open_connections_go_on(e2e: Harness, tmp_path: Path) -> None:
    """After the certificate files are replaced and SIGHUP is sent, a new connection gets the new
    certificate, while a connection opened before keeps working on the old one."""
    certs = make_certs(tmp_path / "certs")
    uas = e2e.uas("uas_answer.xml")
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(certs.cert, live / "cert.pem")
    shutil.copy(certs.key, live / "key.pem")
    proxy, tls_port = tls_proxy(e2e, Certs(certs.ca, live / "cert.pem", live / "key.pem"), [f"sip:{uas.addr}"])
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    with (
        socket.create_connection((HOST, tls_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=HOST) as before,
    ):
        assert _subject(before) == "server"
        renewed = make_certs(tmp_path / "certs", "renewed", certs)
        shutil.copy(renewed.cert, live / "cert.pem")
        shutil.copy(renewed.key, live / "key.pem")
        proxy.proc.send_signal(signal.SIGHUP)
        # every worker reloads (the parent passes SIGHUP on): a new connection may reach any of them
        wait_for(lambda: _reloaded(proxy) >= proxy.processes(), 10.0, "every process to reload")
        with (
            socket.create_connection((HOST, tls_port), timeout=10) as raw2,
            ctx.wrap_socket(raw2, server_hostname=HOST) as after,
        ):
            assert _subject(after) == "renewed"
        before.sendall(options(tls_port, before.getsockname()[1]))
        assert before.recv(4096).startswith(b"SIP/2.0 200"), "the old connection no longer answers"
    assert proxy.proc.poll() is None
    uac = tls_caller(e2e, certs, tls_port)
    assert_calls(uac, uas, CALLS)


def _reloaded(proxy: Proxy) -> int:
    """How many of the proxy's processes logged that they reloaded their certificates."""
    return len({r.get("worker") for r in proxy.records() if r.get("msg") == "TLS certificates reloaded"})


def _subject(sock: ssl.SSLSocket) -> str:
    cert = sock.getpeercert()
    assert cert is not None
    return str(dict(item[0] for item in cert["subject"])["commonName"])


def test_a_sweep_over_tls_is_stopped_within_a_handful(e2e: Harness, tmp_path: Path) -> None:
    """SIPVicious has no TLS: sipp carries an svwar-shaped sweep over it (extensions 400-459 in
    order, each From == To, a softphone's User-Agent). Detection judges it as over UDP: at most
    5 of its 60 INVITEs reach the PBX, the rest are refused as a sweep."""
    certs = make_certs(tmp_path)
    uas = e2e.uas("uas_answer.xml")
    proxy, tls_port = tls_proxy(e2e, certs, [f"sip:{uas.addr}"], "--detect")
    bridge = free_port()
    socat(e2e, "socat-sweep", f"TCP-LISTEN:{bridge},bind={HOST},reuseaddr",
          f"OPENSSL:{HOST}:{tls_port},cafile={certs.ca}")  # fmt: skip
    wait_for(lambda: _accepts(bridge), 10.0, f"socat to listen on {bridge}")
    inf = e2e.tmp / "sweep.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{ext};{ext};\n" for ext in range(400, 460)))
    ua = "Zoiper rv2.10.20.2"
    sweep = e2e.sipp("sweep", "uac_inject.xml", remote=f"{HOST}:{bridge}", transport="tcp", calls=60, rate=20,
                     extra=["-key", "ua", ua, "-inf", str(inf)])  # fmt: skip
    sweep.wait()
    reached = [m for m in uas.received("INVITE ") if f"User-Agent: {ua}" in m]
    refused = sweep.count("603_Recv") + sweep.count("403_Recv") + sweep.count("404_Recv")
    assert len(reached) <= 5 and refused >= 55, (len(reached), refused, sipp_failure(sweep, uas))
    assert all("Via: SIP/2.0/TLS" in m or "transport=tls" in m for m in reached), reached


def test_a_request_to_an_aliased_tls_phone_reuses_its_connection(e2e: Harness, tmp_path: Path) -> None:
    """RFC 5923: a phone with a client certificate for 127.0.0.1 calls over TLS with ``alias`` in
    its Via; the PBX's BYE, sent to the phone's Contact (its sent-by), comes back over the phone's
    own connection with our ``alias`` Via, and nothing connects to the phone's port."""
    certs = make_certs(tmp_path / "certs")
    phone_certs = make_certs(tmp_path / "certs", "phone", certs)
    pbx = RawPbx()
    try:
        proxy, tls_port = tls_proxy(e2e, certs, [f"sip:{pbx.addr}"], "--tls-ca", str(certs.ca), "--workers", "1")
        with socket.create_server((HOST, 0)) as phone_port:  # where the phone listens: counts connections
            port = phone_port.getsockname()[1]
            ctx = ssl.create_default_context(cafile=str(certs.ca))
            ctx.load_cert_chain(phone_certs.cert, phone_certs.key)
            with (
                socket.create_connection((HOST, tls_port), timeout=10) as raw,
                ctx.wrap_socket(raw, server_hostname=HOST) as phone,
            ):
                phone.sendall(_alias_invite(port, tls_port))
                assert b"SIP/2.0 200" in _read_until(phone, b"SIP/2.0 200")
                # after it, an attacker on plain TCP claims the phone's address: no alias for it
                attacker = socket.create_connection((HOST, proxy.port), timeout=10)
                claim = options(proxy.port, port).replace(b"SIP/2.0/TCP", b"SIP/2.0/TLS")
                attacker.sendall(claim.replace(b";branch=", b";alias;branch=", 1))
                assert _read_until(attacker, b"SIP/2.0 ").startswith(b"SIP/2.0 ")
                wait_for(lambda: bool(pbx.requests("INVITE")), 5.0, "the INVITE to reach the PBX")
                routes = re.findall(rb"\r\nRecord-Route: *(.*?)\r\n", pbx.requests("INVITE")[0])
                pbx.sock.sendto(_pbx_bye(port, pbx.port, routes), ("127.0.0.1", proxy.port))
                bye = _read_until(phone, b"BYE ")
                assert f"BYE sip:200@{HOST}:{port};transport=tls SIP/2.0".encode() in bye, bye
                assert re.search(rb"Via: SIP/2\.0/TLS [^\r]*;rport;alias\r\n", bye), bye
                assert b"BYE" not in _read_until(attacker, b"BYE", 0.3)
                attacker.close()
            phone_port.settimeout(0.2)
            with pytest.raises(TimeoutError):
                phone_port.accept()
        stats = proxy.stop()
        assert stats.get("tls_alias_reused") == 1, stats
    finally:
        pbx.close()


def _alias_invite(port: int, tls_port: int) -> bytes:
    return (
        f"INVITE sip:100@{HOST}:{tls_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {HOST}:{port};branch=z9hG4bK-alias-{port};rport;alias\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:200@{HOST}>;tag=phone\r\nTo: <sip:100@{HOST}>\r\n"
        f"Call-ID: alias-{port}@{HOST}\r\nCSeq: 1 INVITE\r\nContact: <sip:200@{HOST}:{port};transport=tls>\r\n"
        "User-Agent: Yealink SIP-T46S 66.86.0.15\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _pbx_bye(port: int, pbx_port: int, routes: list[bytes]) -> bytes:
    """The PBX's BYE to the phone's Contact, through the Record-Routes it was given (RFC 3261 §12.1.1)."""
    return (
        f"BYE sip:200@{HOST}:{port};transport=tls SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{pbx_port};branch=z9hG4bK-pbxbye-{port};rport\r\n".encode()
        + b"".join(b"Route: " + r + b"\r\n" for r in routes)
        + f"Max-Forwards: 70\r\nFrom: <sip:100@{HOST}>;tag=rawpbx\r\nTo: <sip:200@{HOST}>;tag=phone\r\n"
        f"Call-ID: alias-{port}@{HOST}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n".encode()
    )


def _read_until(sock: socket.socket, marker: bytes, timeout: float = 5.0) -> bytes:
    """What the socket gives until ``marker`` is in it (or the time is up)."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65535)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data
