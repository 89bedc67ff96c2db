"""Number normalisation and number-only features (antibot.detect.numbers)."""

from __future__ import annotations

import pytest

from antibot.detect.lists import NumberLists
from antibot.detect.numbers import (
    MAX_USER,
    Number,
    dialout_probe,
    e164_score,
    is_anonymous,
    is_neighbour,
    matches_prefix,
    national_part,
    normalise,
    number_features,
    number_of,
    parties,
    split_uri,
    sweep,
    sweep_score,
    to_value,
)

from ._sip import ANONYMOUS, PHONE, PHONE_SDP, SCANNER, TEL, invite, parse

LISTS = NumberLists()


# --- URIs and normalisation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:100@1.1.1.1", ("100", "1.1.1.1", False)),
        ("sips:Alice@Example.COM:5061;transport=tls", ("Alice", "example.com", False)),
        ("sip:+44-20-7946-0123@gw.example.net;user=phone", ("+44-20-7946-0123", "gw.example.net", False)),
        ("sip:14500163172166221:5060@1.2.3.4", ("14500163172166221", "1.2.3.4", True)),
        ("sip:bob@[2001:DB8::1]:5060", ("bob", "2001:db8::1", False)),
        ("sip:203.0.113.9:5060", ("", "203.0.113.9", False)),
        ("tel:+1-212-555-0123;phone-context=+1", ("+1-212-555-0123", "", False)),
        ("mailto:bob@example.com", ("", "", False)),
        ("garbage", ("", "", False)),
    ],
)
def test_split_uri(uri: str, expected: tuple[str, str, bool]) -> None:
    assert split_uri(uri) == expected


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("+44 (20) 7946-0123", Number("442079460123", True, True)),
        ("0044.20.7946.0123", Number("442079460123", True, True)),
        ("02079460123", Number("02079460123", True, False)),
        ("%2B12125550123", Number("12125550123", True, True)),
        ("+1-212-555-0123;isub=1411", Number("12125550123", True, True)),
        ("100", Number("100", True, False)),
        ("sipvicious", Number("sipvicious", False, False)),
        ("john.doe", Number("john.doe", False, False)),
        ("*67123", Number("*67123", False, False)),
        ("00", Number("00", False, False)),
        ("011442079460123", Number("442079460123", True, True)),  # NANP international access code
        ("011-52-55-1234-5678", Number("525512345678", True, True)),
        ("01142496000", Number("01142496000", True, False)),  # UK Sheffield 0114, not 011 + 42...
        ("0119", Number("0119", True, False)),  # too short to hide a number abroad
        ("+", Number("+", False, False)),
        ("١٢٣", Number("١٢٣", False, False)),  # Arabic-Indic digits are not ASCII digits
        ("", Number("", False, False)),
    ],
)
def test_normalise(user: str, expected: Number) -> None:
    assert normalise(user) == expected


def test_normalise_caps_long_names() -> None:
    n = normalise("x" * 500)
    assert n.text == "x" * MAX_USER
    assert not n.numeric


def test_tel_uri_and_user_phone() -> None:
    assert number_of("tel:+1-212-555-0123") == Number("12125550123", True, True)
    assert number_of("sip:+1-212-555-0123@gw.example.net;user=phone") == Number("12125550123", True, True)
    caller, callee = parties(parse(TEL))
    assert caller == Number("12025550199", True, True)
    assert callee == Number("12125550123", True, True)


def test_callee_falls_back_to_request_uri() -> None:
    req = invite("sip:1001@pbx.example.com", "sip:pbx.example.com", ruri="sip:5551234@pbx.example.com")
    assert parties(req)[1] == Number("5551234", True, False)


# --- E.164 plausibility -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "score"),
    [
        ("+442079460123", 1.0),  # UK, 12 digits
        ("+12125550123", 1.0),  # NANP, 11 digits
        ("12125550123", 1.0),  # E.164 without "+", as some trunks send it
        ("+4915112345678", 1.0),  # German mobile, 13 digits
        ("+1212555012", 0.0),  # NANP one digit short
        ("+4420794601234567", 0.0),  # longer than 15 digits
        ("+4420794601", 0.0),  # UK: 10 digits, below the 9-digit NSN minimum
        ("+4420794601234", 0.0),  # UK: 13 digits, above the 10-digit NSN maximum
        ("+2421234567", 0.5),  # Congo: a code not in the compact table, 10 digits
        ("+2421234", 0.0),  # an unknown code needs at least 8 digits
        ("+0441234567", 0.0),  # a country code never starts with 0
        ("02079460123", 0.5),  # national form: plausible, not verifiable
        ("100", 0.0),  # an extension
        ("anonymous", 0.0),
    ],
)
def test_e164_score(user: str, score: float) -> None:
    assert e164_score(normalise(user)) == score


def test_national_part() -> None:
    assert national_part(normalise("+442079460123")) == "2079460123"
    assert national_part(normalise("02079460123")) == "2079460123"
    assert national_part(normalise("12125550123")) == "2125550123"


# --- anonymous callers ------------------------------------------------------------------


def test_anonymous_invalid_uri() -> None:
    assert is_anonymous(parse(ANONYMOUS))


@pytest.mark.parametrize(
    ("from_header", "extra", "expected"),
    [
        ('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=a', "", True),
        ("<sip:anonymous@carrier.example.net>;tag=a", "", True),
        ("<sip:caller@anonymous.invalid>;tag=a", "", True),
        ('"Restricted" <sip:+447700900123@carrier.example.net>;tag=a', "", True),
        ('"UNKNOWN" <sip:+447700900123@carrier.example.net>;tag=a', "", True),
        ("<sip:carrier.example.net>;tag=a", "", True),  # no user part at all
        ("<sip:+447700900123@carrier.example.net>;tag=a", "Privacy: id\n", True),
        ("<sip:+447700900123@carrier.example.net>;tag=a", "Privacy: header;user\n", True),
        ("<sip:+447700900123@carrier.example.net>;tag=a", "Privacy: none\n", False),
        ('"Alice" <sip:+447700900123@carrier.example.net>;tag=a', "", False),
    ],
)
def test_anonymous_variants(from_header: str, extra: str, expected: bool) -> None:
    req = parse(
        f"""\
INVITE sip:1001@pbx.example.com SIP/2.0
Via: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKa1
From: {from_header}
To: <sip:1001@pbx.example.com>
Call-ID: a1
CSeq: 1 INVITE
{extra}Max-Forwards: 70"""
    )
    assert is_anonymous(req) is expected


# --- neighbour spoofing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "callee", "expected"),
    [
        ("+12125550199", "+12125550123", True),  # same NPA-NXX, last 4 differ
        ("2125550199", "+12125550123", True),  # national vs international form
        ("+442079460999", "02079460123", True),  # UK: same area and exchange
        ("+12125550123", "+12125550123", False),  # equal is from_eq_to, not a neighbour
        ("+12125559999", "+12125550123", True),  # six shared digits of a 10-digit NSN
        ("+12125400123", "+12125550123", False),  # exchange differs
        ("+8613912345678", "+8613912399999", False),  # 11-digit NSN: 7 shared digits needed, 6 here
        ("+8613912345678", "+8613912349999", True),
        ("+442079460123", "+12079460123", False),  # different countries
        ("1001", "1002", False),  # extensions are too short to be spoofed neighbours
        ("alice", "+12125550123", False),
    ],
)
def test_neighbour(caller: str, callee: str, expected: bool) -> None:
    assert is_neighbour(normalise(caller), normalise(callee)) is expected


# --- prefix lists -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "premium", "high_risk"),
    [
        ("09065551234", True, False),  # UK premium, national form
        ("+449065551234", True, False),  # UK premium, international form
        ("00449065551234", True, False),
        ("449065551234", True, False),  # E.164 without "+": looks international
        ("+88234567890123", True, False),  # +882 international network
        ("+5371234567", False, True),  # Cuba
        ("005371234567", False, True),
        ("+2521234567", False, True),  # Somalia
        ("+6901234", False, True),  # Tokelau
        ("5371234567", False, False),  # 10 digits, national form: not Cuba
        ("+442079460123", False, False),
        ("02079460123", False, False),
        ("alice", False, False),
    ],
)
def test_premium_and_high_risk(user: str, premium: bool, high_risk: bool) -> None:
    n = normalise(user)
    assert matches_prefix(n, LISTS.premium_prefixes) is premium
    assert matches_prefix(n, LISTS.high_risk_prefixes) is high_risk


def test_operator_lists() -> None:
    lists = NumberLists(premium_prefixes=("0900", "+49900"), high_risk_prefixes=("+7",))
    assert matches_prefix(normalise("09001234567"), lists.premium_prefixes)
    assert not matches_prefix(normalise("09065551234"), lists.premium_prefixes)
    assert matches_prefix(normalise("+74951234567"), lists.high_risk_prefixes)
    national = NumberLists(premium_prefixes=("53",))  # no "+": the national form only
    assert matches_prefix(normalise("5371234567"), national.premium_prefixes)
    assert not matches_prefix(normalise("+5371234567"), national.premium_prefixes)


def test_dialout_probe() -> None:
    probe = dialout_probe(normalise("900441234567890"))  # "9" for an outside line, then 00 44...
    assert probe == Number("441234567890", True, True)
    probe = dialout_probe(normalise("145000972598112101"))  # tech prefix 145 + 00 + Israel
    assert probe == Number("972598112101", True, True)
    assert dialout_probe(normalise("02070012345")) is None  # "00" inside a national number
    assert dialout_probe(normalise("+442079460123")) is None
    assert dialout_probe(normalise("900123")) is None
    probe = dialout_probe(normalise("9011252612345678"))  # outside line 9, then NANP 011 + Somalia
    assert probe == Number("252612345678", True, True)


def test_nanp_international_dialling_reaches_the_number_features() -> None:
    lists = NumberLists()
    req = invite("sip:2001@pbx.example.com", "sip:011252612345678@pbx.example.com")
    feats = number_features(req, lists)
    assert feats["to_international"] == 1.0 and feats["to_e164"] == 1.0
    assert feats["to_high_risk"] == 1.0 and feats["to_len"] == 12.0
    uk = number_features(invite("sip:2001@pbx.example.com", "sip:01179460000@pbx.example.com"), lists)
    assert uk["to_international"] == 0.0


# --- sequential dialling ----------------------------------------------------------------


def test_sweep_ascending_extensions() -> None:
    # svwar style: 100, 101, 102... newest first in src_recent_to.
    assert sweep(105, ("104", "103", "102", "101", "100")) == (5, 5, 5)


def test_sweep_descending_run_with_larger_steps() -> None:
    recent = ("442079460150", "442079460200", "442079460250")
    assert sweep(442079460100, recent) == (0, 3, 3)


def test_sweep_redial_is_not_a_sweep() -> None:
    assert sweep(442079460123, ("442079460123", "442079460123")) == (0, 0, 2)


def test_sweep_random_numbers() -> None:
    recent = ("12125550100", "13105550188", "14155550142")
    assert sweep(17185550123, recent) == (0, 0, 3)


def test_sweep_direction_change_ends_the_run() -> None:
    assert sweep(203, ("202", "201", "205", "204")) == (4, 2, 4)


def test_sweep_skips_names_and_uses_newest_without_anchor() -> None:
    assert sweep(None, ("110", "alice", "109", "108")) == (2, 2, 2)
    assert sweep(None, ()) == (0, 0, 0)


def test_sweep_score() -> None:
    assert sweep_score(5, 5, 5) == 1.0
    assert sweep_score(1, 1, 1) == 0.25  # one neighbour among one recent call: the prior holds
    assert sweep_score(0, 3, 6) == 0.5
    assert sweep_score(0, 0, 0) == 0.0


def test_to_value() -> None:
    assert to_value(normalise("+442079460123")) == 442079460123.0
    assert to_value(normalise("alice")) == -1.0
    assert to_value(normalise("1234567890123456")) == -1.0


# --- number_features on whole messages --------------------------------------------------


def test_features_scanner() -> None:
    f = number_features(parse(SCANNER), LISTS)
    assert f == {
        "from_numeric": 1.0,
        "from_len": 3.0,
        "from_e164": 0.0,
        "from_anonymous": 0.0,
        "to_numeric": 1.0,
        "to_len": 3.0,
        "to_e164": 0.0,
        "to_international": 0.0,
        "from_eq_to": 1.0,
        "from_neighbour": 0.0,
        "to_premium": 0.0,
        "to_high_risk": 0.0,
        "to_honeypot": 0.0,
        "to_dialout_probe": 0.0,
        "ruri_ne_to": 0.0,
        "from_high_risk": 0.0,
    }


def test_features_desk_phone() -> None:
    f = number_features(parse(PHONE, PHONE_SDP), LISTS)
    assert f["from_len"] == 4.0
    assert f["to_len"] == 11.0
    assert f["to_e164"] == 0.5
    assert f["from_eq_to"] == 0.0
    assert f["to_international"] == 0.0


def test_features_anonymous() -> None:
    f = number_features(parse(ANONYMOUS), LISTS)
    assert f["from_anonymous"] == 1.0
    assert f["from_numeric"] == 0.0
    assert f["to_e164"] == 1.0
    assert f["to_international"] == 1.0


def test_features_premium_high_risk_honeypot_probe() -> None:
    lists = NumberLists(honeypot_numbers=frozenset({"442079460000"}))
    gw = "sip:+447700900123@carrier.example.net"
    assert number_features(invite(gw, "sip:09065551234@pbx.example.com"), lists)["to_premium"] == 1.0
    assert number_features(invite(gw, "sip:+5371234567@pbx.example.com"), lists)["to_high_risk"] == 1.0
    wangiri = number_features(invite("sip:+882123456789@gw.example.net", "sip:+14158012000@pbx.example.com"), lists)
    assert (wangiri["from_high_risk"], wangiri["to_premium"], wangiri["to_high_risk"]) == (1.0, 0.0, 0.0)
    cuba = number_features(invite("sip:005371234567@gw.example.net", "sip:+14158012000@pbx.example.com"), lists)
    assert cuba["from_high_risk"] == 1.0
    person = number_features(invite("sip:+442079460123@gw.example.net", "sip:+14158012000@pbx.example.com"), lists)
    assert person["from_high_risk"] == 0.0
    assert number_features(invite(gw, "sip:+442079460000@pbx.example.com"), lists)["to_honeypot"] == 1.0
    probe = number_features(invite(gw, "sip:9005371234567@pbx.example.com"), lists)
    assert (probe["to_dialout_probe"], probe["to_high_risk"], probe["to_premium"]) == (1.0, 1.0, 0.0)


def test_features_neighbour_and_ruri_mismatch() -> None:
    req = invite("sip:+12125550199@gw.example.net", "sip:+12125550123@pbx.example.com")
    assert number_features(req, LISTS)["from_neighbour"] == 1.0
    req = invite("sip:+12025550199@gw.example.net", "sip:+12125550123@pbx.example.com", ruri="sip:5000@pbx.example.com")
    f = number_features(req, LISTS)
    assert (f["from_neighbour"], f["ruri_ne_to"]) == (0.0, 1.0)


def test_split_uri_reads_what_the_sip_parser_reads() -> None:
    """One URI parser: the detector's split agrees with :func:`antibot.sip.uri.parse_uri`, and a
    SIP URI that parser refuses has neither user nor host."""
    from antibot.sip.uri import parse_uri

    for i in range(300):  # a sweep of distinct callees
        text = f"sip:{i}@Example.com:{5060 + i}"
        parsed = parse_uri(text)
        assert split_uri(text) == (parsed.user, parsed.host.host, False) == (str(i), "example.com", False)
    assert split_uri("sip:alice:pw@[2001:db8::1]:5060") == ("alice", "2001:db8::1", True)
    assert split_uri("sip:bob@bad_host.example") == ("", "", False)
