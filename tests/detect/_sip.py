"""SIP texts shared by the detection tests, written as they appear on the wire."""

from __future__ import annotations

from antibot.proxy.effects import Addr
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram


def addr(ip: str) -> Addr:
    """The address a request came from, as the proxy hands it to the decision hook."""
    return Addr("udp", ip, 5060)


def parse(text: str, body: str = "") -> Request:
    """Build a request from header lines (``\\n`` separated, no trailing blank line) and a body.

    Content-Length is appended when the text has none, so tests only write what they test.
    """
    lines = [line for line in text.strip("\n").split("\n")]
    raw_body = body.replace("\n", "\r\n").encode("latin-1")
    if not any(line.lower().startswith(("content-length:", "l:")) for line in lines):
        lines.append(f"Content-Length: {len(raw_body)}")
    msg = parse_datagram(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + raw_body)
    assert isinstance(msg, Request)
    return msg


#: A SIPVicious svwar INVITE, header order and values as svhelper.makeRequest writes them.
SCANNER_SRC = "198.51.100.7"
SCANNER = """\
INVITE sip:100@192.0.2.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-3412876589;rport
Max-Forwards: 70
To: "sipvicious"<sip:100@1.1.1.1>
From: "sipvicious"<sip:100@1.1.1.1>;tag=6131316431
User-Agent: friendly-scanner
Call-ID: 876543210987654321
Contact: sip:123@1.1.1.1
CSeq: 1 INVITE
Accept: application/sdp
Content-Length: 0
"""

#: The same tool in compact mode (``svwar -c``): single-letter names, no User-Agent.
COMPACT = """\
INVITE sip:100@192.0.2.1 SIP/2.0
v: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-2207031871;rport
t: "100"<sip:100@192.0.2.1>
f: "100"<sip:100@192.0.2.1>;tag=3130300133
i: 1184928731
m: sip:123@1.1.1.1
CSeq: 1 INVITE
Max-Forwards: 70
Accept: application/sdp
l: 0
"""

#: A desk phone behind NAT calling a London number through the PBX, with a normal SDP offer.
PHONE_SRC = "203.0.113.50"
PHONE = """\
INVITE sip:02079460123@pbx.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK1785934867;rport
From: "Alice Smith" <sip:1001@pbx.example.com>;tag=1420846791
To: <sip:02079460123@pbx.example.com>
Call-ID: 0_2839918476@192.168.1.20
CSeq: 2 INVITE
Contact: <sip:1001@192.168.1.20:5062>
Content-Type: application/sdp
Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, UPDATE
Max-Forwards: 70
User-Agent: Yealink SIP-T46S 66.86.0.15
Supported: replaces
Allow-Events: talk,hold,conference,refer,check-sync
"""
PHONE_SDP = """\
v=0
o=- 20012 20012 IN IP4 192.168.1.20
s=SDP data
c=IN IP4 192.168.1.20
t=0 0
m=audio 11780 RTP/AVP 0 8 18 9 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:9 G722/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
"""

#: A carrier trunk delivering a withheld-number call (RFC 3323/3325).
ANON_SRC = "203.0.113.9"
ANONYMOUS = """\
INVITE sip:+442079460123@pbx.example.com;user=phone SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKac1587393
Max-Forwards: 69
From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1c1785893
To: <sip:+442079460123@pbx.example.com;user=phone>
Call-ID: 1785895@203.0.113.9
CSeq: 1 INVITE
Contact: <sip:203.0.113.9:5060>
Privacy: id
P-Asserted-Identity: <sip:+447700900123@carrier.example.net;user=phone>
Supported: timer,100rel
Allow: INVITE,ACK,CANCEL,BYE,OPTIONS,PRACK,UPDATE
User-Agent: Carrier-SBC/5.2
Content-Type: application/sdp
"""
CARRIER_SDP = """\
v=0
o=SBC 1785893 1 IN IP4 203.0.113.9
s=SBC call
c=IN IP4 203.0.113.9
t=0 0
m=audio 40000 RTP/AVP 8 0 101
a=rtpmap:101 telephone-event/8000
"""

#: An RFC 3966 tel: URI call with visual separators.
TEL = """\
INVITE tel:+1-212-555-0123 SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKtel1
Max-Forwards: 70
From: <tel:+1-202-555-0199>;tag=t1
To: <tel:+1-212-555-0123>
Call-ID: tel-1@203.0.113.9
CSeq: 1 INVITE
Contact: <sip:+12025550199@203.0.113.9>
User-Agent: Gateway/1.0
"""


def invite(from_uri: str, to_uri: str, *, ruri: str | None = None, extra: str = "") -> Request:
    """A plain, well-formed INVITE with the given From/To URIs (and optional extra headers)."""
    ruri = ruri or to_uri
    text = f"""\
INVITE {ruri} SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKx1
Max-Forwards: 70
From: <{from_uri}>;tag=f1
To: <{to_uri}>
Call-ID: c1@203.0.113.9
CSeq: 1 INVITE
Contact: <sip:gw@203.0.113.9>
{extra}"""
    return parse(text.rstrip("\n"))
