"""A test CA and certificates for 127.0.0.1, made with the ``openssl`` command (no Python
crypto package needed), for the TLS tests."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path


def make_certs(where: Path, name: str = "server", ca: Certs | None = None) -> Certs:
    """A CA (unless ``ca``: a set made before, its CA used) and a certificate for 127.0.0.1
    (common name ``name``) signed by it, with ``openssl``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl not found on PATH: the TLS tests make their certificates with it", pytrace=False)
    where.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=where, check=True, capture_output=True, timeout=30)

    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    if ca is None:
        run("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=antibot test CA")
        ca_pem, ca_key = where / "ca.pem", where / "ca.key"
    else:
        ca_pem, ca_key = ca.ca, ca.ca.parent / "ca.key"
    (where / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", *curve, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    run(
        "x509", "-req", "-in", f"{name}.csr", "-CA", str(ca_pem), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
    )  # fmt: skip
    return Certs(ca_pem, where / f"{name}.pem", where / f"{name}.key")
