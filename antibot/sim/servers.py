"""PBXs, dialers and carrier SBCs, each with its own header order and forms (see :mod:`.messages`).

PJSIP's right-aligned Content-Length and random CSeq (Asterisk 13+), chan_sip's ``Date``
header, ``as`` tags and CSeq 102 (Asterisk 11, VICIdial dialers), sofia-sip's Via without
``:5060`` and headers after Content-Length (FreeSWITCH), Sippy's cisco-GUID/h323-conf-id, a
Sonus/Ribbon SBC that sends no User-Agent at all.
"""

from __future__ import annotations

from .messages import alnum, cseq_habit, digits, hexs, style, uuid4

ASTERISK_PJSIP = style(
    "asterisk_pjsip",
    "Asterisk PBX 18.20.0",
    """
    Via: SIP/2.0/UDP {via};rport;branch={branch}
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Contact: <sip:asterisk@{lip}:{lport}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, INFO, MESSAGE, REFER
    Supported: 100rel, timer, replaces, norefersub, histinfo
    Session-Expires: 1800
    Min-SE: 90
    {extra}
    Max-Forwards: {mf}
    User-Agent: {ua}
    Content-Type: application/sdp
    Content-Length: {clen:>5}
    """,
    lambda r, s: "z9hG4bKPj" + uuid4(r),
    lambda r, s: uuid4(r),
    lambda r, s: uuid4(r),
    """
    v=0
    o=- {sid} {sid2} IN IP4 {ip}
    s=Asterisk
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    a=maxptime:150
    a=sendrecv
    """,
    cseq=cseq_habit(1000, 40000),
)

ASTERISK_CHANSIP = style(
    "asterisk_chansip",
    "Asterisk PBX 11.25.3",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Contact: <sip:{fuser}@{lip}:{lport}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    User-Agent: {ua}
    Date: {date}
    Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE
    Supported: replaces, timer
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 8),
    lambda r, s: "as" + hexs(r, 8),
    lambda r, s: f"{hexs(r, 32)}@{s.local_ip}:{s.local_port}",
    """
    v=0
    o=root {sid} {sid} IN IP4 {ip}
    s=Asterisk PBX 11.25.3
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 3 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:3 GSM/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    a=sendrecv
    """,
    cseq=cseq_habit(102),
)

FREESWITCH = style(
    "freeswitch",
    "FreeSWITCH-mod_sofia/1.10.10-release~64bit",
    """
    Via: SIP/2.0/UDP {via};rport;branch={branch}
    Max-Forwards: {mf}
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:gw+trunk1@{lip}:{lport};transport=udp;gw=trunk1>
    User-Agent: {ua}
    Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY
    Supported: timer, path, replaces
    Allow-Events: talk, hold, conference, refer
    Content-Type: application/sdp
    Content-Disposition: session
    Content-Length: {clen}
    X-FS-Support: update_display,send_info
    {extra}
    """,
    lambda r, s: "z9hG4bK" + alnum(r, 13),
    lambda r, s: alnum(r, 13),
    lambda r, s: uuid4(r),
    """
    v=0
    o=FreeSWITCH {sid} {sid2} IN IP4 {ip}
    s=FreeSWITCH
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    """,
    cseq=cseq_habit(10**7, 10**8),
    rtp=(16384, 32768),
    port_in_via=False,
)

SIPPY = style(
    "sippy",
    "Sippy Softswitch v2021-PRODUCTION.426",
    """
    Via: SIP/2.0/UDP {via};rport;branch={branch}
    Max-Forwards: {mf}
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Expires: 300
    User-Agent: {ua}
    cisco-GUID: {guid}
    h323-conf-id: {guid}
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 32),
    lambda r, s: hexs(r, 32),
    lambda r, s: f"{hexs(r, 32)}@{s.local_ip}",
    """
    v=0
    o=Sippy {sid} 0 IN IP4 {ip}
    s=-
    t=0 0
    m=audio {port} RTP/AVP 0 8 18 101
    c=IN IP4 {ip}
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=ptime:20
    """,
    cseq=cseq_habit(200),
    rtp=(35000, 65000),
)

SONUS = style(
    "sonus",
    "",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}:5060;user=phone>;tag={tag}
    To: <sip:{tuser}@{thost}:5060;user=phone>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Max-Forwards: {mf}
    Allow: INVITE,ACK,CANCEL,BYE,REGISTER,REFER,INFO,SUBSCRIBE,NOTIFY,PRACK,UPDATE,OPTIONS,MESSAGE,PUBLISH
    Accept: application/sdp, application/isup, application/dtmf, application/dtmf-relay, multipart/mixed
    Contact: <sip:{fuser}@{lip}:{lport}>
    {extra}
    Supported: timer,100rel,precondition
    Session-Expires: 1800
    Min-SE: 90
    Content-Length: {clen}
    Content-Disposition: session; handling=required
    Content-Type: application/sdp
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 2).upper() + "B" + hexs(r, 13),
    lambda r, s: "gK" + hexs(r, 8),
    lambda r, s: f"{hexs(r, 8)}_{digits(r, 9)}@{s.local_ip}",
    """
    v=0
    o=Sonus_UAC {sid} {sid2} IN IP4 {ip}
    s=SIP Media Capabilities
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 18 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
    a=maxptime:20
    """,
    cseq=cseq_habit(1, 30000),
    ruri="sip:{user}@{host}:5060;user=phone",
)

THREECX = style(
    "3cx",
    "3CXPhoneSystem 18.0.9.20 (20)",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    Contact: <sip:{fuser}@{lip}:{lport}>
    To: <sip:{tuser}@{thost}>
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, UPDATE, PRACK, INFO, MESSAGE
    Content-Type: application/sdp
    Supported: replaces, timer
    User-Agent: {ua}
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK-d8754z-" + hexs(r, 16) + "-1---d8754z-",
    lambda r, s: hexs(r, 8),
    lambda r, s: alnum(r, 22),
    """
    v=0
    o=3cxPS {sid} {sid2} IN IP4 {ip}
    s=3cxPS Audio call
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 9 18 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:9 G722/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
    """,
    cseq=cseq_habit(1),
    rtp=(9000, 10999),
)

CISCO_CUBE = style(
    "cisco_cube",
    "Cisco-SIPGateway/IOS-16.12.4",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Remote-Party-ID: {fdisp}<sip:{fuser}@{lip}>;party=calling;screen=no;privacy=off
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Date: {date}
    Call-ID: {call_id}
    Supported: 100rel,timer,resource-priority,replaces,sdp-anat
    Min-SE: 1800
    Cisco-Guid: {guid}
    User-Agent: {ua}
    Allow: INVITE, OPTIONS, BYE, CANCEL, ACK, PRACK, UPDATE, REFER, SUBSCRIBE, NOTIFY, INFO, REGISTER
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Expires: 180
    Allow-Events: telephone-event
    Max-Forwards: {mf}
    Session-Expires: 1800
    {extra}
    Content-Type: application/sdp
    Content-Disposition: session;handling=required
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 10).upper(),
    lambda r, s: hexs(r, 8).upper() + "-" + hexs(r, 4).upper(),
    lambda r, s: f"{hexs(r, 8).upper()}-{hexs(r, 8).upper()}-{hexs(r, 8).upper()}@{s.local_ip}",
    """
    v=0
    o=CiscoSystemsSIP-GW-UserAgent {sid} {sid2} IN IP4 {ip}
    s=SIP Call
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 18 101
    c=IN IP4 {ip}
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=ptime:20
    """,
    cseq=cseq_habit(101),
    rtp=(16384, 32766),
)

AVAYA_SM = style(
    "avaya_sm",
    "Avaya CM/R018x.01.0.890.0 AVAYA-SM-8.1.3.0.813907",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Max-Forwards: {mf}
    Record-Route: <sip:{lip}:{lport};transport=udp;lr>
    Contact: "{fuser}" <sip:{fuser}@{lip}:{lport};transport=udp>
    Allow: INVITE,CANCEL,BYE,ACK,SUBSCRIBE,NOTIFY,MESSAGE,INFO,PUBLISH,REFER,UPDATE,PRACK
    Supported: 100rel,histinfo,join,replaces,sdp-anat,timer
    User-Agent: {ua}
    P-Location: SM;origlocname="Main";origsiglocname="Main";origmedialocname="Main"
    Session-Expires: 1200;refresher=uac
    Min-SE: 1200
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 20) + "-AP",
    lambda r, s: hexs(r, 26),
    lambda r, s: hexs(r, 32),
    """
    v=0
    o=- {sid} {sid2} IN IP4 {ip}
    s=-
    c=IN IP4 {ip}
    b=AS:64
    t=0 0
    m=audio {port} RTP/AVP 0 8 18 127
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:127 telephone-event/8000
    a=sendrecv
    """,
    cseq=cseq_habit(1, 9),
    rtp=(2048, 3329),
)

METASWITCH = style(
    "metaswitch",
    "",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Call-ID: {call_id}
    From: {fdisp}<sip:{fuser}@{fhost};user=phone>;tag={tag}
    To: <sip:{tuser}@{thost};user=phone>
    CSeq: {cseq} {method}
    Contact: <sip:{lip}:{lport};transport=udp>
    Max-Forwards: {mf}
    Supported: 100rel,timer,replaces
    Allow: INVITE,ACK,CANCEL,BYE,PRACK,UPDATE,INFO,OPTIONS,REFER,NOTIFY
    Session-Expires: 600
    Min-SE: 90
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 8) + "." + digits(r, 6),
    lambda r, s: "sip+" + digits(r, 1) + "+" + hexs(r, 8),
    lambda r, s: f"{hexs(r, 4)}-{hexs(r, 4)}-{hexs(r, 8)}@{s.local_ip}",
    """
    v=0
    o=- {sid} {sid2} IN IP4 {ip}
    s=-
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 18 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=ptime:20
    """,
    cseq=cseq_habit(1),
    ruri="sip:{user}@{host};user=phone",
    rtp=(20000, 40000),
)

ORACLE_SBC = style(
    "oracle_sbc",
    "",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    From: {fdisp}<sip:{fuser}@{fhost};user=phone>;tag={tag}
    To: <sip:{tuser}@{thost};user=phone>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport};transport=udp>
    {extra}
    Allow: INVITE,ACK,CANCEL,BYE,OPTIONS,INFO,UPDATE,PRACK,REFER,NOTIFY
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 12) + "ia",
    lambda r, s: "SDc" + alnum(r, 10) + "-" + digits(r, 4),
    lambda r, s: "SDc" + alnum(r, 12) + "-" + hexs(r, 32) + "@" + s.local_ip,
    """
    v=0
    o=- {sid} {sid2} IN IP4 {ip}
    s=-
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=maxptime:20
    """,
    cseq=cseq_habit(1),
    rtp=(10000, 59999),
)

AUDIOCODES = style(
    "audiocodes",
    "Mediant SW/v.7.40A.500.775",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport;alias
    Max-Forwards: {mf}
    From: {fdisp}<sip:{fuser}@{fhost};user=phone>;tag={tag}
    To: <sip:{tuser}@{thost};user=phone>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Supported: em,100rel,timer,replaces
    Allow: REGISTER,OPTIONS,INVITE,ACK,CANCEL,BYE,NOTIFY,PRACK,REFER,INFO,SUBSCRIBE,UPDATE
    User-Agent: {ua}
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bKac" + digits(r, 9),
    lambda r, s: digits(r, 10),
    lambda r, s: f"{digits(r, 9)}{digits(r, 7)}@{s.local_ip}",
    """
    v=0
    o=AudiocodesGW {sid} {sid2} IN IP4 {ip}
    s=Phone-Call
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 8 0 18 101
    a=rtpmap:8 PCMA/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=ptime:20
    a=sendrecv
    """,
    cseq=cseq_habit(1),
    rtp=(6000, 7999),
)
