"""Message-form fingerprints and features (antibot.detect.fingerprint)."""

from __future__ import annotations

import hashlib

import pytest

from antibot.detect.fingerprint import (
    header_order_hash,
    header_shape,
    is_dialer_ua,
    is_scanner_ua,
    message_features,
    sdp_traits,
    stack_fingerprint,
    ua_fingerprint,
)

from ._sip import (
    ANON_SRC,
    ANONYMOUS,
    CARRIER_SDP,
    COMPACT,
    PHONE,
    PHONE_SDP,
    PHONE_SRC,
    SCANNER,
    SCANNER_SRC,
    parse,
)

#: Pepelux's SIPPTS (User-Agent pplsip) dialling out through a tech prefix: "user:port"
#: userinfo, a decimal branch, and an SDP that names the tool and listens on 0.0.0.0.
PPLSIP_SRC = "198.51.100.23"
PPLSIP = """\
INVITE sip:14500972598112101@192.0.2.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.23:65145;branch=z9hG4bK951917159;rport
Max-Forwards: 70
From: <sip:14500163172166221:5060@192.0.2.1>;tag=414451770
To: <sip:14500972598112101@192.0.2.1>
Call-ID: 1492163839-465544234-336545636
CSeq: 1 INVITE
Contact: <sip:14500163172166221:5060@198.51.100.23:65145>
User-Agent: pplsip
Content-Type: application/sdp
"""
PPLSIP_SDP = """\
v=0
o=14500163172166221:5060 16264 18299 IN IP4 0.0.0.0
s=pplsip
c=IN IP4 0.0.0.0
t=0 0
m=audio 25282 RTP/AVP 100 6 0 8 3 18 5 101
a=rtpmap:0 pcmu/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11
"""


def _minimal(headers: str) -> str:
    """A request line plus ``headers``, for tests about one header's form."""
    return "INVITE sip:100@192.0.2.1 SIP/2.0\n" + headers.strip("\n")


BASE = """\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKbase1
From: <sip:100@example.com>;tag=1
To: <sip:100@example.com>
Call-ID: base1
CSeq: 1 INVITE
Max-Forwards: 70"""


# --- User-Agent lists -------------------------------------------------------------------


@pytest.mark.parametrize(
    "ua",
    [
        "friendly-scanner",
        "Friendly-Scanner",
        "sipvicious",
        "SIPVicious PRO",
        "sipcli/v1.8",
        "pplsip",
        "VaxSIPUserAgent/3.1",
        "sipsak 0.9.6",
        "iWar",
        "sip-scan",
        "sundayddr",
        "Nmap NSE",
    ],
)
def test_scanner_uas(ua: str) -> None:
    assert is_scanner_ua(ua)
    assert not is_dialer_ua(ua)


@pytest.mark.parametrize(
    "ua",
    [
        "Yealink SIP-T46S 66.86.0.15",
        "PolycomVVX-VVX_411-UA/6.4.3.5018",
        "Z 3.15.40006 rv2.8.20",  # Zoiper: a real softphone
        "Cisco-SIPGateway/IOS-15.x",  # real gateways send it; not listed on purpose
        "Asterisk PBX 18.20.0",
        "Kiwari 1.0",  # "iwar" inside a word is not iWar
        "",
        None,
    ],
)
def test_people_uas(ua: str | None) -> None:
    assert not is_scanner_ua(ua)
    assert not is_dialer_ua(ua)


@pytest.mark.parametrize("ua", ["PortSIP VoIP SDK 11.2", "PortSIP SDK", "PJSUA v2.10 Linux-5.4.0/x86_64/glibc-2.31"])
def test_dialer_uas(ua: str) -> None:
    assert is_dialer_ua(ua)
    assert not is_scanner_ua(ua)


# --- header order and form --------------------------------------------------------------


def test_scanner_header_shape() -> None:
    shape = header_shape(parse(SCANNER))
    assert shape.tokens == (
        "via/n",
        "max-forwards/n",
        "to/n",
        "from/n",
        "user-agent/n",
        "call-id/n",
        "contact/n",
        "cseq/n",
        "accept/n",
        "content-length/n",
    )
    assert (shape.count, shape.compact, shape.odd_case, shape.odd_spacing) == (10, 0, 0, 0)
    assert shape.to_before_from
    expected = hashlib.blake2b("|".join(shape.tokens).encode(), digest_size=8).hexdigest()
    assert header_order_hash(parse(SCANNER)) == expected
    assert len(expected) == 16


def test_compact_header_shape() -> None:
    shape = header_shape(parse(COMPACT))
    assert shape.tokens[:6] == ("via/c", "to/c", "from/c", "call-id/c", "contact/c", "cseq/n")
    assert shape.tokens[-1] == "content-length/c"
    assert (shape.compact, shape.odd_case) == (6, 0)


def test_order_hash_ignores_values_but_not_order() -> None:
    a = parse(_minimal(BASE))
    b = parse(_minimal(BASE.replace("base1", "other2").replace("sip:100@", "sip:200@")))
    from_line = "From: <sip:100@example.com>;tag=1\n"
    swapped = BASE.replace(from_line, "").replace("Call-ID:", from_line + "Call-ID:")
    c = parse(_minimal(swapped))
    assert header_order_hash(a) == header_order_hash(b)
    assert header_order_hash(a) != header_order_hash(c)
    assert header_shape(c).to_before_from and not header_shape(a).to_before_from


@pytest.mark.parametrize(
    ("line", "token", "odd_case", "odd_spacing"),
    [
        ("Call-ID: x1", "call-id/n", 0, 0),
        ("Call-Id: x1", "call-id/o", 1, 0),
        ("call-id: x1", "call-id/l", 1, 0),
        ("CALL-ID: x1", "call-id/u", 1, 0),
        ("i: x1", "call-id/c", 0, 0),
        ("Call-ID:x1", "call-id/n0", 0, 1),
        ("Call-ID :x1", "call-id/nb0", 0, 1),
        ("Call-ID:  x1", "call-id/n2", 0, 1),
        ("Call-ID:   x1", "call-id/n2", 0, 1),
        ("Call-ID:\tx1", "call-id/nt", 0, 1),
        ("Call-ID:\n x1", "call-id/n0f", 0, 1),
    ],
)
def test_header_form_tokens(line: str, token: str, odd_case: int, odd_spacing: int) -> None:
    shape = header_shape(parse(_minimal(BASE.replace("Call-ID: base1", line))))
    assert shape.tokens[3] == token
    assert (shape.odd_case, shape.odd_spacing) == (odd_case, odd_spacing)


def test_unknown_header_case() -> None:
    shape = header_shape(parse(_minimal(BASE + "\nX-Custom-Tag: 1\nx-lower: 2\nX-UPPER: 3")))
    assert shape.tokens[-4:] == ("x-custom-tag/n", "x-lower/l", "x-upper/u", "content-length/n")
    assert shape.odd_case == 0  # extension headers have no standard spelling to get wrong
    sippy = header_shape(parse(_minimal(BASE + "\ncisco-GUID: 1-2-3-4\nh323-conf-id: 1-2-3-4")))
    assert sippy.odd_case == 0 and sippy.tokens[-3:-1] == ("cisco-guid/n", "h323-conf-id/l")
    misspelt = header_shape(parse(_minimal(BASE + "\nALLOW: INVITE\nsupported: timer")))
    assert misspelt.odd_case == 2


def test_repeated_headers_collapse() -> None:
    one = parse(_minimal(BASE))
    two = parse(_minimal("Via: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKp1\n" + BASE))
    assert header_order_hash(one) == header_order_hash(two)
    assert header_shape(two).count == header_shape(one).count + 1


def test_ua_fingerprint() -> None:
    scanner = parse(SCANNER)
    fp = ua_fingerprint(scanner)
    assert len(fp) == 12 and int(fp, 16) >= 0
    order = header_order_hash(scanner)
    assert fp == hashlib.blake2b(f"friendly-scanner\x00{order}".encode(), digest_size=6).hexdigest()
    assert ua_fingerprint(scanner, order) == fp
    other_ua = parse(SCANNER.replace("friendly-scanner", "Yealink SIP-T46S 66.86.0.15"))
    assert ua_fingerprint(other_ua) != fp
    # the same UA text from a different stack (compact headers) is another fingerprint
    spoof = parse(COMPACT.replace("Accept:", "User-Agent: friendly-scanner\nAccept:"))
    assert ua_fingerprint(spoof) != fp


def test_hashes_are_blake2b_of_the_text() -> None:
    from antibot.detect import fingerprint

    scanner = parse(SCANNER)
    first = ua_fingerprint(scanner)
    for i in range(300):  # distinct User-Agents
        ua = f"bot-{i}"
        text = f"{ua}\x00{header_order_hash(scanner)}"
        assert fingerprint._hashed(text, 6) == hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    assert ua_fingerprint(scanner) == first  # stable


# --- whole-message features -------------------------------------------------------------


def test_scanner_features() -> None:
    assert message_features(parse(SCANNER), SCANNER_SRC) == {
        "ua_scanner": 1.0,
        "ua_dialer": 0.0,
        "no_user_agent": 0.0,
        "hdr_count": 10.0,
        "hdr_compact": 0.0,
        "hdr_odd_case": 0.0,
        "hdr_odd_spacing": 0.0,
        "hdr_to_before_from": 1.0,
        "via_branch_rfc3261": 1.0,
        "via_branch_numeric": 1.0,
        "via_branch_dash_digits": 1.0,
        "max_forwards": 70.0,
        "max_forwards_odd": 0.0,
        "no_contact": 0.0,
        "no_allow": 1.0,
        "no_supported": 1.0,
        "body_no_content_type": 0.0,
        "to_tag": 0.0,
        "from_no_tag": 0.0,
        "has_identity": 0.0,
        "uri_password": 0.0,
        "from_host_ip": 1.0,
        "from_host_ip_mismatch": 1.0,
        "contact_ip_mismatch": 1.0,
        "from_host_is_callee": 1.0,
        "nat_private_addr": 0.0,
        "sdp_present": 0.0,
        "sdp_codecs": 0.0,
        "sdp_telephone_event": 0.0,
        "sdp_generic_session": 0.0,
        "sdp_odd_origin": 0.0,
        "sdp_tool_name": 0.0,
        "sdp_conn_mismatch": 0.0,
        "sdp_conn_null": 0.0,
    }


def test_compact_scanner_features() -> None:
    f = message_features(parse(COMPACT), SCANNER_SRC)
    assert (f["no_user_agent"], f["hdr_compact"], f["via_branch_dash_digits"]) == (1.0, 6.0, 1.0)
    assert (f["from_host_ip"], f["from_host_ip_mismatch"], f["contact_ip_mismatch"]) == (1.0, 0.0, 1.0)


def test_desk_phone_features() -> None:
    f = message_features(parse(PHONE, PHONE_SDP), PHONE_SRC)
    expected = {
        "ua_scanner": 0.0,
        "no_user_agent": 0.0,
        "hdr_count": 13.0,
        "hdr_odd_case": 0.0,
        "hdr_to_before_from": 0.0,
        "via_branch_rfc3261": 1.0,
        "via_branch_numeric": 1.0,  # Yealink's branch is decimal too: not a tool marker alone
        "via_branch_dash_digits": 0.0,
        "max_forwards_odd": 0.0,
        "no_contact": 0.0,
        "no_allow": 0.0,
        "no_supported": 0.0,
        "from_host_ip": 0.0,
        "from_host_ip_mismatch": 0.0,
        "contact_ip_mismatch": 0.0,
        "from_host_is_callee": 1.0,  # a registered phone calls within its own domain
        "nat_private_addr": 1.0,
        "sdp_present": 1.0,
        "sdp_codecs": 5.0,
        "sdp_telephone_event": 1.0,
        "sdp_generic_session": 0.0,
        "sdp_odd_origin": 0.0,
        "sdp_tool_name": 0.0,
        "sdp_conn_mismatch": 0.0,
        "sdp_conn_null": 0.0,
    }
    assert {k: f[k] for k in expected} == expected


def test_carrier_features() -> None:
    f = message_features(parse(ANONYMOUS, CARRIER_SDP), ANON_SRC)
    assert (f["has_identity"], f["max_forwards"], f["via_branch_numeric"]) == (1.0, 69.0, 0.0)
    assert (f["nat_private_addr"], f["sdp_codecs"], f["sdp_conn_mismatch"]) == (0.0, 3.0, 0.0)
    # 203.0.113.9 is a documentation address (not global): never a "public mismatch"
    assert message_features(parse(ANONYMOUS, CARRIER_SDP), "8.8.8.8")["sdp_conn_mismatch"] == 0.0
    # a public media address that is not the sender is one
    public = CARRIER_SDP.replace("203.0.113.9", "81.2.69.160")
    assert message_features(parse(ANONYMOUS, public), ANON_SRC)["sdp_conn_mismatch"] == 1.0
    assert message_features(parse(ANONYMOUS, public), "81.2.69.160")["sdp_conn_mismatch"] == 0.0


def test_pplsip_features() -> None:
    f = message_features(parse(PPLSIP, PPLSIP_SDP), PPLSIP_SRC)
    assert (f["ua_scanner"], f["uri_password"], f["via_branch_numeric"], f["via_branch_dash_digits"]) == (
        1.0,
        1.0,
        1.0,
        0.0,
    )
    assert (f["sdp_tool_name"], f["sdp_conn_null"], f["sdp_codecs"], f["sdp_telephone_event"]) == (1.0, 1.0, 8.0, 1.0)
    assert (f["no_allow"], f["no_supported"], f["nat_private_addr"]) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("line", "value", "odd"),
    [("Max-Forwards: 70", 70.0, 0.0), ("Max-Forwards: 66", 66.0, 0.0), ("Max-Forwards: 255", 255.0, 1.0)]
    + [("Max-Forwards: 10", 10.0, 1.0), ("X-No-Max-Forwards: 1", -1.0, 1.0)],
)
def test_max_forwards(line: str, value: float, odd: float) -> None:
    f = message_features(parse(_minimal(BASE.replace("Max-Forwards: 70", line))), SCANNER_SRC)
    assert (f["max_forwards"], f["max_forwards_odd"]) == (value, odd)


def test_missing_and_odd_headers() -> None:
    bare = message_features(parse(_minimal(BASE)), SCANNER_SRC)
    assert (bare["no_user_agent"], bare["no_contact"], bare["no_allow"], bare["no_supported"]) == (1.0, 1.0, 1.0, 1.0)
    assert (bare["to_tag"], bare["from_no_tag"], bare["body_no_content_type"]) == (0.0, 0.0, 0.0)
    odd = BASE.replace("To: <sip:100@example.com>", "To: <sip:100@example.com>;tag=x9").replace(";tag=1", "")
    f = message_features(parse(_minimal(odd), "v=0\n"), SCANNER_SRC)
    assert (f["to_tag"], f["from_no_tag"], f["body_no_content_type"]) == (1.0, 1.0, 1.0)
    assert f["sdp_present"] == 1.0  # a bare "v=0" body is still recognised as SDP


@pytest.mark.parametrize(
    ("branch", "rfc3261", "numeric", "dash"),
    [
        ("z9hG4bK-3412876589", 1.0, 1.0, 1.0),
        ("z9hG4bK1785934867", 1.0, 1.0, 0.0),
        ("z9hG4bKac1587393", 1.0, 0.0, 0.0),
        ("z9hG4bK-524287-1---c1a8b2d61a7b1c7e", 1.0, 0.0, 0.0),
        ("1a2b3c4d", 0.0, 0.0, 0.0),  # RFC 2543 style, no magic cookie
    ],
)
def test_via_branch(branch: str, rfc3261: float, numeric: float, dash: float) -> None:
    f = message_features(parse(_minimal(BASE.replace("z9hG4bKbase1", branch))), SCANNER_SRC)
    assert (f["via_branch_rfc3261"], f["via_branch_numeric"], f["via_branch_dash_digits"]) == (rfc3261, numeric, dash)


def test_hosts_against_source() -> None:
    own = BASE.replace("sip:100@example.com>;tag=1", "sip:100@198.51.100.7>;tag=1")
    f = message_features(parse(_minimal(own + "\nContact: <sip:100@198.51.100.7:5060>")), "198.51.100.7")
    assert (f["from_host_ip"], f["from_host_ip_mismatch"], f["contact_ip_mismatch"]) == (1.0, 0.0, 0.0)
    spoofed = own.replace("198.51.100.7>", "1.1.1.1>")
    f = message_features(parse(_minimal(spoofed + "\nContact: <sip:100@8.8.4.4>")), "198.51.100.7")
    assert (f["from_host_ip_mismatch"], f["contact_ip_mismatch"]) == (1.0, 1.0)
    callee = BASE.replace("sip:100@example.com>;tag=1", "sip:100@192.0.2.1>;tag=1")
    assert message_features(parse(_minimal(callee)), "198.51.100.7")["from_host_is_callee"] == 1.0
    assert message_features(parse(_minimal(BASE)), "198.51.100.7")["from_host_is_callee"] == 1.0
    other = BASE.replace("sip:100@example.com>;tag=1", "sip:100@carrier.example.net>;tag=1")
    assert message_features(parse(_minimal(other)), "198.51.100.7")["from_host_is_callee"] == 0.0


def test_ipv6_source_compared_canonically() -> None:
    v6 = BASE.replace("sip:100@example.com>;tag=1", "sip:100@[2a00:1450:4001:0809::200e]>;tag=1")
    f = message_features(parse(_minimal(v6)), "2a00:1450:4001:809::200e")
    assert (f["from_host_ip"], f["from_host_ip_mismatch"]) == (1.0, 0.0)
    assert message_features(parse(_minimal(v6)), "2a00:1450:4001:809::1")["from_host_ip_mismatch"] == 1.0


# --- SDP --------------------------------------------------------------------------------


def test_sdp_traits_phone() -> None:
    traits = sdp_traits(PHONE_SDP.replace("\n", "\r\n").encode(), "application/sdp")
    assert traits.present and traits.codecs == 5 and traits.telephone_event
    assert (traits.session_name, traits.origin_user, traits.connections) == ("SDP data", "-", ("192.168.1.20",))


@pytest.mark.parametrize(
    ("o_line", "s_line", "generic", "odd_origin", "tool"),
    [
        ("o=- 1 1 IN IP4 8.8.8.8", "s=-", 1.0, 0.0, 0.0),
        ("o=- 1 1 IN IP4 8.8.8.8", "s=SIP Call", 1.0, 0.0, 0.0),
        ("o=root 1 1 IN IP4 8.8.8.8", "s=Talk", 0.0, 1.0, 0.0),
        ("o=user1 53655765 2353687637 IN IP4 8.8.8.8", "s=-", 1.0, 0.0, 1.0),  # SIPp's stock SDP
        ("o=- 1 1 IN IP4 8.8.8.8", "s=pplsip", 0.0, 0.0, 1.0),
        ("o=FreeSWITCH 1 2 IN IP4 8.8.8.8", "s=FreeSWITCH", 0.0, 0.0, 0.0),
    ],
)
def test_sdp_names(o_line: str, s_line: str, generic: float, odd_origin: float, tool: float) -> None:
    sdp = f"v=0\n{o_line}\n{s_line}\nc=IN IP4 8.8.8.8\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
    f = message_features(parse(_minimal(BASE + "\nContent-Type: application/sdp"), sdp), "8.8.8.8")
    assert (f["sdp_generic_session"], f["sdp_odd_origin"], f["sdp_tool_name"]) == (generic, odd_origin, tool)
    assert (f["sdp_codecs"], f["sdp_telephone_event"], f["sdp_conn_null"]) == (1.0, 0.0, 0.0)


def test_sdp_without_connection_line_is_null() -> None:
    sdp = "v=0\no=- 1 1 IN IP4 8.8.8.8\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0 8\n"
    f = message_features(parse(_minimal(BASE + "\nContent-Type: application/sdp"), sdp), "8.8.8.8")
    assert (f["sdp_conn_null"], f["sdp_codecs"]) == (1.0, 2.0)


def test_sdp_inside_multipart() -> None:
    body = (
        b"--b1\r\nContent-Type: application/sdp\r\n\r\n"
        b"v=0\r\no=- 1 1 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        b"--b1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\nc=IN IP4 1.1.1.1\r\n--b1--\r\n"
    )
    traits = sdp_traits(body, "multipart/mixed;boundary=b1")
    assert (traits.present, traits.codecs, traits.telephone_event) == (True, 2, True)
    assert traits.connections == ("203.0.113.9",)  # the ISUP part after the boundary is not SDP


def test_no_sdp() -> None:
    assert not sdp_traits(b"", "application/sdp").present
    assert not sdp_traits(b"<xml/>", "application/pidf+xml").present


def test_ip_kinds_are_remembered_within_a_bound() -> None:
    from antibot.detect import fingerprint

    for i in range(5000):
        assert fingerprint._ip_kind(f"10.{i // 256 % 256}.{i % 256}.1") == "local"
        assert len(fingerprint._IP_KINDS) <= 4096
    assert [fingerprint._ip_kind(h) for h in ("8.8.8.8", "0.0.0.0", "::", "example.com", "")] == [
        "global",
        "null",
        "null",
        "",
        "",
    ]


def test_stack_fingerprint_leaves_out_the_per_call_headers() -> None:
    """An SBC asserts, signs or hides the caller on some calls and not others: its calls keep
    their stack fingerprint (what a flow is keyed on), not their order hash."""
    sbc = BASE + "\nUser-Agent: Mediant SW/v.7.40A.5"
    plain = parse(_minimal(sbc))
    asserted = parse(
        _minimal(sbc + "\nP-Asserted-Identity: <sip:+14155550100@198.51.100.7>\nIdentity: eyJ.a.b;ppt=shaken")
    )
    hidden = parse(_minimal(sbc.replace("Call-ID:", "Privacy: id\nCall-ID:")))
    assert header_order_hash(plain) != header_order_hash(asserted) != header_order_hash(hidden)
    assert stack_fingerprint(plain) == stack_fingerprint(asserted) == stack_fingerprint(hidden)
    assert ua_fingerprint(plain) != ua_fingerprint(asserted)
    assert stack_fingerprint(plain, header_shape(plain).stack_hash) == stack_fingerprint(plain)
    assert stack_fingerprint(parse(_minimal(BASE))) != stack_fingerprint(plain)  # another User-Agent
    swapped = BASE.replace("CSeq: 1 INVITE\n", "") + "\nCSeq: 1 INVITE\nUser-Agent: Mediant SW/v.7.40A.5"
    assert stack_fingerprint(parse(_minimal(swapped))) != stack_fingerprint(plain)  # another order
