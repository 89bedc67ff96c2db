"""Via values (RFC 3261 §20.42): branch read at parse time, other parameters split on first use."""

from __future__ import annotations

import pytest

from antibot.sip.errors import ParseError
from antibot.sip.headers import parse_params
from antibot.sip.via import parse_via


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
