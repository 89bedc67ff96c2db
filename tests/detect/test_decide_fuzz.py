"""The decision hook never raises on what the proxy would score.

A seeded mutator turns valid INVITEs (the detection tests' messages, the proxy harness's and
the RFC 4475/5118 torture requests) into thousands of hostile datagrams. Each one must be
refused by the parser or by :func:`check_forwardable` with a :class:`SipError`, or else
``Detector.decide`` with the shipped model must return a :class:`Verdict` and
``forward_request`` must build the forwarded bytes: no other exception, ever. Before the
validator, a second Via with ``;x:y`` alone made ``decide`` raise (and the proxy fail open).
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.features import FEATURE_NAMES, invite_features
from antibot.detect.model import load_model
from antibot.detect.rules import RuleSet
from antibot.proxy.decision import Verdict
from antibot.sip import build
from antibot.sip.errors import SipError
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram, parse_stream
from antibot.sip.validate import check_forwardable

from ..proxy.conftest import invite as harness_invite
from ..sip._fuzz import LINES, mutate, torture_requests
from . import _sip

MODEL = Path(__file__).resolve().parents[2] / "models" / "antibot-gbt.json"
SOURCE = _sip.addr("198.51.100.7")
T0 = 1_700_000_000.0
#: Mutated datagrams per run: about 3 s in pure Python.
ROUNDS = 12_000


def _wire(text: str, body: str = "") -> bytes:
    lines = text.strip("\n").split("\n")
    raw_body = body.replace("\n", "\r\n").encode("latin-1")
    return ("\r\n".join([*lines, f"Content-Length: {len(raw_body)}"]) + "\r\n\r\n").encode("latin-1") + raw_body


def corpus() -> list[bytes]:
    """Valid requests to mutate: INVITEs first, then every torture request that must be accepted."""
    out = [
        _wire(_sip.SCANNER.replace("Content-Length: 0\n", "")),
        _wire(_sip.COMPACT.replace("l: 0\n", "")),
        _wire(_sip.PHONE, _sip.PHONE_SDP),
        _wire(_sip.ANONYMOUS, _sip.CARRIER_SDP),
        _wire(_sip.TEL),
        harness_invite(),
        harness_invite(to_tag="t1", extra="Route: <sip:127.0.0.1:5060;lr>\r\n"),
    ]
    out.extend(torture_requests())
    return out


@pytest.fixture(scope="module")
def detector() -> Detector:
    model, _ = load_model(MODEL, FEATURE_NAMES)

    class Sink:
        def submit(self, entry: dict[str, str]) -> bool:
            return True

    return Detector(rules=RuleSet(), model=model, counters=LocalCounters(), calllog=Sink(), clock=lambda: T0)


def outcomes(detector: Detector, data: bytes) -> Iterator[str]:
    """What happened to ``data``: "refused", "parsed" or "scored"; raises anything unexpected."""
    for framing in ("datagram", "stream"):
        try:
            msg = parse_datagram(data) if framing == "datagram" else parse_stream(data + b"\r\n\r\n")[0]
        except SipError:
            yield "refused"
            continue
        if not isinstance(msg, Request):
            yield "parsed"
            continue
        try:
            check_forwardable(msg)
        except SipError:
            yield "refused"
            continue
        if msg.method == "INVITE":
            invite_features(msg, SOURCE.host, detector.lists)  # raises what decide() would fall back on
        errors = detector.stats.internal_errors
        verdict = detector.decide(msg, SOURCE, 0.0)
        assert isinstance(verdict, Verdict) and detector.stats.internal_errors == errors
        out = build.forward_request(
            msg,
            via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ab00.1;rport",
            top=[("Record-Route", "<sip:127.0.0.1:5060;lr>")],
            add=verdict.headers,
            strip_antibot=True,
        )
        assert out.startswith(msg.method.encode("latin-1") + b" ")
        yield "scored"


def test_every_mutated_invite_is_refused_or_scored(detector: Detector) -> None:
    rng = random.Random(16)
    seeds = corpus()
    failures: dict[str, tuple[bytes, str]] = {}
    seen: dict[str, int] = {}
    for _ in range(ROUNDS):
        data = mutate(rng.choice(seeds), rng)
        try:
            for outcome in outcomes(detector, data):
                seen[outcome] = seen.get(outcome, 0) + 1
        except Exception as exc:  # noqa: BLE001 - collected, then reported all at once
            failures.setdefault(type(exc).__name__, (data, traceback.format_exc(limit=-3)))
    report = "\n\n".join(f"{name} on {data!r}:\n{tb}" for name, (data, tb) in failures.items())
    assert not failures, f"{len(failures)} exception types:\n{report}"
    # The run means something only if many mutants get through to the detector, and many do not.
    assert seen.get("scored", 0) > ROUNDS // 5 and seen.get("refused", 0) > ROUNDS // 5, seen


@pytest.mark.parametrize("line", LINES, ids=lambda line: line.decode("latin-1")[:40])
def test_each_hostile_line_is_refused_or_scored(detector: Detector, line: bytes) -> None:
    for seed in corpus()[:7]:
        first = seed.find(b"\r\n")
        data = seed[: first + 2] + line + b"\r\n" + seed[first + 2 :]
        assert set(outcomes(detector, data)) <= {"refused", "scored"}


def test_the_second_via_of_the_issue_is_refused_before_the_detector(detector: Detector) -> None:
    data = harness_invite(extra="Via: SIP/2.0/UDP 1.2.3.4;x:y\r\n")
    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    with pytest.raises(SipError) as info:
        check_forwardable(msg)
    assert info.value.status == 400 and "Via" in info.value.reason
