"""The memory and drain scenarios' callers: the bench's own probe INVITEs are not legit calls, and
the unique-caller flood ACKs its finals as a caller does."""

from __future__ import annotations

from faultlib.memory import ack_for, legit_reached

from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram


def test_a_probe_relayed_before_the_drain_is_not_counted_as_a_legit_call() -> None:
    answers = ["SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable (Retry-After: 30)", "no answer"]
    assert legit_reached(60, answers) == 59
    assert legit_reached(60, ["SIP/2.0 503 Service Unavailable (Retry-After: 30)"] * 3) == 60


FINAL = (
    b"SIP/2.0 {status}\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.2:4000;branch=z9hG4bK-u7x1f;rport=4000\r\n"
    b"Record-Route: <sip:127.0.0.1:5060;lr;ab=tok>\r\n"
    b"From: <sip:1@127.0.0.2>;tag=u7\r\nTo: <sip:2@127.0.0.1>;tag=pbx\r\n"
    b"Call-ID: u7-1@127.0.0.2\r\nCSeq: 1 INVITE\r\n"
    b"Contact: <sip:127.0.0.1:5080;transport=udp>\r\nContent-Length: 0\r\n\r\n"
)


def test_the_flood_acks_a_2xx_end_to_end_through_the_record_route_set() -> None:
    """RFC 3261 §13.2.2.4: a 2xx's ACK is a new transaction to the Contact, routed by the
    Record-Route set; sent to the proxy without a Route it is dropped and the PBX resends its
    200 for 32 s (the earlier memory-flood runs: about 980,000 finals)."""
    ack = parse_datagram(ack_for(FINAL.replace(b"{status}", b"200 OK"), b"200"))
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.uri == "sip:127.0.0.1:5080;transport=udp"
    assert ack.values("route") == ["<sip:127.0.0.1:5060;lr;ab=tok>"]
    assert ack.top_via is not None and ack.top_via.branch != "z9hG4bK-u7x1f"
    assert ack.to_tag == "pbx" and ack.call_id == "u7-1@127.0.0.2"


def test_the_flood_acks_a_non_2xx_hop_by_hop_on_the_invite_branch() -> None:
    """RFC 3261 §17.1.1.3: the ACK for a 300-699 goes where the INVITE went, on its branch."""
    ack = parse_datagram(ack_for(FINAL.replace(b"{status}", b"404 Not Found"), b"404"))
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.uri == "sip:127.0.0.1" and not ack.values("route")
    assert ack.top_via is not None and ack.top_via.branch == "z9hG4bK-u7x1f"
