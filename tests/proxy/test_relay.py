"""What the core relays without a decision (antibot/proxy/relay.py): responses by the next Via
when their transaction is gone (RFC 3261 §16.7 step 9), and only responses to our own Via."""

from __future__ import annotations

from antibot.proxy.relay import Relay

from .conftest import CALLER, PBX1, Harness, make_core

_RESPONSE = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP {top};branch=z9hG4bK-long-gone\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-caller-1;received=192.0.2.10;rport=5062\r\n"
    "From: <sip:74951@192.0.2.10>;tag=from-1\r\nTo: <sip:100@127.0.0.1>;tag=pbx-1\r\n"
    "Call-ID: late-2xx@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)


def test_a_2xx_retransmitted_after_its_transaction_goes_by_the_next_via() -> None:
    h = Harness(make_core())
    assert isinstance(h.core, Relay)
    out = h.feed(_RESPONSE.format(top="127.0.0.1:5060").encode(), PBX1)
    assert [t.dest for t in out] == [CALLER]
    assert b"z9hG4bK-long-gone" not in out[0].data  # our Via is removed (§16.7 step 3)


def test_a_response_to_someone_elses_via_is_dropped() -> None:
    h = Harness(make_core())
    assert h.feed(_RESPONSE.format(top="198.51.100.7:5060").encode(), PBX1) == []
    assert h.core.stats["responses_not_ours"] == 1
