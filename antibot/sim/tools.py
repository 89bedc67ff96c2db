"""Attack tools and bot softswitches, each with its own header order and forms (see :mod:`.messages`).

Scanners all mint branches as ``z9hG4bK-`` + decimal digits (SIPVicious' ``random.getrandbits``
habit, copied by most of its descendants) and send no SDP. SIPVicious keeps its famous order
(Via, Content-Length, From, Accept, User-Agent, To ...) and its ``; tag=`` with a space; sipcli
writes unquoted ``100<sip:...>`` display names and To first; pplsip uses compact header names;
sipsak sends bare URIs. The bot softswitches (VOS, a PJSIP-built dialler, MicroSIP, eyeBeam)
look like ordinary UAs: their tells are in what they do rather than how they write it.
"""

from __future__ import annotations

from .messages import Style, alnum, cseq_habit, digits, hexs, style, svwar_tag

SIPVICIOUS = style(
    "sipvicious",
    "friendly-scanner",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Content-Length: {clen}
    From: {fdisp}<sip:{fuser}@{fhost}>; tag={tag}
    Accept: application/sdp
    User-Agent: {ua}
    To: {fdisp}<sip:{tuser}@{thost}>
    Contact: sip:{fuser}@{lip}:{lport}
    CSeq: {cseq} {method}
    Call-ID: {call_id}
    Max-Forwards: {mf}
    Content-Type: application/sdp
    {extra}
    """,
    lambda r, s: "z9hG4bK-" + digits(r, r.randint(9, 10)),
    lambda r, s: svwar_tag(r),
    lambda r, s: digits(r, 24),
    display='"{}"',
)

SIPCLI = style(
    "sipcli",
    "sipcli/v1.8",
    """
    To: {tdisp}<sip:{tuser}@{thost}>
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Max-Forwards: {mf}
    User-Agent: {ua}
    Content-Type: application/sdp
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK-" + digits(r, r.randint(6, 10)),
    lambda r, s: digits(r, 10),
    lambda r, s: digits(r, 10),
    display="{}",
)

PPLSIP = style(
    "pplsip",
    "pplsip",
    """
    v: SIP/2.0/UDP {via};branch={branch};rport
    f: <sip:{fuser}@{fhost}>;tag={tag}
    t: <sip:{tuser}@{thost}>
    i: {call_id}
    CSeq: {cseq} {method}
    m: <sip:{fuser}@{lip}:{lport}>
    Max-Forwards: {mf}
    User-Agent: {ua}
    c: application/sdp
    {extra}
    l: {clen}
    """,
    lambda r, s: "z9hG4bK-" + digits(r, 8),
    lambda r, s: digits(r, 8),
    lambda r, s: f"{digits(r, 9)}@{s.local_ip}",
    display="",
)

VAXSIP = style(
    "vaxsip",
    "VaxSIPUserAgent/3.1",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    {extra}
    Content-Type: application/sdp
    User-Agent: {ua}
    Allow: INVITE, ACK, CANCEL, BYE, OPTIONS
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK-" + digits(r, 10),
    lambda r, s: digits(r, 9),
    lambda r, s: f"{digits(r, 12)}@{s.local_ip}",
)

SIPSAK = style(
    "sipsak",
    "sipsak 0.9.8",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: sip:{fuser}@{lip}:{lport};tag={tag}
    To: sip:{tuser}@{thost}
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: sip:{fuser}@{lip}:{lport}
    Content-Length: {clen}
    Max-Forwards: {mf}
    User-Agent: {ua}
    Accept: text/plain
    Content-Type: application/sdp
    {extra}
    """,
    lambda r, s: "z9hG4bK-" + digits(r, 9),
    lambda r, s: hexs(r, 8),
    lambda r, s: f"{hexs(r, 8)}@{s.local_ip}",
    display="",
)

#: Scanner tools by name.
SCANNERS: dict[str, Style] = {s.name: s for s in (SIPVICIOUS, SIPCLI, PPLSIP, VAXSIP, SIPSAK)}

#: Normal UAs a scanner pretends to be (the tool's other habits stay); "" sends none.
SPOOFED_UAS = (
    "Yealink SIP-T46S 66.86.0.15",
    "PolycomVVX-VVX_411-UA/5.9.5.0614",
    "Asterisk PBX 16.28.0",
    "FPBX-15.0.23(16.17.0)",
    "Z 5.6.2 v2.10.20.2",
    "",
)

#: The junk SDP scanners attach to an INVITE sweep: nothing will ever be listening.
JUNK_SDPS = (
    "v=0\r\no=root 0 0 IN IP4 {ip}\r\ns=session\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 18 0\r\n",
    "v=0\r\ns=call\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
)

VOS = style(
    "vos",
    "VOS3000 V2.1.8.05",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Call-ID: {call_id}
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Max-Forwards: {mf}
    Allow: INVITE,ACK,CANCEL,BYE,OPTIONS,INFO,REFER,NOTIFY,PRACK,UPDATE
    {extra}
    User-Agent: {ua}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + digits(r, 9),
    lambda r, s: digits(r, 9),
    lambda r, s: f"{hexs(r, 16)}@{s.local_ip}",
    """
    v=0
    o=VOS3000 {sid} {sid} IN IP4 {ip}
    s=SIP Call
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 18 8 0 101
    a=rtpmap:18 G729/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=ptime:20
    """,
    cseq=cseq_habit(1),
)

_PJSIP_LINES = """
    Via: SIP/2.0/UDP {via};rport;branch={branch}
    Max-Forwards: {mf}
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Contact: <sip:{fuser}@{lip}:{lport};ob>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS
    Supported: replaces, 100rel, timer, norefersub
    Session-Expires: 1800
    Min-SE: 90
    User-Agent: {ua}
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen:>5}
    """

#: The low-and-slow botnet's dialler: PJSIP-built, claiming to be Zoiper, with a frozen SDP
#: ``o=``/``s=`` line and the fixed pjsua media port on every bot.
BOTNET = style(
    "pjsua_bot",
    "Z 5.4.12 v2.10.13.2",
    _PJSIP_LINES,
    lambda r, s: "z9hG4bKPj" + alnum(r, 32),
    lambda r, s: alnum(r, 32),
    lambda r, s: alnum(r, 32),
    """
    v=0
    o=- 3900000000 3900000000 IN IP4 {ip}
    s=pjmedia
    b=AS:84
    t=0 0
    a=X-nat:0
    m=audio {port} RTP/AVP 0 8 101
    c=IN IP4 {ip}
    b=TIAS:64000
    a=rtcp:{port1} IN IP4 {ip}
    a=sendrecv
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    """,
    cseq=cseq_habit(1),
    display="",
    rtp=(4000, 4000),
)

MICROSIP = style(
    "microsip",
    "MicroSIP/3.21.3",
    _PJSIP_LINES,
    lambda r, s: "z9hG4bKPj" + alnum(r, 32),
    lambda r, s: alnum(r, 32),
    lambda r, s: alnum(r, 32),
    """
    v=0
    o=- {ntp} {ntp} IN IP4 {ip}
    s=pjmedia
    b=AS:84
    t=0 0
    a=X-nat:0
    m=audio {port} RTP/AVP 9 8 0 101
    c=IN IP4 {ip}
    b=TIAS:64000
    a=rtcp:{port1} IN IP4 {ip}
    a=sendrecv
    a=rtpmap:9 G722/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    """,
    cseq=cseq_habit(20000, 30000),
    rtp=(4000, 4100),
)

EYEBEAM = style(
    "eyebeam",
    "eyeBeam release 1011d stamp 40820",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    Contact: <sip:{fuser}@{lip}:{lport}>
    To: <sip:{tuser}@{thost}>
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Proxy-Authorization: {digest}
    Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO
    Content-Type: application/sdp
    User-Agent: {ua}
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: f"z9hG4bK-d8754z-{hexs(r, 16)}-1---d8754z-",
    lambda r, s: hexs(r, 8),
    lambda r, s: alnum(r, 22),
    """
    v=0
    o=- {sid} {sid2} IN IP4 {ip}
    s=CounterPath eyeBeam 1.5
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 107 0 8 101
    a=alt:1 1 : {sid} {sid2} {ip} {port}
    a=fmtp:101 0-15
    a=rtpmap:107 BV32/16000
    a=rtpmap:101 telephone-event/8000
    a=sendrecv
    """,
    cseq=cseq_habit(2),
    rtp=(40000, 60000),
)

#: Toll-fraud softphones, with the version strings they report.
FRAUD_PHONES: dict[str, tuple[Style, tuple[str, ...]]] = {
    "microsip": (MICROSIP, ("MicroSIP/3.21.3", "MicroSIP/3.20.7")),
    "eyebeam": (EYEBEAM, ("eyeBeam release 1011d stamp 40820", "X-Lite release 5.8.3 stamp 102651")),
}
