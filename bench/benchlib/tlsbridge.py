"""Calls over TLS: a CA and a server certificate for 127.0.0.1 (made with the ``openssl`` command),
Kamailio's ``tls.cfg`` for them, and the socat bridge that carries sipp's TCP over TLS.

Debian's sipp is built without TLS, so the caller speaks TCP (``-t t1``: one connection, like a
trunk) to ``socat TCP-LISTEN -> OPENSSL``, which opens one TLS connection to the proxy per sipp
connection and verifies the proxy's certificate against the CA. socat's CPU is its own, not the
proxy's: only the proxy's process tree is measured.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import HOST, stop_process, wait_tcp_listening

# the same curve for the CA and the server key: ECDSA P-256, the usual choice for SIP trunks
CURVE = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path


def make_certs(where: Path) -> Certs:
    """A CA and a server certificate for 127.0.0.1 signed by it, in ``where`` (openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found on PATH: the TLS runs make their certificates with it")
    where.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=where, check=True, capture_output=True, timeout=30)

    run("req", "-x509", *CURVE, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=antibot bench CA")
    (where / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", *CURVE, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    )  # fmt: skip
    return Certs(where / "ca.pem", where / "server.pem", where / "server.key")


def kamailio_tls_cfg(certs: Certs) -> str:
    """Kamailio's tls module configuration: a server presenting ``certs``, TLS 1.2 or newer, no
    client certificate asked for (as antibot's listener without ``--tls-ca``)."""
    return (
        "[server:default]\n"
        "method = TLSv1.2+\n"
        "verify_certificate = no\n"
        "require_certificate = no\n"
        f"certificate = {certs.cert}\n"
        f"private_key = {certs.key}\n"
    )


def bridge_command(listen_port: int, tls_port: int, ca: Path) -> list[str]:
    """socat: accept sipp's TCP on ``listen_port``; for each connection (``fork``) open a TLS
    connection to the proxy's ``tls_port``, verifying its certificate against ``ca``."""
    return [
        "socat",
        "-d",
        "-d",  # notices: logs each connection's TLS version and cipher
        f"TCP-LISTEN:{listen_port},bind={HOST},reuseaddr,fork",
        f"OPENSSL:{HOST}:{tls_port},cafile={ca}",
    ]


class Bridge:
    """One socat bridge (and the children it forks per connection), for one measured run."""

    def __init__(self, workdir: Path, listen_port: int, tls_port: int, ca: Path) -> None:
        self.workdir, self.port = workdir, listen_port
        self.cmd = bridge_command(listen_port, tls_port, ca)
        self.log_path = workdir / "socat.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        if not wait_tcp_listening(self.port, timeout, self.proc):
            info = stop_process(self.proc, signal.SIGKILL)
            raise RuntimeError(f"socat did not listen on tcp {self.port} ({info}); log: {self.log_path}")

    def stop(self) -> None:
        """SIGTERM to socat (its forked children get it from the session's kill on timeout)."""
        if self.proc is not None:
            stop_process(self.proc, grace=2.0)

    def ciphers(self) -> list[str]:
        """The negotiated TLS version and cipher of each connection, as socat logged them."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [ln.split("SSL connection using ", 1)[1].strip() for ln in lines if "SSL connection using " in ln]
