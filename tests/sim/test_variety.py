"""Per-installation variety: codec offers, optional headers, hops and identity headers."""

from __future__ import annotations

import random
import re

from antibot.sim.messages import Spec, build
from antibot.sim.servers import ASTERISK_PJSIP, FREESWITCH
from antibot.sim.uas import LINPHONE, YEALINK, ZOIPER
from antibot.sim.variety import OPTIONAL_HEADERS, identity_headers, installation, trim_headers, vary_sdp
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram

SPEC = Spec("INVITE", "14155550123", "203.0.113.10", "2041", "pbx.example.com", "192.168.1.20", 5060, 1.7e9, "Ann")


def _media(sdp: str) -> list[str]:
    line = next(x for x in sdp.split("\r\n") if x.startswith("m=audio"))
    return line.split()[3:]


def _request(data: bytes) -> Request:
    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    return msg


def test_vary_sdp_offers_other_codecs_with_their_lines_only() -> None:
    offers = set()
    for seed in range(200):
        sdp = vary_sdp(YEALINK.sdp, random.Random(seed))
        payloads = _media(sdp)
        offers.add(tuple(payloads))
        assert 1 <= len(payloads) <= 6
        mapped = set(re.findall(r"a=(?:rtpmap|fmtp):(\d+) ", sdp))
        assert mapped <= set(payloads), (payloads, mapped)  # no orphan rtpmap/fmtp lines
        for pt in payloads:
            if int(pt) >= 96:
                assert f"a=rtpmap:{pt} " in sdp  # dynamic payloads are always mapped
        assert sdp.startswith("v=0\r\no=- {sid} {sid} IN IP4 {ip}\r\ns=SDP data\r\n")  # the product's own lines
    assert len(offers) > 30
    assert len({len(o) for o in offers}) >= 4


def test_vary_sdp_keeps_templates_without_audio() -> None:
    assert vary_sdp("v=0\r\ns=x\r\n", random.Random(1)) == "v=0\r\ns=x\r\n"


def test_varied_messages_still_parse_with_exact_length() -> None:
    for seed in range(60):
        rng = random.Random(seed)
        for st in (YEALINK, ZOIPER, LINPHONE, ASTERISK_PJSIP, FREESWITCH):
            inst = installation(st, rng, hops=(0, 3), identity=(("pai", 1.0), ("rpid", 1.0), ("", 1.0)))
            caller = "+14155550100"
            spec = Spec(
                "INVITE", "14155550123", "203.0.113.10", caller, "198.51.100.7", "198.51.100.7", 5060, 1.7e9,
                max_forwards=inst.max_forwards, ua=inst.ua, extra=identity_headers(inst, caller, "198.51.100.7"),
            )  # fmt: skip
            msg = _request(build(inst.style, spec, rng))
            assert int(msg.header("content-length") or -1) == len(msg.body)
            assert msg.max_forwards is not None and 67 <= msg.max_forwards <= 70
            assert msg.has("p-asserted-identity") == (inst.identity == "pai")
            assert msg.has("remote-party-id") == (inst.identity == "rpid")
            assert msg.has("record-route") == (inst.record_route is not None)
            assert inst.record_route is None or inst.max_forwards < 70  # only a proxy on the way adds one


def test_trim_headers_drops_only_optional_lines() -> None:
    kept = [trim_headers(YEALINK, random.Random(seed), 0.5).lines for seed in range(50)]
    assert len(set(kept)) == 4  # Allow-Events and Supported, each on or off
    for lines in kept:
        dropped = set(YEALINK.lines) - set(lines)
        assert all(line.lower().startswith(OPTIONAL_HEADERS) for line in dropped)
        assert [x for x in YEALINK.lines if x in lines] == list(lines)  # order kept
    assert trim_headers(YEALINK, random.Random(1), 0.0).lines == YEALINK.lines


def test_installations_differ_between_sites_but_are_drawn_reproducibly() -> None:
    a = [installation(ASTERISK_PJSIP, random.Random(seed), uas=("A 1", "A 2"), hops=(0, 2)) for seed in range(40)]
    b = [installation(ASTERISK_PJSIP, random.Random(seed), uas=("A 1", "A 2"), hops=(0, 2)) for seed in range(40)]
    assert a == b
    assert len({(i.style.sdp, i.style.lines) for i in a}) > 20
    assert {i.max_forwards for i in a} == {68, 69, 70}
    assert {i.ua for i in a} == {"A 1", "A 2"}
