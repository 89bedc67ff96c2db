"""How each simulated source reaches the proxy: the transport, and over TLS what its handshake says.

Most phones, PBXs and carriers send SIP over UDP. Some phones and PBX trunks use TLS and name the
server they dial (SNI, RFC 6066 §3); carriers on TLS present a client certificate (mutual TLS);
WebRTC softphones come over secure WebSockets (RFC 7118). Scanners and bots are almost all on UDP;
the few over TLS dial an IP address, so they send no SNI, and never have a client certificate.

A source keeps its link for the whole simulation: it is drawn once per (profile, address) from
its own RNG (:func:`link_for`), so adding links changed none of the profiles' other draws.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from ..proxy.effects import TlsFacts


@dataclass(frozen=True, slots=True)
class Link:
    """A source's transport (``udp``, ``tcp``, ``tls``, ``ws``, ``wss``) and TLS facts (None: not TLS)."""

    transport: str = "udp"
    tls: TlsFacts | None = None


UDP: Final = Link()
TCP: Final = Link("tcp")
_T13: Final = "TLS_AES_256_GCM_SHA384"
_T13B: Final = "TLS_AES_128_GCM_SHA256"
_T12: Final = "ECDHE-RSA-AES256-GCM-SHA384"
#: A phone or PBX dialling the provider by name (SNI), no certificate of its own.
PHONE_TLS: Final = Link("tls", TlsFacts("TLSv1.3", _T13, "sip.example.net", False))
PHONE_TLS12: Final = Link("tls", TlsFacts("TLSv1.2", _T12, "sip.example.net", False))
#: A WebRTC client in a browser (WSS, SNI from the page's URL).
WEBRTC: Final = Link("wss", TlsFacts("TLSv1.3", _T13B, "ws.example.net", False))
#: A carrier or hosted platform on mutual TLS.
CARRIER_TLS: Final = Link("tls", TlsFacts("TLSv1.2", _T12, "sbc.example.net", True))
CARRIER_TLS13: Final = Link("tls", TlsFacts("TLSv1.3", _T13, "sbc.example.net", True))
#: A tool dialling our IP address over TLS: no SNI, no certificate.
BARE_TLS: Final = Link("tls", TlsFacts("TLSv1.2", _T12, "", False))
BARE_TLS13: Final = Link("tls", TlsFacts("TLSv1.3", _T13B, "", False))

Mix = Sequence[tuple[Link, float]]

#: Each profile's mix of links (weights); a profile not listed is all UDP.
MIXES: Final[Mapping[str, Mix]] = MappingProxyType(
    {
        "office_pbx": ((UDP, 0.75), (TCP, 0.05), (PHONE_TLS, 0.15), (PHONE_TLS12, 0.05)),
        "call_centre": ((UDP, 0.7), (CARRIER_TLS, 0.3)),
        "mobile_softphone": ((UDP, 0.5), (PHONE_TLS, 0.3), (WEBRTC, 0.2)),
        "chatty_carrier": ((UDP, 0.6), (CARRIER_TLS, 0.4)),
        "smb_trunks": ((UDP, 0.75), (TCP, 0.1), (PHONE_TLS, 0.1), (PHONE_TLS12, 0.05)),
        "regional_carrier": ((UDP, 0.5), (CARRIER_TLS13, 0.5)),
        "collections_centre": ((UDP, 0.7), (CARRIER_TLS, 0.3)),
        "hospital_pbx": ((UDP, 0.8), (CARRIER_TLS13, 0.2)),
        "remote_workers": ((UDP, 0.6), (PHONE_TLS, 0.25), (WEBRTC, 0.15)),
        "scanner_sweep": ((UDP, 0.93), (TCP, 0.04), (BARE_TLS, 0.03)),
        "robodialer": ((UDP, 0.92), (TCP, 0.05), (BARE_TLS, 0.03)),
        # a botnet of hijacked PBXs: now and then one set up on TLS by its owner
        "low_and_slow": ((UDP, 0.9), (TCP, 0.04), (PHONE_TLS, 0.03), (BARE_TLS13, 0.03)),
        "wangiri": ((UDP, 0.95), (BARE_TLS, 0.05)),
        "toll_fraud": ((UDP, 0.9), (TCP, 0.05), (BARE_TLS, 0.05)),
    }
)


def link_for(seed: int, profile: str, src_ip: str) -> Link:
    """The link of ``src_ip`` in ``profile``: drawn from its own RNG, the same every time."""
    mix = MIXES.get(profile)
    if not mix:
        return UDP
    rng = random.Random(f"{seed}:{profile}:link:{src_ip}")
    return rng.choices([link for link, _ in mix], [w for _, w in mix])[0]
