"""Reference data for detection: scanner/dialer User-Agents and default number lists.

Everything here is data, not policy: the defaults are *examples* for the operator to tune
(``NumberLists`` is meant to be built from the config file). Matching is done in
:mod:`antibot.detect.fingerprint` and :mod:`antibot.detect.numbers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: User-Agent substrings (case-insensitive) of SIP scanning / cracking / war-dialling tools.
#: A person's phone never sends these. Where each one is commonly listed:
#:
#: * ``friendly-scanner`` - SIPVicious' default ``useragent`` (``svhelper.makeRequest``); the
#:   Kamailio KEMI example scripts (``misc/examples/kemi``) drop it in ``reqinit``.
#: * ``sipvicious`` - the same tool under its own name; in the ``$ua =~`` REQINIT regexes
#:   widely copied into Kamailio configs, and in this project's ``deny_user_agents`` example.
#: * ``sipcli`` - a SIP brute-forcing CLI; dropped by the Kamailio KEMI example scripts.
#: * ``pplsip`` - the default ``user_agent`` of Pepelux's SIPPTS suite (sipscan, sipexten...).
#: * ``vaxsipuseragent`` - VaxVoIP SDK default, used by many brute-force tools; Kamailio
#:   community REQINIT lists and this project's deny list.
#: * ``sipsak`` - the "SIP swiss army knife" test tool (UA ``sipsak <version>``).
#: * ``iwar`` - the iWar war dialer; iptables string-match blocklists for port 5060.
#: * ``sip-scan`` - generic scanner UA in the same iptables blocklists.
#: * ``sundayddr`` - scanner UA in Kamailio community REQINIT regexes.
#: * ``nmap nse`` - the ``ua`` of Nmap's ``nselib/sip.lua`` (sip-enum-users, sip-brute).
#:
#: Deliberately *not* listed: ``Cisco-SIPGateway/IOS-*`` (spoofed by fraud tools, but real
#: gateways send it too: its header-order fingerprint separates the two better than the
#: text) and ``Z 3.15`` (Zoiper 3.15, a real softphone).
SCANNER_UAS: Final[tuple[str, ...]] = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "pplsip",
    "vaxsipuseragent",
    "sipsak",
    "iwar",
    "sip-scan",
    "sundayddr",
    "nmap nse",
)

#: Default UAs of call-automation SDKs and tools. Legitimate products built on them set
#: their own UA, so the *default* string points at a script or mass dialer; weaker than
#: :data:`SCANNER_UAS` (a feature, never a rule by itself).
#:
#: * ``portsip voip sdk`` - the agent string in PortSIP SDK samples; on community suspect-UA
#:   lists (e.g. Pexip external policy examples) beside sipvicious and friends.
#: * ``pjsua`` - pjsip's scriptable command-line UA (``PJSUA v2.x <os>``).
DIALER_UAS: Final[tuple[str, ...]] = (
    "portsip voip sdk",
    "portsip sdk",
    "pjsua",
)

#: SDP ``o=`` usernames / ``s=`` names written by tools: pplsip (SIPPTS) puts its name in
#: ``s=``; SIPp's stock scenarios use ``o=user1``; sipvicious and sipcli names for symmetry.
SDP_TOOL_NAMES: Final[frozenset[str]] = frozenset({"pplsip", "sipvicious", "sipcli", "sipp", "user1", "portsip"})

#: SDP session names that carry no product information (RFC 4566 suggests ``s=-`` or
#: ``s= `` when there is none). Common in both populations, so only a weak feature.
SDP_GENERIC_SESSION_NAMES: Final[frozenset[str]] = frozenset({"", "-", "session", "sip call", "call", "no name"})

#: SDP ``o=`` usernames of scripts run by hand (the system login or a placeholder). Not
#: ``-``: RFC 4566 §5.2 prescribes it when there is no user id, and most phones send it.
SDP_ODD_ORIGIN_USERS: Final[frozenset[str]] = frozenset({"root", "user", "username", "test", "admin"})

#: RFC 3261 §20 headers' usual spelling, to tell odd-case names (``Call-Id``, ``CSEQ``) apart.
CANONICAL_NAMES: Final[dict[str, str]] = {
    name.lower(): name
    for name in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Max-Forwards",
        "User-Agent",
        "Content-Type",
        "Content-Length",
        "Allow",
        "Supported",
        "Accept",
        "Expires",
        "Route",
        "Record-Route",
        "Authorization",
        "Proxy-Authorization",
        "Allow-Events",
        "Session-Expires",
        "Min-SE",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Remote-Party-ID",
        "Privacy",
        "Require",
        "Date",
        "Subject",
        "Organization",
        "Content-Disposition",
        "Diversion",
    )
}

#: Display names that mean "caller withheld" (case-insensitive, quotes removed).
ANONYMOUS_DISPLAY: Final[frozenset[str]] = frozenset(
    {"anonymous", "restricted", "unknown", "private", "unavailable", "withheld", "anonymous caller"}
)


@dataclass(frozen=True, slots=True)
class NumberLists:
    """Number prefixes the operator cares about (all examples; tune per deployment).

    A prefix written with ``+`` (``"+882"``) matches numbers dialled in international form
    (``+882...``, ``00882...``, ``tel:+882...``); a prefix without it (``"09"``) matches the
    digits as dialled in national/local form. Write both when a trunk sends both.
    """

    #: Premium-rate / revenue-share ranges. International forms are safe anywhere: UK 09 and
    #: 0871-0873 (``+449``, ``+4487x``), German 0900, French 089, NANP 900, and the +882/+883
    #: international networks whose ranges are resold for revenue share. The national forms
    #: (``09``, ``087x``) are the UK's: replace them with your own country's (in Germany
    #: ``09xx`` are ordinary Bavarian area codes).
    premium_prefixes: tuple[str, ...] = (
        "09",
        "0871",
        "0872",
        "0873",
        "+449",
        "+44871",
        "+44872",
        "+44873",
        "+49900",
        "+3389",
        "+1900",
        "+882",
        "+883",
    )
    #: A sample of country codes frequent in International Revenue Share Fraud (IRSF) lists:
    #: Cuba, Somalia, GMSS satellite, Maldives, Papua New Guinea, Solomon Is., Vanuatu,
    #: Cook Is., Kiribati, Tuvalu, Tokelau. Matched in international form only.
    high_risk_prefixes: tuple[str, ...] = (
        "+53",
        "+252",
        "+881",
        "+960",
        "+675",
        "+677",
        "+678",
        "+682",
        "+686",
        "+688",
        "+690",
    )
    #: Numbers that no person should ever call (published nowhere, or trap numbers): any
    #: call to one is a bot working through a list. Normalised digits (``"442079460000"``).
    honeypot_numbers: frozenset[str] = field(default_factory=frozenset)
