"""Routing helpers: received/rport on the top Via (RFC 3261 §18.2.1, RFC 3581 §4), branches (§16.6)."""

from __future__ import annotations

import pytest

from antibot.proxy.effects import Addr
from antibot.proxy.routing import (
    BRANCH_PREFIX,
    Listener,
    LocalIdentity,
    branch_for,
    fixed_top_via,
    loop_hash,
    no_user,
    stateful_branch,
)
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram
from antibot.sip.via import parse_via

SRC = Addr("udp", "192.0.2.7", 40000)


@pytest.mark.parametrize(
    ("via", "fixed"),
    [
        ("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-1", None),  # same host, no rport: unchanged
        ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;received=192.0.2.7"),
        (
            "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-1;rport",
            "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-1;rport=40000;received=192.0.2.7",
        ),
        (
            "SIP/2.0/UDP 10.0.0.1;received=1.2.3.4;branch=z9hG4bK-1;RPORT",
            "SIP/2.0/UDP 10.0.0.1;received=192.0.2.7;branch=z9hG4bK-1;rport=40000",
        ),
    ],
)
def test_received_and_rport_are_filled_in(via: str, fixed: str | None) -> None:
    assert fixed_top_via(parse_via(via), via, SRC) == fixed


def _request(call_id: str) -> Request:
    msg = parse_datagram(
        (
            "INVITE sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK-1\r\n"
            f"From: <sip:a@x>;tag=1\r\nTo: <sip:100@192.0.2.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(msg, Request)
    return msg


def test_branches_carry_the_loop_hash_and_differ_per_transaction() -> None:
    req = _request("c1")
    a, b = stateful_branch(req, "1f"), stateful_branch(req, "20")
    assert a != b and a.startswith(f"{BRANCH_PREFIX}{loop_hash(req)}.")
    assert branch_for(req) == branch_for(_request("c1"))  # stateless ACKs: deterministic
    assert branch_for(req) != branch_for(_request("c2"))


def test_the_proxy_recognises_its_own_uris() -> None:
    me = LocalIdentity(
        [Listener("udp", "0.0.0.0", 5060, "203.0.113.10"), Listener("tcp", "0.0.0.0", 5070, "pbx.example")]
    )
    assert me.uri_is_me("sip:203.0.113.10") and me.uri_is_me("sip:bob@203.0.113.10:5060;transport=udp")
    assert me.uri_is_me("sip:PBX.example:5070;transport=tcp")
    assert not me.uri_is_me("sip:203.0.113.10:5080") and not me.uri_is_me("sip:198.51.100.1")
    assert not me.uri_is_me("sip:[bad")  # unparsable: not us
    assert no_user("sip:203.0.113.10") and not no_user("sip:bob@203.0.113.10") and not no_user("sip:[bad")


def test_the_health_probe_is_a_well_formed_options_from_our_listener() -> None:
    me = LocalIdentity([Listener("udp", "0.0.0.0", 5060, "203.0.113.10"), Listener("udp", "::", 5060, "2001:db8::1")])
    for target, via_host in (
        (Addr("udp", "10.0.0.5", 5080), "203.0.113.10:5060"),
        (Addr("udp", "2001:db8::5", 5080), "[2001:db8::1]:5060"),
    ):
        probe = parse_datagram(me.probe_request(target, f"{BRANCH_PREFIX}probe.7", 7))
        assert isinstance(probe, Request) and (probe.method, probe.cseq_method, probe.call_id) == (
            "OPTIONS",
            "OPTIONS",
            f"probe-{me.instance}-7@antibot",
        )
        assert probe.parsed_uri is not None and probe.parsed_uri.host.host == target.host.strip("[]")
        assert probe.top_via.sent_by.render() == via_host and probe.top_via.branch == f"{BRANCH_PREFIX}probe.7"
        assert probe.from_tag == "probe7" and probe.to_tag is None and probe.max_forwards == 70
