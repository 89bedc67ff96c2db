"""Requests the PBX or the detector cannot take are refused with 400 before routing.

Items 2 and 3: a second Via with ``;x:y`` made the decision hook raise (the proxy failed
open); a bare LF in the From display name or a host that is not a host was relayed, the PBX
stayed silent, and the only upstream was marked down. Item 9: superscript digits in a port,
CSeq, Content-Length or Max-Forwards raised ValueError instead of a 400. Each is now a
stateless 400 to the sender, with no NeedVerdict and nothing sent to the PBX.
"""

from __future__ import annotations

import pytest

from antibot.proxy.effects import NeedVerdict

from .conftest import CALLER, PBX1, Harness, invite, only, reply, status_of

_SDP_FROM = b'From: "Alice" <sip:74951@192.0.2.10>;tag=from-1'

#: name -> a datagram the proxy must refuse with 400.
BAD: dict[str, bytes] = {
    "second-via-x:y": invite(extra="Via: SIP/2.0/UDP 1.2.3.4;x:y\r\n"),
    "second-via-empty-branch": invite(extra="Via: SIP/2.0/UDP 1.2.3.4;branch=\r\n"),
    "second-via-bad-host": invite(extra="Via: SIP/2.0/UDP 999.1.1.1;branch=z9hG4bK1\r\n"),
    "bare-lf-in-from-display-name": invite().replace(_SDP_FROM, b'From: "Ali\nce" <sip:74951@192.0.2.10>;tag=from-1'),
    "bare-cr-in-from-display-name": invite().replace(_SDP_FROM, b'From: "Ali\rce" <sip:74951@192.0.2.10>;tag=from-1'),
    "from-host-not-a-host": invite().replace(b"sip:74951@192.0.2.10>", b"sip:74951@999.1.1.1>"),
    "from-host-empty": invite().replace(b"sip:74951@192.0.2.10>", b"sip:74951@>"),
    "to-host-illegal": invite().replace(b"To: <sip:100@127.0.0.1:5060>", b"To: <sip:100@pbx_1.example.com>"),
    "contact-host-five-parts": invite().replace(b"alice@192.0.2.10:5062", b"alice@1.2.3.4.5"),
    "ruri-host-not-a-host": invite(uri="sip:100@999.1.1.1"),
    "superscript-via-port": invite().replace(b"192.0.2.10:5062;branch", b"192.0.2.10:50\xb2;branch"),
    "superscript-cseq": invite().replace(b"CSeq: 1 ", b"CSeq: \xb9 "),
    "superscript-content-length": invite().replace(b"Content-Length: ", b"Content-Length: \xb3"),
    "superscript-max-forwards": invite(max_forwards=70).replace(b"Max-Forwards: 70", b"Max-Forwards: \xb2"),
    "superscript-contact-port": invite().replace(b"192.0.2.10:5062>", b"192.0.2.10:50\xb2>"),
    "superscript-rport": invite().replace(b";rport", b";rport=50\xb2"),
}


def _refused(h: Harness, data: bytes) -> None:
    answer = only(h.feed(data, CALLER), CALLER)
    status_line = answer.data.split(b"\r\n", 1)[0]  # (the 400 echoes the bad Via/CSeq as received)
    assert status_line.startswith(b"SIP/2.0 400 ") and len(status_line) > 12, status_line
    assert not any(isinstance(e, NeedVerdict) for e in h.log), "the decision hook must not see it"
    assert h.tick(40.0) == []  # nothing for the PBX, then or later; no retransmitted 400 either
    assert all(up.up for up in h.core.pool.targets)


@pytest.mark.parametrize("name", list(BAD))
def test_bad_invites_get_400_and_never_reach_the_pbx_or_the_detector(h: Harness, name: str) -> None:
    _refused(h, BAD[name])


@pytest.mark.parametrize("method", ["BYE", "OPTIONS", "REGISTER", "MESSAGE", "CANCEL"])
def test_other_requests_are_checked_too(h: Harness, method: str) -> None:
    """In-dialog and out-of-dialog requests alike: a forged To-tag skips no check."""
    to_tag = "t1" if method == "BYE" else ""
    _refused(h, invite(method=method, to_tag=to_tag, extra="Via: SIP/2.0/UDP 1.2.3.4;x:y\r\n"))


def test_a_valid_invite_with_lower_vias_still_gets_its_verdict(h: Harness) -> None:
    lower = "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-up;received=192.0.2.7;rport=5070\r\n"
    out = h.call(invite(extra=lower))
    assert [e.dest for e in out] == [CALLER, PBX1]
    assert lower.strip().encode() in out[1].data
    assert status_of(only(h.feed(reply(out[1].data, 200, "OK"), PBX1), CALLER)) == 200


def test_a_refused_request_is_counted(h: Harness) -> None:
    h.feed(BAD["second-via-x:y"], CALLER)
    h.feed(BAD["superscript-cseq"], CALLER)
    assert h.core.stats.get("refused", 0) == 1 and h.core.stats.get("malformed", 0) == 1
