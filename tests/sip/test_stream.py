"""Stream framing (RFC 3261 §18.3) with RFC 4475 messages: ``parse_stream(buf) -> (msg, used)``."""

from __future__ import annotations

import pytest

from antibot.sip.errors import Incomplete, ParseError
from antibot.sip.message import Request
from antibot.sip.parser import MAX_MESSAGE, parse_stream

from ._support import load, manifest

SUITE = "rfc4475"


def message(name: str) -> bytes:
    row = next((r for r in manifest(SUITE) if r["name"] == name), None)
    return load(SUITE, row)


def test_every_strict_prefix_is_incomplete() -> None:
    data = message("lwsdisp")
    for cut in range(len(data)):
        with pytest.raises(Incomplete):
            parse_stream(data[:cut])
    msg, used = parse_stream(data)
    assert used == len(data) == 255
    assert isinstance(msg, Request) and msg.method == "OPTIONS"


def test_body_is_awaited_then_framed_by_content_length() -> None:
    data = message("mpart01")  # binary body with NULs and bare LFs: only Content-Length frames it
    head_end = data.index(b"\r\n\r\n") + 4
    for cut in (head_end, head_end + 100, len(data) - 1):
        with pytest.raises(Incomplete):
            parse_stream(bytearray(data[:cut]))
    msg, used = parse_stream(bytearray(data))
    assert used == len(data) and len(msg.body) == 553 and b"\x00" in msg.body


def test_used_counts_exactly_one_message() -> None:
    first, second = message("esc02"), message("wsinv")
    buf = bytearray(first + second + second[:10])
    msg, used = parse_stream(buf)
    assert used == len(first) and isinstance(msg, Request) and msg.method == "RE%47IST%45R"
    del buf[:used]
    msg, used = parse_stream(buf)
    assert used == len(second) and msg.call_id == "wsinv.ndaksdj@192.0.2.1" and len(msg.body) == 150
    del buf[:used]
    with pytest.raises(Incomplete):
        parse_stream(buf)


def test_trailing_octets_of_dblreq_stay_in_the_buffer() -> None:
    data = message("dblreq")
    msg, used = parse_stream(data)
    assert isinstance(msg, Request) and msg.method == "REGISTER"
    assert used == len(data) - 450 and data[used:].startswith(b"\r\nINVITE sip:joe@example.com SIP/2.0\r\n")


def test_content_length_is_required_on_streams() -> None:
    with pytest.raises(ParseError) as info:
        parse_stream(message("inv2543"))  # RFC 2543 style, fine on UDP only
    assert info.value.status == 400 and info.value.reason == "missing Content-Length on a stream transport"


def test_clerr_waits_for_the_announced_body() -> None:
    data = message("clerr")  # Content-Length 9999: on a stream, wait (then the idle timer closes)
    with pytest.raises(Incomplete) as info:
        parse_stream(data)
    assert info.value.status is None
    msg, used = parse_stream(data + b"x" * (9999 - (len(data) - data.index(b"\r\n\r\n") - 4)))
    assert len(msg.body) == 9999 and used == data.index(b"\r\n\r\n") + 4 + 9999


def test_content_length_beyond_the_message_limit_is_refused() -> None:
    data = message("clerr").replace(b"Content-Length: 9999", b"Content-Length: %d" % MAX_MESSAGE)
    with pytest.raises(ParseError) as info:
        parse_stream(data)
    assert info.value.reason == "message too large"


def test_header_section_without_end_is_refused_past_the_limit() -> None:
    with pytest.raises(Incomplete):
        parse_stream(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"a" * (MAX_MESSAGE - 40))
    with pytest.raises(ParseError) as info:
        parse_stream(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"a" * MAX_MESSAGE)
    assert info.value.reason == "header section too long"


@pytest.mark.parametrize(("name", "reason"), [("ncl", "bad Content-Length"), ("mcl01", "more than one Content-Length")])
def test_bad_content_length_is_an_error_not_a_wait(name: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_stream(message(name))
    assert info.value.status == 400 and reason in info.value.reason
