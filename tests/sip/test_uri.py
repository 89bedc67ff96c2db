"""SIP URIs, host:port references (RFC 3261 §19.1, RFC 5118), name-addr values and parameters."""

from __future__ import annotations

import pytest

from antibot.sip.address import parse_name_addr
from antibot.sip.errors import ParseError, UnsupportedUriScheme
from antibot.sip.headers import canonical, is_token, parse_params, split_commas
from antibot.sip.uri import HostPort, parse_hostport, parse_uri


def test_full_sip_uri() -> None:
    uri = parse_uri("SIP:alice:secret@Atlanta.Example.COM:5070;Transport=TCP;lr;maddr=239.255.255.1?subject=hi&x=y")
    assert (uri.scheme, uri.user, uri.host) == ("sip", "alice:secret", HostPort("atlanta.example.com", 5070))
    assert uri.params == (("transport", "TCP"), ("lr", None), ("maddr", "239.255.255.1"))
    assert (uri.param("lr"), uri.param("maddr"), uri.param("ttl")) == ("", "239.255.255.1", None)
    assert (uri.headers, uri.transport) == ("subject=hi&x=y", "tcp")


def test_transport_defaults_by_scheme() -> None:
    assert parse_uri("sips:bob@example.com").transport == "tls"
    assert parse_uri("sip:bob@example.com").transport == "udp"
    assert parse_uri("sip:example.com").user is None


def test_user_part_keeps_escapes_and_reserved_characters() -> None:
    uri = parse_uri("sip:user;par=u%40example.net@example.com;lr")
    assert (uri.user, uri.host.host, uri.params) == ("user;par=u%40example.net", "example.com", (("lr", None),))
    assert parse_uri("sip:%00%00@host5.example.com").user == "%00%00"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("example.com", "example.com", None),
        ("192.0.2.1:5060", "192.0.2.1", 5060),
        ("[2001:db8::10]", "2001:db8::10", None),
        ("[2001:DB8::10]:5070", "2001:db8::10", 5070),
        ("[2001:db8::10:5070]", "2001:db8::10:5070", None),  # RFC 5118 §4.3: all of it is the address
        ("[::ffff:192.0.2.2]", "::ffff:192.0.2.2", None),
        ("[2001:db8:::192.0.2.1]", "2001:db8:::192.0.2.1", None),  # RFC 5118 §4.10 ABNF bug, tolerated
        ("h:65535", "h", 65535),
    ],
)
def test_hostport(text: str, host: str, port: int | None) -> None:
    assert parse_hostport(text) == HostPort(host, port)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2001:db8::10", "bad host '2001:db8::10'"),  # RFC 5118 §4.2: IPv6 needs brackets
        ("[2001:db8::10", "unterminated IPv6 reference"),
        ("[2001:db8::10]5070", "junk after IPv6 reference"),
        ("[2001:db8::zz]", "bad IPv6 reference '2001:db8::zz'"),
        ("[2001:db8::::1]", "bad IPv6 reference '2001:db8::::1'"),
        ("h:65536", "bad port '65536'"),
        ("h:", "bad port ''"),
        ("h:50a", "bad port '50a'"),
        ("", "bad host ''"),
        ("ex_ample.com", "bad host 'ex_ample.com'"),
    ],
)
def test_bad_hostport(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_hostport(text)
    assert info.value.reason == reason


def test_hostport_render() -> None:
    assert HostPort("2001:db8::1", None).render() == "[2001:db8::1]"
    assert HostPort("2001:db8::1", None).render(5060) == "[2001:db8::1]:5060"
    assert HostPort("192.0.2.1", 5070).render(5060) == "192.0.2.1:5070"
    assert HostPort("2001:db8::1", None).is_ipv6 and not HostPort("h", 1).is_ipv6


def test_bad_uris() -> None:
    with pytest.raises(UnsupportedUriScheme) as info:
        parse_uri("http://example.com")
    assert (info.value.status, info.value.reason) == (416, "unsupported URI scheme 'http'")
    for text, reason in [
        ("example.com", "bad URI 'example.com'"),
        ("sip:bob@example.com; lr", "whitespace or angle bracket inside URI"),
        ("sip:<bob@example.com>", "whitespace or angle bracket inside URI"),
        ("sip:bob@example.com;;lr", "empty parameter in URI"),
    ]:
        with pytest.raises(ParseError) as err:
            parse_uri(text)
        assert err.value.reason == reason


@pytest.mark.parametrize(
    ("value", "display", "uri", "params"),
    [
        ('"Bob \\"B\\"" <sip:bob@example.com>;tag=1', '"Bob \\"B\\""', "sip:bob@example.com", (("tag", "1"),)),
        ("Bob Smith <sip:bob@example.com>", "Bob Smith", "sip:bob@example.com", ()),
        ("caller<sip:caller@example.com>;tag=3", "caller", "sip:caller@example.com", (("tag", "3"),)),
        ("<sip:a@example.com;lr>", None, "sip:a@example.com;lr", ()),
        ("sip:a@example.com;unknownparam", None, "sip:a@example.com", (("unknownparam", None),)),
        ("  sip:a@example.com ; Tag = x ; q=0.5", None, "sip:a@example.com", (("tag", "x"), ("q", "0.5"))),
        ("<urn:service:sos>", None, "urn:service:sos", ()),
    ],
)
def test_name_addr(value: str, display: str | None, uri: str, params: tuple[tuple[str, str | None], ...]) -> None:
    na = parse_name_addr(value, "To")
    assert (na.display, na.uri, na.params) == (display, uri, params)
    assert na.bracketed is ("<" in value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated quoted display name in To"),
        ("< sip:t.watson@example.org >", "whitespace inside <> in To"),
        ("Watson, Thomas <sip:t.watson@example.org>", "display name in To must be quoted"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "URI in To must be enclosed in <>"),
        ("<sip:a@example.com", "missing '>' in To"),
        ("<sip:a@example.com> junk", "junk after URI in To"),
        ('"quoted only"', "quoted display name without <uri> in To"),
        ("<example.com>", "URI without scheme in To"),
        ("<sip:a@example.com>;;;;", "empty parameter in To"),
    ],
)
def test_bad_name_addr(value: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_name_addr(value, "To")
    assert info.value.reason == reason


def test_split_commas_respects_quotes_and_brackets() -> None:
    assert split_commas('"a, b" <sip:x@y;p=1,2>, <sip:z@w> ,c') == ['"a, b" <sip:x@y;p=1,2>', "<sip:z@w>", "c"]
    assert split_commas(' "esc \\" , still" , next') == ['"esc \\" , still"', "next"]
    assert split_commas(" single ") == ["single"]
    with pytest.raises(ParseError):
        split_commas('"open, never closed')


def test_parse_params() -> None:
    assert parse_params('A=1;flag; b = x ;C="q;uo"', "X") == [("a", "1"), ("flag", None), ("b", "x"), ("c", '"q;uo"')]
    assert parse_params("", "X") == []
    for text, reason in [
        ("a=1;;b", "empty parameter in X"),
        ("a=", "empty parameter value in X"),
        ("a b=1", "bad parameter name in X"),
    ]:
        with pytest.raises(ParseError) as info:
            parse_params(text, "X")
        assert info.value.reason == reason


def test_header_names() -> None:
    assert [canonical(n) for n in ("v", "VIA", "I", "l", "Content-Length", "x", "X-Foo")] == [
        "via", "via", "call-id", "content-length", "content-length", "session-expires", "x-foo",
    ]  # fmt: skip
    assert is_token("RE%47IST%45R") and is_token("!interesting-Method0123456789_*+`.%indeed'~")
    assert not is_token("") and not is_token("a b") and not is_token("a:b") and not is_token("é")


def test_a_bad_uri_or_name_addr_fails_each_time_with_its_header_name() -> None:
    """Parsed URIs and name-addr values are shared by text (a bounded memo); errors are not kept."""
    assert parse_uri("sip:7495@192.0.2.1:5062;transport=tcp") is parse_uri("sip:7495@192.0.2.1:5062;transport=tcp")
    assert parse_name_addr("<sip:a@192.0.2.1>;tag=1", "From") is parse_name_addr("<sip:a@192.0.2.1>;tag=1", "To")
    for _ in range(2):
        with pytest.raises(ParseError):
            parse_uri("sip:7495@999.1.1.1")
    for what in ("Contact", "Route"):
        with pytest.raises(ParseError, match=what):
            parse_name_addr('"Bob <sip:b@192.0.2.1>', what)
