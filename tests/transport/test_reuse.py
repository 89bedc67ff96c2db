"""RFC 5923 connection reuse, the pure parts: which certificates authenticate a sent-by host
(RFC 5922 §7.1 identities), and the alias table's one-alias-per-connection bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest

from antibot.transport.reuse import Aliases, authenticates

PHONE: dict[str, Any] = {
    "subject": ((("commonName", "ignored.example.net"),),),
    "subjectAltName": (("DNS", "Phone.Example.net"), ("IP Address", "192.0.2.9"), ("URI", "sip:trunk.example.org")),
}


@pytest.mark.parametrize(
    ("cert", "host", "ok"),
    [
        (PHONE, "phone.example.net", True),
        (PHONE, "phone.example.net.", True),
        (PHONE, "192.0.2.9", True),
        (PHONE, "trunk.example.org", True),  # a SIP URI identity
        (PHONE, "ignored.example.net", False),  # the CN counts only without subjectAltName
        (PHONE, "pbx.example.net", False),
        (PHONE, "192.0.2.10", False),
        ({"subjectAltName": (("IP Address", "2001:DB8:0:0:0:0:0:9\n"),)}, "2001:db8::9", True),
        ({"subject": ((("commonName", "pbx.example.net"),),)}, "pbx.example.net", True),
        ({"subjectAltName": (("DNS", "*.example.net"),)}, "pbx.example.net", False),  # no wildcards
        ({"subjectAltName": (("DNS", "*.example.net"),)}, "*.example.net", False),
        ({}, "pbx.example.net", False),  # no certificate asked for: getpeercert() is empty
        (None, "pbx.example.net", False),  # none sent (require_client_cert = false)
        (PHONE, "", False),
        ({"subjectAltName": (("URI", "sips:pbx.example.net:5061;transport=tls"),)}, "pbx.example.net", True),
        ({"subjectAltName": (("URI", "sip:[2001:db8::5]:5061"),)}, "2001:db8::5", True),
        ({"subjectAltName": (("URI", "https://pbx.example.net/"),)}, "pbx.example.net", False),
    ],
)
def test_a_certificate_authenticates_only_the_hosts_it_names(cert: dict[str, Any] | None, host: str, ok: bool) -> None:
    assert authenticates(cert, host) is ok


A = ("tls", "phone.example.net", 5061)
B = ("tls", "pbx.example.net", 5061)


def test_one_alias_per_connection_and_forgotten_with_it() -> None:
    table: Aliases[str] = Aliases()
    table.record("c1", A)
    assert table.get(A) == "c1" and table.key_of("c1") == A
    table.record("c1", B)  # a later sent-by moves the alias: the old address is no longer reused
    assert table.get(A) is None and table.get(B) == "c1" and len(table) == 1
    table.forget("c1")
    assert table.get(B) is None and len(table) == 0 and table.key_of("c1") is None


def test_a_newer_connection_takes_an_alias_over_and_the_old_one_closing_does_not_drop_it() -> None:
    table: Aliases[str] = Aliases()
    table.record("old", A)
    table.record("new", A)
    assert table.get(A) == "new" and table.key_of("old") is None
    table.forget("old")
    assert table.get(A) == "new" and len(table) == 1
