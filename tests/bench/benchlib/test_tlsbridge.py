"""The TLS side of the benchmark (bench/benchlib/tlsbridge.py): certificates, Kamailio's tls.cfg,
the socat bridge's command and what it logged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from benchlib import tlsbridge

CERTS = tlsbridge.Certs(Path("/b/ca.pem"), Path("/b/server.pem"), Path("/b/server.key"))


def test_kamailio_tls_cfg_serves_the_certificate_without_asking_the_client_for_one() -> None:
    cfg = tlsbridge.kamailio_tls_cfg(CERTS)
    lines = cfg.splitlines()
    assert lines[0] == "[server:default]"
    assert "certificate = /b/server.pem" in lines
    assert "private_key = /b/server.key" in lines
    assert "method = TLSv1.2+" in lines
    assert "verify_certificate = no" in lines and "require_certificate = no" in lines
    assert "[client:default]" not in cfg  # the PBX side is UDP: Kamailio opens no TLS connection


def test_bridge_command_listens_for_tcp_and_verifies_the_proxy_against_the_ca() -> None:
    cmd = tlsbridge.bridge_command(5070, 5061, CERTS.ca)
    assert cmd[0] == "socat"
    assert "TCP-LISTEN:5070,bind=127.0.0.1,reuseaddr,fork" in cmd
    assert cmd[-1] == "OPENSSL:127.0.0.1:5061,cafile=/b/ca.pem"  # verify is socat's default


def test_bridge_ciphers_come_from_socat_s_notices(tmp_path: Path) -> None:
    bridge = tlsbridge.Bridge(tmp_path, 5070, 5061, CERTS.ca)
    assert bridge.ciphers() == []  # no log yet
    (tmp_path / "socat.log").write_text(
        "2026/12/06 23:25:25 socat[1] N accepting connection from AF=2 127.0.0.1:4 on AF=2 127.0.0.1:5070\n"
        "2026/12/06 23:25:25 socat[2] N SSL connection using TLS_AES_256_GCM_SHA384\n"
        "2026/12/06 23:25:26 socat[3] N SSL connection using TLS_AES_128_GCM_SHA256\n"
    )
    assert bridge.ciphers() == ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_make_certs_signs_a_certificate_for_127_0_0_1(tmp_path: Path) -> None:
    certs = tlsbridge.make_certs(tmp_path)
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(certs.ca), "-verify_ip", "127.0.0.1", str(certs.cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert certs.key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
