"""Via values (RFC 3261 §20.42): branch read at parse time, other parameters split on first use."""

from __future__ import annotations

import random
import re

import pytest

from antibot.sip.errors import ParseError
from antibot.sip.headers import parse_params
from antibot.sip.uri import parse_hostport
from antibot.sip.via import Via, _parse_general, alias_target, parse_via


@pytest.mark.parametrize(
    ("value", "branch"),
    [
        ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport", "z9hG4bK-1"),
        ("SIP/2.0/UDP 10.0.0.1;rport;BRANCH=z9hG4bK-2;received=10.0.0.9", "z9hG4bK-2"),
        ("SIP/2.0/TCP host.example.com:5061;ttl=3;branch=z9hG4bK-3;branch=z9hG4bK-other", "z9hG4bK-3"),
        ("SIP/2.0/UDP 10.0.0.1;xbranch=1;branch=z9hG4bK-4", "z9hG4bK-4"),
        ("SIP/2.0/UDP 10.0.0.1;branch", ""),
        ("SIP/2.0/UDP 10.0.0.1;rport=5062", None),
        ("SIP/2.0/UDP 10.0.0.1", None),
        ("SIP / 2.0 / UDP 10.0.0.1 ; branch = z9hG4bK-5 ; rport", "z9hG4bK-5"),
        ('SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-6;x="a b"', "z9hG4bK-6"),  # not a plain list: quoted value
        ("SIP/2.0/UDP 10.0.0.1;x=a\x7fb;Branch=z9hG4bK-7", "z9hG4bK-7"),  # not plain: a non-printable value
    ],
)
def test_branch_and_params_match_a_full_parse(value: str, branch: str | None) -> None:
    via = parse_via(value)
    assert via.branch == branch
    text = value.partition(";")[2]
    assert via.params == (tuple(parse_params(text, "Via")) if ";" in value else ())
    assert via.param("branch") == branch


def test_vias_compare_by_value() -> None:
    a = parse_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport")
    b = parse_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport")
    assert a == b and hash(a) == hash(b)
    assert a != parse_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-2;rport")


@pytest.mark.parametrize("value", ["SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK", "SIP/2.0/UDP 10.0.0.1;;branch=z9hG4bK-1"])
def test_bad_via_parameters_are_refused_at_parse_time(value: str) -> None:
    with pytest.raises(ParseError):
        parse_via(value)


# The regex fast path parse_via had before (the reference the string-method one must equal).
_OLD_VIA = re.compile(r"SIP/2\.0/([A-Za-z]+) ([^;\s]+)(?:;(.*))?")
_OLD_BRANCH = re.compile(r"(?:^|;)branch(?:=([^;]*))?(?=;|$)", re.IGNORECASE)
_TOKEN = r"A-Za-z0-9\-.!%*_+`'~"
_OLD_PLAIN = re.compile(f'[{_TOKEN}]+(?:=[^;\\s"]+)?(?:;[{_TOKEN}]+(?:=[^;\\s"]+)?)*')


def _old_parse_via(value: str) -> Via:
    plain = _OLD_VIA.fullmatch(value)
    if plain is None or "[" in value:
        return _parse_general(value)
    if plain.group(3) is None:
        return Via(plain.group(1).upper(), parse_hostport(plain.group(2)), (), None)
    text = plain.group(3)
    if _OLD_PLAIN.fullmatch(text):
        found = _OLD_BRANCH.search(text)
        branch = None if found is None else found.group(1) or ""
    else:
        branch = next((v or "" for k, v in parse_params(text, "Via") if k == "branch"), None)
    if branch == "z9hG4bK":
        raise ParseError("cookie only")
    return Via(plain.group(1).upper(), parse_hostport(plain.group(2)), None, branch, text)


def _outcome(parse: object, value: str) -> object:
    try:
        return parse(value)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the error class is what is compared
        return type(exc)


def test_the_fast_path_parses_as_the_regex_one_did() -> None:
    rng = random.Random(4475)
    pieces = [
        "SIP/2.0/",
        "UDP",
        "tcp",
        " ",
        "  ",
        "\t",
        "10.0.0.1",
        ":5060",
        "[::1]",
        "host.example",
        ";",
        "branch",
        "=",
        "z9hG4bK",
        "-1",
        "rport",
        "received",
        '"',
        "é",
        "\x01",
        "\x85",
        ",",
        "==",
        ";;",
        "BRANCH",
        "\n",
    ]
    for _ in range(30_000):
        value = "SIP/2.0/UDP 10.0.0.1" + "".join(rng.choice(pieces) for _ in range(rng.randrange(8)))
        if rng.random() < 0.3:
            value = "".join(rng.choice(pieces) for _ in range(rng.randrange(10)))
        assert _outcome(parse_via, value) == _outcome(_old_parse_via, value), repr(value)


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("SIP/2.0/TLS Phone.Example.net:5071;branch=z9hG4bK-1;alias", ("tls", "phone.example.net", 5071)),
        ("SIP/2.0/TLS 192.0.2.9;branch=z9hG4bK-1;ALIAS", ("tls", "192.0.2.9", 5061)),  # TLS default port
        ("SIP/2.0/TCP 192.0.2.9;alias;branch=z9hG4bK-1", ("tcp", "192.0.2.9", 5060)),
        ("SIP/2.0/TLS [2001:DB8::9]:5061 ; branch=z9hG4bK-1 ; alias", ("tls", "2001:db8::9", 5061)),
        ("SIP/2.0/TLS 192.0.2.9:5061;branch=z9hG4bK-1;rport", None),
        ("SIP/2.0/TLS 192.0.2.9:5061;branch=z9hG4bK-1;aliases", None),
    ],
)
def test_alias_target_is_the_sent_by_of_a_via_with_alias(value: str, target: tuple[str, str, int] | None) -> None:
    """RFC 5923: ``alias`` is a flag; it offers the connection for the Via's sent-by."""
    assert alias_target(parse_via(value)) == target
