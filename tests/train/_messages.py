"""Real SIP messages for the training tests: a SIPVicious INVITE sweep and a desk phone call."""

from __future__ import annotations

from antibot.sim.generator import SimEvent

#: Where the sweep comes from (TEST-NET-2) and the desk phone's office NAT address (TEST-NET-3).
SCANNER_IP = "198.51.100.7"
PHONE_IP = "203.0.113.50"


def svwar_invite(ext: int, n: int) -> bytes:
    """``svwar -m INVITE`` as svhelper.makeRequest writes it: its header order, its ``z9hG4bK-``
    decimal branch, From == To, a forged 1.1.1.1 host in Contact, no SDP."""
    text = (
        f"INVITE sip:{ext}@192.0.2.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {SCANNER_IP}:5060;branch=z9hG4bK-{3412876589 + n};rport\r\n"
        "Content-Length: 0\r\n"
        f'From: "{ext}"<sip:{ext}@192.0.2.1>; tag={6131316431 + n:x}01{3132 + n}\r\n'
        "Accept: application/sdp\r\n"
        "User-Agent: friendly-scanner\r\n"
        f'To: "{ext}"<sip:{ext}@192.0.2.1>\r\n'
        "Contact: sip:123@1.1.1.1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Call-ID: {876543210987654321 + n}\r\n"
        "Max-Forwards: 70\r\n"
        "\r\n"
    )
    return text.encode("latin-1")


PHONE_SDP = (
    "v=0\r\n"
    "o=- 20012 20012 IN IP4 192.168.1.20\r\n"
    "s=SDP data\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "t=0 0\r\n"
    "m=audio 11780 RTP/AVP 0 8 18 9 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)


def desk_phone_invite() -> bytes:
    """A Yealink desk phone behind office NAT calling a local number through the hosted PBX."""
    head = (
        "INVITE sip:4155550123@pbx.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK1785934867;rport\r\n"
        'From: "Alice Smith" <sip:2001@pbx.example.com>;tag=1420846791\r\n'
        "To: <sip:4155550123@pbx.example.com>\r\n"
        "Call-ID: 0_2839918476@192.168.1.20\r\n"
        "CSeq: 2 INVITE\r\n"
        "Contact: <sip:2001@192.168.1.20:5062>\r\n"
        "Content-Type: application/sdp\r\n"
        "Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, UPDATE\r\n"
        "Max-Forwards: 70\r\n"
        "User-Agent: Yealink SIP-T46S 66.86.0.15\r\n"
        "Supported: replaces\r\n"
        "Allow-Events: talk,hold,conference,refer,check-sync\r\n"
        f"Content-Length: {len(PHONE_SDP)}\r\n"
        "\r\n"
    )
    return (head + PHONE_SDP).encode("latin-1")


def sweep_events(start: float, count: int, rate: float, first_ext: int = 100) -> list[SimEvent]:
    """``count`` svwar INVITEs at ``rate`` per second to ascending extensions (all answered 401)."""
    return [
        SimEvent(
            start + i / rate,
            SCANNER_IP,
            5060,
            svwar_invite(first_ext + i, i),
            1,
            "scanner",
            "scanner_sweep",
            "INVITE",
            401,
            None,
        )
        for i in range(count)
    ]
