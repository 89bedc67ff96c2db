"""Property-based fuzzing of the parser (Hypothesis), seeded from the RFC 4475 and RFC 5118 corpora.

The property: whatever bytes arrive, as a datagram or on a stream, the parser returns a message or
raises an error of the :class:`SipError` hierarchy (antibot/sip/errors.py), nothing else; and what
it returns survives every accessor the proxy reads, the forwarding check and the rebuild for the
wire, again raising nothing but :class:`SipError`. Budget and reproduction: ``_hypo.py``.
"""

from __future__ import annotations

from contextlib import suppress

from hypothesis import given
from hypothesis import strategies as st

from antibot.sip import build
from antibot.sip.errors import Incomplete, SipError
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram, parse_stream
from antibot.sip.validate import check_forwardable

from ._hypo import corpus, fuzz_settings, messages

VIA = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-fz00.1;rport"


def _use(msg: Request | Response) -> None:
    """Everything the proxy reads of a message it relays, then the message rebuilt for the wire."""
    assert isinstance(msg, Request | Response), type(msg)
    for read in (
        lambda: msg.vias,
        lambda: msg.top_via_text,
        lambda: msg.from_,
        lambda: msg.to,
        lambda: msg.from_uri,
        lambda: msg.to_uri,
        lambda: msg.from_tag,
        lambda: msg.to_tag,
        lambda: [msg.values(k) for k in ("contact", "route", "record-route", "user-agent", "call-id")],
    ):
        with suppress(SipError):
            read()
    if isinstance(msg, Response):
        with suppress(SipError):
            build.forward_response(msg)
        return
    try:
        _ = msg.parties
        _ = [(r.value, r.sip_uri) for r in msg.routes]
        check_forwardable(msg)
    except SipError:
        return
    build.forward_request(msg, via=VIA, pop_routes=0)
    build.response(msg.headers, 400, "Bad Request")


def _datagram(data: bytes) -> None:
    try:
        msg = parse_datagram(data)
    except SipError:
        return
    _use(msg)


def _stream(data: bytes) -> None:
    buffer = bytearray(data)
    for _ in range(4):  # pipelined messages: at most a few per buffer
        try:
            msg, used = parse_stream(buffer)
        except Incomplete:
            return
        except SipError:
            return
        assert 0 < used <= len(buffer), (used, len(buffer))
        _use(msg)
        del buffer[:used]


def test_the_corpus_is_there() -> None:
    assert len(corpus()) >= 50  # 49 RFC 4475 messages + the RFC 5118 ones: seeds, not an empty list


@fuzz_settings()
@given(messages())
def test_a_mutated_datagram_parses_or_raises_a_sip_error(data: bytes) -> None:
    _datagram(data)


@fuzz_settings()
@given(st.lists(messages(), min_size=1, max_size=3))
def test_a_mutated_stream_parses_or_raises_a_sip_error(parts: list[bytes]) -> None:
    _stream(b"".join(parts))


@fuzz_settings()
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_parse_or_raise_a_sip_error(data: bytes) -> None:
    _datagram(data)
    _stream(data)
