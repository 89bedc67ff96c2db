"""Legitimate profiles (label 0) of the interconnect carriers delivering the site's inbound PSTN calls,
and :func:`carrier_invite`. Each function's docstring is the profile's documentation."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import accumulate

from . import plans
from .base import CallModel, Ctx, Emit, Shape, arrivals, call, pick, sequenced
from .messages import Spec, Style, build
from .servers import AUDIOCODES, FREESWITCH, METASWITCH, ORACLE_SBC, SIPPY, SONUS
from .variety import SBC_STRIPPED, installation

BUSINESS_INBOUND = Shape(
    (0.08, 0.06, 0.05, 0.05, 0.06, 0.1, 0.2, 0.45, 0.8, 1.0, 1.0, 1.0)
    + (0.9, 0.95, 1.0, 0.95, 0.85, 0.65, 0.45, 0.3, 0.22, 0.16, 0.12, 0.1),
    weekend=0.3,
)

CARRIER = CallModel(0.65, (120.0, 1.0, 2.0, 7200.0), ((487, 0.5), (486, 0.15), (480, 0.25), (603, 0.1)), ring=(3, 40))


#: The carrier's SBCs and the B2BUA software each one runs, with its share of the traffic.
_SBCS: tuple[tuple[str, Style, float], ...] = tuple(
    zip(plans.CARRIER_SBCS, (SIPPY, SIPPY, SONUS, SONUS), (3, 3, 2, 2), strict=True)
)


def carrier_invite(
    rng: random.Random,
    ts: float,
    caller: str,
    callee: str,
    *,
    anonymous: bool = False,
    display: str | None = None,
    sbcs: tuple[tuple[str, Style, float], ...] = _SBCS,
) -> tuple[str, bytes]:
    """An INVITE as the interconnect carrier delivers it (E.164, PAI, one of its SBCs)."""
    ip, st, _ = rng.choices(sbcs, [w for _, _, w in sbcs])[0]
    extra: tuple[tuple[str, str], ...] = (("P-Asserted-Identity", f"<sip:+{caller}@{ip};user=phone>"),)
    if anonymous:
        extra += (("Privacy", "id"),)
    elif rng.random() < 0.03:
        extra += (("Diversion", f"<sip:+{plans.nanp(rng)}@{ip}>;reason=unconditional;counter=1"),)
    spec = Spec(
        "INVITE",
        "+" + callee,
        plans.SITE_HOST,
        "+" + caller,
        ip,
        ip,
        5060,
        ts,
        display,
        anonymous=anonymous,
        max_forwards=rng.randint(66, 69),
        extra=extra,
    )
    return ip, build(st, spec, rng)


def chatty_carrier(ctx: Ctx) -> Iterator[Emit]:
    """The interconnect carrier delivering the site's inbound PSTN calls: a lot, from 4 SBCs.

    Two Sippy softswitches and two Sonus/Ribbon SBCs (no User-Agent at all), port 5060, E.164
    numbers, P-Asserted-Identity, Max-Forwards already decremented (66-69); each SBC's codec
    offer is as the carrier configured it this run. About 1500 calls
    per peak hour following business hours, with occasional bursts (a TV spot, an outage
    elsewhere: ~1 per 4 h, 5-20 min at 2-4x). Callers are diverse (mostly national, 8 %
    international, 4 % anonymous, 10 % frequent callers), callees are the site's DIDs with a
    quarter going to the main numbers and the rest skewed towards popular DIDs. This is the
    hard negative for volume-based rules: per source IP it is the busiest thing on the wire,
    yet every call is a different person. Outcome: ~65 % answered, median talk 2 min.
    """
    rng = ctx.rng
    bursts = [
        (t, t + rng.uniform(300.0, 1200.0), rng.uniform(2.0, 4.0))
        for t in arrivals(rng, ctx.start - 1200, ctx.end, 0.25)
    ]

    def weight(t: float) -> float:
        mult = max((m for a, b, m in bursts if a <= t < b), default=1.0)
        return BUSINESS_INBOUND(t) * mult / 4.0

    frequent = [plans.nanp(rng) for _ in range(200)]
    dids = [d for d in plans.all_dids() if plans.assigned(d)]
    popularity = list(accumulate(rng.lognormvariate(0.0, 1.2) for _ in dids))
    mains = plans.main_numbers()
    sbcs = tuple((ip, installation(st, rng, trim=0.0, codecs=0.5).style, w) for ip, st, w in _SBCS)

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 1500.0 * 4.0 * ctx.scale, weight):
            callee = rng.choice(mains) if rng.random() < 0.25 else rng.choices(dids, cum_weights=popularity)[0]
            kind = pick(rng, (("new", 0.78), ("frequent", 0.1), ("intl", 0.08), ("anon", 0.04)))
            caller = {"frequent": rng.choice(frequent), "intl": plans.international(rng)}.get(kind) or plans.nanp(rng)
            shown = pick(rng, (("none", 0.4), ("number", 0.4), ("cnam", 0.2)))
            display = {"number": "+" + caller, "cnam": plans.person(rng).upper()}.get(shown)
            ip, invite = carrier_invite(rng, ts, caller, callee, anonymous=kind == "anon", display=display, sbcs=sbcs)
            yield call(ts, ip, 5060, invite, CARRIER.draw(rng))

    return sequenced(calls())


def _shaken(rng: random.Random, attest: str) -> str:
    """A STIR/SHAKEN ``Identity`` header value (RFC 8224/8588): a signed PASSporT by reference."""
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    part = "".join(rng.choices(b64, k=180))
    sig = "".join(rng.choices(b64, k=86))
    return (
        f"eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0In0.{part}.{sig};"
        f"info=<https://cr.sti-{attest.lower()}.example.net/cert.pem>;alg=ES256;ppt=shaken"
    )


def regional_carrier(ctx: Ctx) -> Iterator[Emit]:
    """A second interconnect: a regional carrier delivering another share of the inbound calls.

    Its five SBCs (fixed addresses) run, as picked per run, Metaswitch Perimeta or Oracle
    (Acme Packet) SBCs (no User-Agent), AudioCodes Mediant SBCs, or a Kamailio edge proxy in
    front of FreeSWITCH, each with its own codec offer and optional headers; Max-Forwards is
    60-69 (the calls crossed 1-10 hops). It signs calls with STIR/SHAKEN (an ``Identity``
    header, 70 %) and asserts the caller in P-Asserted-Identity (80 %); numbers come as
    ``+E.164`` or bare E.164 per SBC. About 800 calls per peak hour following business hours
    (weekends 0.3x) to the site's DIDs (a quarter to the main numbers, the rest skewed to
    popular DIDs), callers diverse (10 % frequent, 6 % international, 5 % anonymous). Like the
    chatty carrier, it is the busiest kind of source yet every call is a different person.
    Outcome: ~62 % answered, median talk 2 min.
    """
    rng = ctx.rng
    products = ((METASWITCH, None), (ORACLE_SBC, None), (AUDIOCODES, None), (FREESWITCH, ""))
    sbcs = []
    for ip in plans.REGIONAL_SBCS:
        st, ua = rng.choice(products)
        inst = installation(st, rng, trim=0.3, optional=SBC_STRIPPED)
        plus = rng.random() < 0.6
        sbcs.append((ip, inst, ua, plus, rng.randint(60, 69)))
    frequent = [plans.nanp(rng) for _ in range(150)]
    dids = [d for d in plans.all_dids() if plans.assigned(d)]
    popularity = list(accumulate(rng.lognormvariate(0.0, 1.2) for _ in dids))
    mains = plans.main_numbers()
    model = CallModel(0.62, (120.0, 1.0, 2.0, 7200.0), ((487, 0.5), (486, 0.15), (480, 0.25), (603, 0.1)), (3, 40))

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 800.0 * ctx.scale, BUSINESS_INBOUND):
            ip, inst, ua, plus, mf = rng.choice(sbcs)
            callee = rng.choice(mains) if rng.random() < 0.25 else rng.choices(dids, cum_weights=popularity)[0]
            kind = pick(rng, (("new", 0.79), ("frequent", 0.1), ("intl", 0.06), ("anon", 0.05)))
            caller = {"frequent": rng.choice(frequent), "intl": plans.international(rng)}.get(kind) or plans.nanp(rng)
            p = "+" if plus else ""
            extra: tuple[tuple[str, str], ...] = ()
            if rng.random() < 0.8:
                extra += (("P-Asserted-Identity", f"<sip:{p}{caller}@{ip};user=phone>"),)
            if kind != "intl" and rng.random() < 0.7:
                extra += (("Identity", _shaken(rng, pick(rng, (("A", 0.7), ("B", 0.2), ("C", 0.1))))),)
            if kind == "anon":
                extra += (("Privacy", "id"),)
            display = plans.person(rng).upper() if rng.random() < 0.25 else None
            spec = Spec(
                "INVITE",
                p + callee,
                plans.SITE_HOST,
                p + caller,
                ip,
                ip,
                5060,
                ts,
                display,
                anonymous=kind == "anon",
                ua=ua if ua is not None else inst.ua,
                max_forwards=mf,
                extra=extra,
            )
            yield call(ts, ip, 5060, build(inst.style, spec, rng), model.draw(rng))

    return sequenced(calls())


__all__ = ["carrier_invite", "chatty_carrier", "regional_carrier"]
