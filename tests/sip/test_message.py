"""Message helpers: the tag of a From/To value read without a full parse (RFC 3261 §19.3)."""

from __future__ import annotations

import re

import pytest

from antibot.sip.address import parse_name_addr
from antibot.sip.message import tag_of

#: RFC 3261 §25.1 ``tag-param``, with the LWS the grammar allows around ';' and '='.
_REFERENCE = re.compile(r";\s*tag\s*=\s*([^;\s,>]+)", re.IGNORECASE)


def _reference(value: str) -> str | None:
    gt = value.rfind(">")
    m = _REFERENCE.search(value, gt + 1 if gt >= 0 else 0)
    return m.group(1) if m else None


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('"Caller 1" <sip:74951@127.0.0.1:5061>;tag=1234SIPpTag001', "1234SIPpTag001"),
        ("<sip:service@127.0.0.1:5060>", None),
        ("<sip:a@b>;tag=x;foo=bar", "x"),  # more parameters after the tag
        ("<sip:a@b>;foo=bar;tag=y", "y"),  # the tag is not the first parameter
        ("<sip:a@b> ; TAG = q", "q"),  # LWS and case (RFC 3261 §7.3.1, §19.3)
        ("<sip:a@b;tag=in-uri>;tag=hdr", "hdr"),  # a URI parameter is not the header's tag
        ("<sip:a@b;tag=in-uri>", None),
        ("sip:a@b;tag=1", "1"),  # addr-spec without <>
        ("sip:a@b;user=phone;tag=2", "2"),
        ("<sip:a@b>;tag=", None),  # empty: no tag
        ("<sip:a@b>;tag=abc def", "abc"),
        ("<sip:a@b>;tag=abc\xa0def", "abc"),  # latin-1 NBSP is white space to the grammar's regex
        ("<sip:a@b>;tag=a.b-c!d%e*f_g+h`i'j~k", "a.b-c!d%e*f_g+h`i'j~k"),  # every token character
        ("<sip:a@b>;tagx=1", None),
    ],
)
def test_tag_of(value: str, tag: str | None) -> None:
    assert tag_of(value) == tag == _reference(value)


@pytest.mark.parametrize(
    "value",
    ['"A" <sip:1@h>;tag=abc', "<sip:1@h>;Tag=Q1;x", "<sip:1@h>;x;tag=z", "sip:1@h;tag=t2"],
)
def test_tag_of_agrees_with_the_full_parse(value: str) -> None:
    assert tag_of(value) == parse_name_addr(value, "To").tag
