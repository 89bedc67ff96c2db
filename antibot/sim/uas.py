"""The User-Agent families the simulator speaks, each with its own header order and forms.

Orders and quirks follow captures of the real products: Yealink/Grandstream decimal branches,
Polycom's ``;user=phone`` and Accept-Language, resiprocate's ``z9hG4bK-524287-1---`` branches
(Zoiper, Bria), belle-sip putting Content-Length before Contact (Linphone), PJSIP's padded
Content-Length (Asterisk, MicroSIP), chan_sip's ``Date`` and ``as`` tags, sofia-sip's headers
after Content-Length (FreeSWITCH), Sippy's cisco-GUID, SBCs without User-Agent. Attack tools
(:mod:`antibot.sim.tools`) have their own table.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .messages import Style, alnum, digits, hexs, ip_letters, style, uuid4


def _cs(lo: int, hi: int | None = None) -> Callable[[random.Random], int]:
    """A CSeq habit: always ``lo``, or random in ``lo..hi``."""

    def cseq(rng: random.Random) -> int:
        return lo if hi is None else rng.randint(lo, hi)

    return cseq


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
    cseq=_cs(2),
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
    cseq=_cs(20),
    rtp=(7078, 7078),
)

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
    cseq=_cs(1000, 40000),
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
    cseq=_cs(102),
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
    cseq=_cs(10**7, 10**8),
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
    cseq=_cs(200),
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
    cseq=_cs(1, 30000),
    ruri="sip:{user}@{host}:5060;user=phone",
)

#: Desk phones an office buys in bulk, with the model strings they report.
DESK_PHONES: dict[str, tuple[Style, tuple[str, ...]]] = {
    "yealink": (YEALINK, ("Yealink SIP-T46S 66.86.0.15", "Yealink SIP-T54W 96.86.0.100", "Yealink SIP-T42U 108.86.0.45")),
    "polycom": (POLYCOM, ("PolycomVVX-VVX_411-UA/5.9.5.0614", "PolycomVVX-VVX_450-UA/6.4.3.5018")),
    "grandstream": (GRANDSTREAM, ("Grandstream GXP2170 1.0.11.3", "Grandstream GRP2614 1.0.5.67")),
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
}

__all__ = [
    "ASTERISK_CHANSIP",
    "ASTERISK_PJSIP",
    "BRIA",
    "DESK_PHONES",
    "FREESWITCH",
    "GRANDSTREAM",
    "LINPHONE",
    "POLYCOM",
    "SIPPY",
    "SOFTPHONES",
    "SONUS",
    "YEALINK",
    "ZOIPER",
]
