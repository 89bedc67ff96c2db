"""The phones people use, each with its own header order and forms (see :mod:`.messages`).

Orders and quirks follow captures of the real products: Yealink/Grandstream decimal branches,
Polycom's ``;user=phone`` and Accept-Language, Grandstream's lettered Call-ID host,
resiprocate's ``z9hG4bK-524287-1---`` branches (Zoiper, Bria), belle-sip putting
Content-Length before Contact and User-Agent (Linphone, CSeq 20). Servers and trunks are in
:mod:`.servers`, attack tools in :mod:`.tools`.
"""

from __future__ import annotations

from .messages import Style, alnum, cseq_habit, digits, hexs, ip_letters, style

YEALINK = style(
    "yealink",
    "Yealink SIP-T46S 66.86.0.15",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}:5060>;tag={tag}
    To: <sip:{tuser}@{thost}:5060>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Content-Type: application/sdp
    Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE
    Max-Forwards: {mf}
    User-Agent: {ua}
    Allow-Events: talk,hold,conference,refer,check-sync
    Supported: replaces
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + digits(r, 10),
    lambda r, s: digits(r, 10),
    lambda r, s: f"0_{digits(r, 10)}@{s.local_ip}",
    """
    v=0
    o=- {sid} {sid} IN IP4 {ip}
    s=SDP data
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 9 18 101
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:9 G722/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=ptime:20
    a=sendrecv
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    """,
    ruri="sip:{user}@{host}:5060",
    rtp=(11780, 12780),
)

POLYCOM = style(
    "polycom",
    "PolycomVVX-VVX_411-UA/5.9.5.0614",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost};user=phone>
    CSeq: {cseq} {method}
    Call-ID: {call_id}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, MESSAGE, SUBSCRIBE, NOTIFY, PRACK, UPDATE, REFER
    User-Agent: {ua}
    Accept-Language: en
    Supported: 100rel,replaces
    Allow-Events: conference,talk,hold
    {extra}
    Max-Forwards: {mf}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 8) + hexs(r, 8).upper(),
    lambda r, s: f"{hexs(r, 8).upper()}-{hexs(r, 8).upper()}",
    lambda r, s: f"{hexs(r, 8)}-{hexs(r, 8)}-{hexs(r, 8)}@{s.local_ip}",
    """
    v=0
    o=- {ntp} {ntp} IN IP4 {ip}
    s=Polycom IP Phone
    c=IN IP4 {ip}
    t=0 0
    a=sendrecv
    m=audio {port} RTP/AVP 9 102 0 8 18 127
    a=rtpmap:9 G722/8000
    a=rtpmap:102 G7221/16000
    a=fmtp:102 bitrate=32000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:127 telephone-event/8000
    """,
    ruri="sip:{user}@{host};user=phone",
    rtp=(2222, 2268),
)

GRANDSTREAM = style(
    "grandstream",
    "Grandstream GXP2170 1.0.11.3",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport};transport=udp>
    Max-Forwards: {mf}
    User-Agent: {ua}
    Privacy: none
    {extra}
    Supported: replaces, path, timer, eventlist
    Allow: INVITE, ACK, OPTIONS, CANCEL, BYE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE, MESSAGE
    Content-Type: application/sdp
    Accept: application/sdp, application/dtmf-relay
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + digits(r, 10),
    lambda r, s: digits(r, 10),
    lambda r, s: f"{digits(r, 10)}-{s.local_port}-1@{ip_letters(s.local_ip)}",
    """
    v=0
    o={user} 8000 8000 IN IP4 {ip}
    s=SIP Call
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 0 8 9 18 101
    a=sendrecv
    a=rtpmap:0 PCMU/8000
    a=ptime:20
    a=rtpmap:8 PCMA/8000
    a=rtpmap:9 G722/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    """,
    cseq=cseq_habit(2),
    rtp=(5004, 5100),
)

_RESIP_BRANCH = "z9hG4bK-524287-1---"

ZOIPER = style(
    "zoiper",
    "Z 5.6.2 v2.10.20.2",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    Contact: <sip:{fuser}@{lip}:{lport};transport=UDP>
    To: <sip:{tuser}@{thost};transport=UDP>
    From: {fdisp}<sip:{fuser}@{fhost};transport=UDP>;tag={tag}
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE
    Content-Type: application/sdp
    User-Agent: {ua}
    Allow-Events: presence, kpml, talk, as-feature-event
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: _RESIP_BRANCH + hexs(r, 16),
    lambda r, s: hexs(r, 8),
    lambda r, s: alnum(r, 22),
    """
    v=0
    o=Z 0 {sid} IN IP4 {ip}
    s=Z
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 106 9 98 101 0 8 3
    a=rtpmap:106 opus/48000/2
    a=fmtp:106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1
    a=rtpmap:98 telephone-event/48000
    a=fmtp:98 0-16
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-16
    a=sendrecv
    a=rtcp-mux
    """,
    ruri="sip:{user}@{host};transport=UDP",
    rtp=(8000, 65000),
)

BRIA = style(
    "bria",
    "Bria 6 release 6.5.4 stamp 112233",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    Contact: <sip:{fuser}@{lip}:{lport};rinstance={rand}>
    To: <sip:{tuser}@{thost}>
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Allow: SUBSCRIBE, NOTIFY, INVITE, ACK, CANCEL, BYE, REFER, INFO, OPTIONS, MESSAGE
    Content-Type: application/sdp
    Supported: replaces, norefersub, extended-refer, timer, sec-agree, outbound, path, X-cisco-serviceuri
    User-Agent: {ua}
    Allow-Events: talk, hold
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: _RESIP_BRANCH + hexs(r, 16),
    lambda r, s: hexs(r, 8),
    lambda r, s: alnum(r, 22),
    """
    v=0
    o=- {ntp}{sid} 1 IN IP4 {ip}
    s=Bria 6 release 6.5.4 stamp 112233
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 9 8 0 101
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
    """,
    rtp=(50000, 65000),
)

LINPHONE = style(
    "linphone",
    "Linphone-Desktop/5.2.1 (belle-sip/5.2.0)",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: sip:{tuser}@{thost}
    CSeq: {cseq} {method}
    Call-ID: {call_id}
    Max-Forwards: {mf}
    Supported: replaces, outbound, gruu, path
    Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE
    Content-Type: application/sdp
    {extra}
    Content-Length: {clen}
    Contact: <sip:{fuser}@{lip}:{lport};transport=udp>;+sip.instance="<urn:uuid:{uuid}>"
    User-Agent: {ua}
    """,
    lambda r, s: "z9hG4bK." + alnum(r, 9),
    lambda r, s: alnum(r, 9),
    lambda r, s: alnum(r, 10),
    """
    v=0
    o={user} {sid} {sid2} IN IP4 {ip}
    s=Talk
    c=IN IP4 {ip}
    t=0 0
    a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
    m=audio {port} RTP/AVP 96 97 98 0 8 18 101 99 100
    a=rtpmap:96 opus/48000/2
    a=fmtp:96 useinbandfec=1
    a=rtpmap:97 speex/16000
    a=fmtp:97 vbr=on
    a=rtpmap:98 speex/8000
    a=fmtp:98 vbr=on
    a=fmtp:18 annexb=yes
    a=rtpmap:101 telephone-event/48000
    a=rtpmap:99 telephone-event/16000
    a=rtpmap:100 telephone-event/8000
    a=rtcp-fb:* trr-int 1000
    a=rtcp-fb:* ccm tmmbr
    """,
    cseq=cseq_habit(20),
    rtp=(7078, 7078),
)

SNOM = style(
    "snom",
    "snomD735/10.1.141.13",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Max-Forwards: {mf}
    Contact: <sip:{fuser}@{lip}:{lport};line={rand}>;reg-id=1
    User-Agent: {ua}
    Accept: application/sdp
    Allow: INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, NOTIFY, SUBSCRIBE, PRACK, MESSAGE, INFO, UPDATE
    Allow-Events: talk, hold, refer, call-info
    Supported: timer, 100rel, replaces, from-change
    Session-Expires: 3600
    Min-SE: 90
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK-" + r.choice("abcdefghkmnpqrstuvwxyz") + alnum(r, 11).lower(),
    lambda r, s: alnum(r, 10).lower(),
    lambda r, s: alnum(r, 18).lower(),
    """
    v=0
    o=root {sid} {sid} IN IP4 {ip}
    s=call
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 9 0 8 18 101
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=ptime:20
    a=sendrecv
    """,
    rtp=(49152, 65534),
)

CISCO_PHONE = style(
    "cisco_phone",
    "Cisco-CP8845/14.1.1",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    Max-Forwards: {mf}
    Session-ID: {rand}{rand};remote=00000000000000000000000000000000
    Date: {date}
    CSeq: {cseq} {method}
    User-Agent: {ua}
    Contact: <sip:{fuser}@{lip}:{lport};transport=udp>;+u.sip!devicename.ccm.cisco.com="SEP{rand}"
    Expires: 180
    Accept: application/sdp
    Allow: ACK,BYE,CANCEL,INVITE,NOTIFY,OPTIONS,REFER,REGISTER,UPDATE,SUBSCRIBE,INFO
    Remote-Party-ID: {fdisp}<sip:{fuser}@{fhost}>;party=calling;id-type=subscriber;privacy=off;screen=yes
    Supported: replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,X-cisco-callinfo
    Allow-Events: kpml,dialog
    {extra}
    Content-Type: application/sdp
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 8),
    lambda r, s: f"{hexs(r, 12)}{hexs(r, 8)}-{hexs(r, 8)}",
    lambda r, s: f"{hexs(r, 12)}-{hexs(r, 8)}-{hexs(r, 8)}@{s.local_ip}",
    """
    v=0
    o=Cisco-SIPUA {sid} 0 IN IP4 {ip}
    s=SIP Call
    b=AS:4064
    t=0 0
    m=audio {port} RTP/AVP 114 9 124 0 8 116 18 101
    c=IN IP4 {ip}
    b=TIAS:64000
    a=rtpmap:114 opus/48000/2
    a=rtpmap:9 G722/8000
    a=rtpmap:124 iSAC/16000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:116 iLBC/8000
    a=rtpmap:18 G729/8000
    a=rtpmap:101 telephone-event/8000
    a=sendrecv
    """,
    cseq=cseq_habit(101),
    rtp=(16384, 32766),
    port_in_via=True,
)

FANVIL = style(
    "fanvil",
    "Fanvil X4U 2.12.9",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    To: <sip:{tuser}@{thost}>
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Contact: <sip:{fuser}@{lip}:{lport}>
    Content-Type: application/sdp
    Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, UPDATE, NOTIFY, MESSAGE, SUBSCRIBE, PRACK
    Max-Forwards: {mf}
    Supported: replaces,timer
    User-Agent: {ua}
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + digits(r, 10),
    lambda r, s: digits(r, 10),
    lambda r, s: f"{digits(r, 10)}@{s.local_ip}",
    """
    v=0
    o={user} 20000001 20000001 IN IP4 {ip}
    s=SIP Media Capabilities
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 9 0 8 18 101
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:18 G729/8000
    a=fmtp:18 annexb=no
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=ptime:20
    a=sendrecv
    """,
    cseq=cseq_habit(1, 2),
    rtp=(10000, 10198),
)

GROUNDWIRE = style(
    "groundwire",
    "Groundwire/6.4.0 (build 1234; iOS 17.2.1; iPhone14,5) (Acrobits)",
    """
    Via: SIP/2.0/UDP {via};branch={branch};rport
    Max-Forwards: {mf}
    To: <sip:{tuser}@{thost}>
    From: {fdisp}<sip:{fuser}@{fhost}>;tag={tag}
    Call-ID: {call_id}
    CSeq: {cseq} {method}
    Content-Type: application/sdp
    Contact: <sip:{fuser}@{lip}:{lport};transport=udp>;expires=3600
    Supported: replaces, 100rel, norefersub, outbound
    Allow: INVITE, ACK, CANCEL, BYE, UPDATE, PRACK, REFER, NOTIFY, INFO, MESSAGE, OPTIONS
    User-Agent: {ua}
    {extra}
    Content-Length: {clen}
    """,
    lambda r, s: "z9hG4bK" + hexs(r, 16),
    lambda r, s: hexs(r, 16),
    lambda r, s: alnum(r, 24),
    """
    v=0
    o=- {sid} {sid2} IN IP4 {ip}
    s=-
    c=IN IP4 {ip}
    t=0 0
    m=audio {port} RTP/AVP 111 9 0 8 101
    a=rtpmap:111 opus/48000/2
    a=fmtp:111 useinbandfec=1
    a=rtpmap:9 G722/8000
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    a=rtpmap:101 telephone-event/8000
    a=fmtp:101 0-15
    a=sendrecv
    """,
    rtp=(4000, 65000),
)

#: Desk phones an office buys in bulk, with the model strings they report.
DESK_PHONES: dict[str, tuple[Style, tuple[str, ...]]] = {
    "yealink": (
        YEALINK,
        ("Yealink SIP-T46S 66.86.0.15", "Yealink SIP-T54W 96.86.0.100", "Yealink SIP-T42U 108.86.0.45"),
    ),
    "polycom": (POLYCOM, ("PolycomVVX-VVX_411-UA/5.9.5.0614", "PolycomVVX-VVX_450-UA/6.4.3.5018")),
    "grandstream": (GRANDSTREAM, ("Grandstream GXP2170 1.0.11.3", "Grandstream GRP2614 1.0.5.67")),
    "snom": (SNOM, ("snomD735/10.1.141.13", "snomD785/10.1.159.12", "snom710/8.9.3.80")),
    "cisco": (CISCO_PHONE, ("Cisco-CP8845/14.1.1", "Cisco-CP7841/12.8.1", "Cisco-CP8865/14.2.1")),
    "fanvil": (FANVIL, ("Fanvil X4U 2.12.9", "Fanvil X6U 2.12.3.11", "Fanvil X3SP 2.10.2")),
}

#: Softphones on mobiles and laptops, with the version strings they report.
SOFTPHONES: dict[str, tuple[Style, tuple[str, ...]]] = {
    "zoiper": (ZOIPER, ("Z 5.6.2 v2.10.20.2", "Z 5.5.14 v2.10.19.9", "Zoiper rv2.10.11.2")),
    "linphone": (
        LINPHONE,
        (
            "Linphone-Desktop/5.2.1 (belle-sip/5.2.0)",
            "LinphoneAndroid/5.1.2 (Pixel 7) LinphoneSDK/5.2.98 (tags/5.2.98)",
            "LinphoneiOS/5.2.0 (iPhone) LinphoneSDK/5.3.10",
        ),
    ),
    "bria": (BRIA, ("Bria 6 release 6.5.4 stamp 112233", "Bria iOS release 6.17.2 stamp 114102")),
    "groundwire": (
        GROUNDWIRE,
        (
            "Groundwire/6.4.0 (build 1234; iOS 17.2.1; iPhone14,5) (Acrobits)",
            "Acrobits Softphone/6.3.2 (build 987; Android 14; Pixel 8)",
        ),
    ),
}

__all__ = [
    "BRIA",
    "CISCO_PHONE",
    "FANVIL",
    "GROUNDWIRE",
    "SNOM",
    "DESK_PHONES",
    "GRANDSTREAM",
    "LINPHONE",
    "POLYCOM",
    "SOFTPHONES",
    "YEALINK",
    "ZOIPER",
]
