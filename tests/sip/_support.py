"""Shared helpers for the SIP conformance tests (RFC 4475, RFC 5118).

The messages live outside the repository, in ``shared/conformance`` beside it (see its
SOURCE.md). A missing folder is a failure, never a skip: these tests are the evidence that
the parser and the proxy handle the torture messages.
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from antibot.proxy.config import CoreConfig
from antibot.proxy.core import ProxyCore
from antibot.proxy.decision import Verdict
from antibot.proxy.effects import Addr, NeedVerdict, Transmit
from antibot.proxy.routing import Listener, LocalIdentity
from antibot.proxy.upstreams import Upstream, UpstreamPool
from antibot.sip.parser import parse_datagram

#: The repo root is the parent of tests/; CI clones the repo with shared/ beside it.
CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
MISSING = (
    f"conformance data not found: {CONFORMANCE}/<suite>/MANIFEST.tsv is missing. "
    "The shared/ folder must sit beside the repository (shared/conformance/SOURCE.md)."
)

SOURCE = Addr("udp", "192.0.2.99", 5060)
UPSTREAM = Addr("udp", "127.0.0.1", 5080)
OUR_HOP = "<sip:127.0.0.1:5060;lr>"


def manifest(suite: str) -> list[dict[str, str]]:
    path = CONFORMANCE / suite / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def params(suite: str, column: str = "", classes: frozenset[str] | None = None) -> list[Any]:
    """One pytest param per manifest row (of the given classes), with the message name as id.

    Without the data there is a single param that fails with :data:`MISSING`.
    """
    rows = manifest(suite)
    if not rows:
        return [pytest.param(None, id="conformance-data-missing")]
    return [pytest.param(row, id=row["name"]) for row in rows if classes is None or row[column] in classes]


def load(suite: str, row: dict[str, str] | None) -> bytes:
    """The message bytes, checked against the manifest's size and SHA-256."""
    if row is None:
        pytest.fail(MISSING.replace("<suite>", suite))
    data = (CONFORMANCE / suite / row["file"]).read_bytes()
    assert len(data) == int(row["bytes"]), f"{row['file']}: size differs from MANIFEST.tsv"
    assert hashlib.sha256(data).hexdigest() == row["sha256"], f"{row['file']}: SHA-256 differs from MANIFEST.tsv"
    return data


def make_core() -> ProxyCore:
    me = LocalIdentity([Listener("udp", "127.0.0.1", 5060, "127.0.0.1")])
    pool = UpstreamPool([Upstream("sip:127.0.0.1:5080", UPSTREAM)], probe_interval=0)
    return ProxyCore(me, pool, CoreConfig())


@dataclass
class Run:
    """What the proxy did with one datagram (INVITEs: after a RELAY verdict)."""

    core: ProxyCore
    needed_verdict: bool
    sent: list[Transmit] = field(default_factory=list)

    def to(self, dest: Addr) -> list[Transmit]:
        return [t for t in self.sent if t.dest == dest]


def through_proxy(data: bytes, source: Addr = SOURCE) -> Run:
    core = make_core()
    effects = core.receive_datagram(data, source, 0.0)
    verdicts = [e for e in effects if isinstance(e, NeedVerdict)]
    if verdicts:
        assert effects == verdicts, "a NeedVerdict comes alone, before anything is sent"
        assert len(verdicts) == 1 and verdicts[0].source == source
        effects = core.apply_verdict(verdicts[0].ticket, Verdict.relay(), 0.0)
    assert all(isinstance(e, Transmit) for e in effects), effects
    return Run(core, bool(verdicts), [e for e in effects if isinstance(e, Transmit)])


def status_line(data: bytes) -> tuple[int, str]:
    line = data.split(b"\r\n", 1)[0]
    assert line.startswith(b"SIP/2.0 "), line
    code, _, reason = line[8:].partition(b" ")
    return int(code), reason.decode("ascii")  # our own reason phrases are plain ASCII


def assert_reply(run: Run, status: int, source: Addr = SOURCE) -> tuple[str, bytes]:
    """The proxy answered ``status`` to the sender and forwarded nothing; returns (reason, bytes)."""
    assert len(run.sent) == 1, [t.data[:40] for t in run.sent]
    reply = run.sent[0]
    assert reply.dest == source
    code, reason = status_line(reply.data)
    assert code == status
    assert reason.strip() and reason.isprintable(), repr(reason)
    return reason, reply.data


def header_lines(data: bytes) -> tuple[str, list[str], bytes]:
    """Start line, header lines (folded continuations joined with their CRLF) and body."""
    head, _, body = data.partition(b"\r\n\r\n")
    start, *rest = head.decode("latin-1").split("\r\n")
    lines: list[str] = []
    for raw in rest:
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += "\r\n" + raw
        else:
            lines.append(raw)
    return start, lines, body


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _name(line: str) -> str:
    return line.split(":", 1)[0].strip().lower()


def assert_forwarded(original: bytes, out: Transmit, top: list[str], source: Addr = SOURCE) -> list[str]:
    """``out`` is ``original`` forwarded to the upstream per RFC 3261 §16.6, byte for byte otherwise.

    Above everything: the ``top`` lines (Record-Route/Path), then our new Via. Then every
    original header line in its order, identical, except Max-Forwards (decremented, or 70
    added) and the received Via (``received=`` added when the source differs, §18.2.1). Content-Length is added when
    the original had none. Returns the forwarded header lines.
    """
    assert out.dest == UPSTREAM
    o_start, o_lines, o_body = header_lines(original)
    f_start, f_lines, f_body = header_lines(out.data)
    assert f_start == o_start
    assert f_lines[: len(top)] == top
    via = f_lines[len(top)]
    assert via.startswith("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ab") and via.endswith(";rport"), via
    expected: list[str] = []
    first_via = not _same_ip(parse_datagram(original).vias[0].sent_by.host, source.host)
    for line in o_lines:
        name = _name(line)
        if name == "max-forwards":
            spelled, value = line.split(":", 1)
            expected.append(f"{spelled}: {int(value) - 1}")
        elif name in ("via", "v") and first_via:
            first_via = False
            expected.append(f"{line};received={source.host}")
        else:
            expected.append(line)
    if not any(_name(line) == "max-forwards" for line in o_lines):
        expected.append("Max-Forwards: 70")
    if not any(_name(line) in ("content-length", "l") for line in o_lines):
        expected.append(f"Content-Length: {len(o_body)}")
    assert f_lines[len(top) + 1 :] == expected
    assert f_body == o_body
    return f_lines
