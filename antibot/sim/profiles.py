"""The registry of simulated traffic profiles: what each one models, its label and family.

Each profile is a function ``run(ctx) -> Iterator[Emit]`` (time-ordered) whose docstring
documents the behaviour it models, why, and its parameters at ``scale=1``. Families group
profiles for per-class reporting: ``legitimate`` (label 0), and for bots (label 1)
``scanner``, ``robocall`` and ``fraud``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import MappingProxyType

from . import attacks, carriers, phones, trunks
from .base import Ctx, Emit

HUMAN = 0
BOT = 1


@dataclass(frozen=True)
class Profile:
    name: str
    label: int
    family: str
    summary: str  #: one line
    run: Callable[[Ctx], Iterator[Emit]]

    @property
    def doc(self) -> str:
        """The full documentation of the profile (its function's docstring)."""
        return inspect.getdoc(self.run) or ""


_ALL = (
    Profile(
        "office_pbx", HUMAN, "legitimate", "company desk phones behind office NAT, working hours", phones.office_pbx
    ),
    Profile(
        "call_centre", HUMAN, "legitimate", "outbound call centre: one trunk IP, agents pacing", trunks.call_centre
    ),
    Profile(
        "mobile_softphone",
        HUMAN,
        "legitimate",
        "softphones behind carrier-grade NAT, sporadic",
        phones.mobile_softphone,
    ),
    Profile(
        "chatty_carrier",
        HUMAN,
        "legitimate",
        "interconnect carrier: high inbound volume, 4 SBCs",
        carriers.chatty_carrier,
    ),
    Profile("smb_trunks", HUMAN, "legitimate", "30 small businesses' own PBXs trunking calls out", trunks.smb_trunks),
    Profile(
        "regional_carrier", HUMAN, "legitimate", "second interconnect: 5 SBCs, STIR/SHAKEN", carriers.regional_carrier
    ),
    Profile(
        "collections_centre",
        HUMAN,
        "legitimate",
        "progressive-dialler agency via a hosted platform's SBCs",
        trunks.collections_centre,
    ),
    Profile("hospital_pbx", HUMAN, "legitimate", "hospital PBX on a SIP trunk, 24/7", trunks.hospital_pbx),
    Profile("remote_workers", HUMAN, "legitimate", "home workers on their own broadband", phones.remote_workers),
    Profile(
        "scanner_sweep", BOT, "scanner", "OPTIONS/REGISTER/INVITE sweeps of extensions 100-999", attacks.scanner_sweep
    ),
    Profile("robodialer", BOT, "robocall", "campaigns dialling DIDs in order, rotating caller IDs", attacks.robodialer),
    Profile("low_and_slow", BOT, "robocall", "botnet: many IPs, few calls each, one fingerprint", attacks.low_and_slow),
    Profile("wangiri", BOT, "fraud", "one-ring calls from premium numbers, CANCEL after 1-3 s", attacks.wangiri),
    Profile("toll_fraud", BOT, "fraud", "IRSF bursts to high-risk destinations at night", attacks.toll_fraud),
)

#: Every profile by name, legitimate ones first.
PROFILES: MappingProxyType[str, Profile] = MappingProxyType({p.name: p for p in _ALL})
