"""Legitimate profiles (label 0) of PBXs and diallers trunking outbound calls through the proxy: call
centres, small businesses, a hospital. Each function's docstring is the profile's documentation."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import accumulate

from . import plans
from .base import (
    CallModel,
    Ctx,
    Emit,
    Outcome,
    Shape,
    arrivals,
    call,
    host_in,
    hosts,
    local_hour,
    merge,
    nat_port,
    pick,
    sequenced,
    weekday,
    window,
)
from .messages import Spec, Style, build
from .outside_calls import EXTERNAL_FAILS, OFFICE_EXTERNAL, OFFICE_HOURS, external_number
from .servers import ASTERISK_CHANSIP, ASTERISK_PJSIP, AUDIOCODES, AVAYA_SM, CISCO_CUBE, FREESWITCH, ORACLE_SBC, THREECX
from .variety import SBC_STRIPPED, Installation, identity_headers, installation

CENTRE = CallModel(0.4, (170.0, 0.7, 20.0, 3600.0), ((487, 0.5), (486, 0.15), (480, 0.2), (404, 0.05), (603, 0.1)))


def _on_shift(ts: float) -> bool:
    day, hour = weekday(ts), local_hour(ts)
    return (day < 5 and 8.0 <= hour < 20.0) or (day == 5 and 9.0 <= hour < 17.0)


def _busy(rng: random.Random, out: Outcome) -> float:
    """How long a call keeps an agent: talk + wrap-up, the ringing, or a quick failure."""
    if out.duration is not None:
        return rng.uniform(2.0, 8.0) + out.duration + rng.uniform(20.0, 90.0)
    if out.status == 487:
        return out.ring
    return rng.uniform(20.0, 30.0) if out.status == 480 else rng.uniform(0.5, 4.0)


def call_centre(ctx: Ctx) -> Iterator[Emit]:
    """An outbound call centre: 30 agents behind one dialler trunk (one public IP, port 5060).

    The dialler is Asterisk (PJSIP or chan_sip), FreeSWITCH or 3CX, picked per run with its own
    codec list and optional headers, sometimes behind an edge proxy (Max-Forwards 69,
    Record-Route), presenting a handful of the company's own caller IDs with a display name and
    P-Asserted-Identity, Remote-Party-ID or no identity header. Agents work shifts
    (08-20 weekdays, 09-17 Saturday) and pace themselves: dial, let it ring up to 18-30 s, talk
    (log-normal, median ~3 min, few calls under 20 s), wrap up 20-90 s, dial again, with an
    occasional break. That gives a high (~900/h) but steady rate to varied, non-sequential
    customer numbers all over the country, ~40 % answered. This is the hard negative for
    robodialer detection: one IP, many distinct destinations, high volume, yet human pacing,
    stable caller IDs and real conversations.
    """
    rng = ctx.rng
    ip = host_in(rng, plans.POOLS["call_centre"][0])
    st = rng.choice((ASTERISK_PJSIP, FREESWITCH, ASTERISK_CHANSIP, THREECX))
    inst = installation(st, rng, hops=(0, 1), identity=(("pai", 0.6), ("rpid", 0.3), ("", 0.1)))
    clis = [plans.nanp(rng, 312) for _ in range(4)]
    agents = [_agent(ctx, ctx.child(), ip, inst, clis) for _ in range(ctx.count(30))]
    return window(merge(agents), ctx)


def _agent(ctx: Ctx, rng: random.Random, ip: str, inst: Installation, clis: list[str]) -> Iterator[Emit]:
    t = ctx.start - rng.uniform(0.0, 900.0)
    while t < ctx.end:
        if not _on_shift(t):
            t = (t // 3600.0 + 1.0) * 3600.0 + (rng.uniform(0.0, 900.0) if _on_shift(t + 3600.0) else 0.0)
            continue
        cli = rng.choice(clis)
        callee = plans.local_number(rng) if rng.random() < 0.1 else plans.nanp(rng)
        extra = identity_headers(inst, "+" + cli, ip, "Acme Support")
        spec = Spec(
            "INVITE",
            "+" + callee,
            plans.SITE_HOST,
            "+" + cli,
            ip,
            ip,
            5060,
            t,
            "Acme Support",
            ua=inst.ua,
            max_forwards=inst.max_forwards,
            extra=extra,
        )
        out = CENTRE.draw(rng)
        if out.duration is not None and rng.random() < 0.06:
            out = Outcome(200, round(rng.uniform(4.0, 20.0), 1))  # answering machines, wrong person
        yield from call(t, ip, 5060, build(inst.style, spec, rng), out)
        t += _busy(rng, out) + rng.uniform(4.0, 20.0)
        if rng.random() < 0.015:
            t += rng.uniform(300.0, 900.0)


def _trunk_spec(
    inst: Installation,
    ts: float,
    dial: str,
    caller: str,
    ip: str,
    port: int,
    display: str | None,
    *,
    target: str = plans.SITE_HOST,
    from_host: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
    anonymous: bool = False,
) -> Spec:
    """An INVITE a PBX or SBC installation sends from ``ip``: its UA, hops and identity header."""
    return Spec(
        "INVITE",
        dial,
        target,
        caller,
        from_host or ip,
        ip,
        port,
        ts,
        display,
        anonymous=anonymous,
        ua=inst.ua,
        max_forwards=inst.max_forwards,
        extra=identity_headers(inst, caller, from_host or ip, display) + extra,
    )


def _as_sent(rng: random.Random, number: str, habit: str) -> str:
    """A NANP/international number the way a trunk habitually sends it: ``+E.164``, bare E.164
    or as the user dialled (10 digits when local, ``011`` abroad)."""
    if number.startswith("011"):
        return {"plus": "+" + number[3:], "e164": number[3:]}.get(habit, number)
    if habit == "plus":
        return "+" + number
    if habit == "e164":
        return number
    return number[1:] if int(number[1:4]) in plans.LOCAL_AREAS else number


#: Small-business PBX products and the release strings they report (None: the style's own).
_SMB_PBXS: tuple[tuple[Style, tuple[str, ...], float], ...] = (
    (ASTERISK_PJSIP, ("Asterisk PBX 18.20.0", "FPBX-16.0.40(18.20.0)", "Asterisk PBX 20.5.2", "Yeastar P560"), 0.35),
    (ASTERISK_CHANSIP, ("Asterisk PBX 13.38.3", "FPBX-14.0.13.23(13.29.2)", "Issabel PBX 4.0"), 0.15),
    (FREESWITCH, ("FreeSWITCH-mod_sofia/1.10.9-release~64bit", "FusionPBX 5.1 (FreeSWITCH 1.10.10)"), 0.2),
    (THREECX, ("3CXPhoneSystem 18.0.9.20 (20)", "3CXPhoneSystem 20.0.1.406 (403)"), 0.2),
    (CISCO_CUBE, ("Cisco-SIPGateway/IOS-16.12.4", "Cisco-SIPGateway/IOS-17.6.5"), 0.1),
)


def smb_trunks(ctx: Ctx) -> Iterator[Emit]:
    """Small businesses' own PBXs using the platform as their SIP trunk: one address each.

    30 companies, each with one PBX on its own business-broadband address (port 5060 or a
    NAT port; the first company's is :data:`.plans.SHARED_SMB`, which a robodialer also uses),
    send their users' outside calls through the proxy. Every PBX is its own
    installation (:mod:`.variety`): Asterisk/FreePBX/Yeastar (PJSIP), an older chan_sip
    Asterisk or Issabel, FreeSWITCH/FusionPBX, 3CX or a Cisco CUBE, with its own release,
    codec list and optional headers, 0-2 proxies on the way (Max-Forwards 68-70, sometimes a
    Record-Route) and its own identity header (P-Asserted-Identity, Remote-Party-ID,
    P-Preferred-Identity or none). Companies have 4-80 users (log-normal), ~1.2 calls per user
    per peak hour in office hours (weekends 8 %). A company shows its main number for everyone
    (40 %) or each user's DID, and sends numbers ``+E.164``, bare E.164 or as dialled (10/11
    digits, ``011`` abroad). The biggest, a sales floor behind one PBX, looks like a small call
    centre. Destinations are local, national, toll-free and 5 % international, 40 % to the
    company's regular contacts. Outcome: ~65 % answered, median talk 2.5 min.
    """
    rng = ctx.rng
    companies = []
    for n in range(ctx.count(30)):
        st, releases, _ = rng.choices(_SMB_PBXS, [w for _, _, w in _SMB_PBXS])[0]
        inst = installation(
            st,
            rng,
            uas=releases,
            hops=(0, 2),
            identity=(("pai", 0.4), ("rpid", 0.15), ("ppi", 0.1), ("", 0.35)),
            trim=0.3,
        )
        ip = host_in(rng, rng.choice(plans.POOLS["smb"]))
        if n == 0:
            ip = plans.SHARED_SMB  # a dialler behind this company's NAT too: attacks.robodialer
        port = 5060 if rng.random() < 0.7 else nat_port(rng)
        users = max(4, min(80, round(rng.lognormvariate(2.6, 0.8))))
        main = plans.nanp(rng, rng.choice(plans.AREA_CODES + plans.LOCAL_AREAS))
        dids = [main[:-4] + f"{rng.randrange(10000):04d}" for _ in range(users)]
        shared = rng.random() < 0.4
        habit = pick(rng, (("plus", 0.4), ("e164", 0.35), ("dialled", 0.25)))
        contacts = tuple(external_number(rng) for _ in range(rng.randint(20, 80)))
        name = f"{rng.choice(plans.LAST_NAMES)} {rng.choice(('LLC', 'Inc', '& Co', 'Dental', 'Realty', 'Legal'))}"
        companies.append((inst, ip, port, users, main, dids, shared, habit, contacts, name))
    weights = list(accumulate(c[3] * rng.lognormvariate(0.0, 0.5) for c in companies))
    total = sum(c[3] for c in companies)

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 1.2 * total, OFFICE_HOURS):
            inst, ip, port, _, main, dids, shared, habit, contacts, name = rng.choices(companies, cum_weights=weights)[
                0
            ]
            number = rng.choice(contacts) if rng.random() < 0.4 else external_number(rng)
            cli = main if shared else rng.choice(dids)
            caller = "+" + cli if habit == "plus" else cli
            display = name if shared or rng.random() < 0.5 else plans.person(rng)
            spec = _trunk_spec(inst, ts, _as_sent(rng, number, habit), caller, ip, port, display)
            yield call(ts, ip, port, build(inst.style, spec, rng), OFFICE_EXTERNAL.draw(rng))

    return sequenced(calls())


COLLECTIONS = CallModel(
    0.32,
    (240.0, 0.8, 15.0, 3600.0),
    ((487, 0.45), (480, 0.3), (486, 0.15), (404, 0.04), (603, 0.06)),
    ring=(20.0, 30.0),
)


def collections_centre(ctx: Ctx) -> Iterator[Emit]:
    """An outbound collections / appointment-setting agency on a hosted contact-centre platform.

    The platform reaches us through two SBC addresses (AudioCodes, Oracle or a FreeSWITCH
    media gateway, picked per run, with their codec and header settings) and runs a
    progressive dialler for 25-45 agents: a call is placed as soon as an agent is free, rings up
    to 20-30 s, and answering-machine detection hangs up on machines after 3-8 s (~12 % of
    calls). Caller IDs are "local presence": one of the agency's numbers in the callee's area
    code (a pool per area code, so the same few numbers recur), asserted in
    P-Asserted-Identity. Lead lists are the agency's customers, random numbers all over the
    country (never the site's DIDs), 15 % redials of earlier unanswered leads. Shifts 08-20 on
    weekdays and 09-17 on Saturdays; ~32 % answered by a person (median talk 4 min), wrap-up
    20-90 s. Like the call centre: one busy source, many destinations, human pacing.
    """
    rng = ctx.rng
    ips = hosts(rng, plans.POOLS["contact_platform"], 2)
    st = rng.choice((AUDIOCODES, ORACLE_SBC, FREESWITCH))
    inst = installation(st, rng, hops=(0, 1), identity=(("pai", 1.0),), trim=0.3, optional=SBC_STRIPPED)
    areas = plans.AREA_CODES + plans.LOCAL_AREAS
    presence = {a: [plans.nanp(rng, a) for _ in range(rng.randint(1, 3))] for a in areas}
    leads_owed: list[str] = []
    plus = rng.random() < 0.5
    agents = [
        _collector(ctx, ctx.child(), rng.choice(ips), inst, presence, leads_owed, plus)
        for _ in range(ctx.count(rng.randint(25, 45)))
    ]
    return window(merge(agents), ctx)


def _collector(
    ctx: Ctx,
    rng: random.Random,
    ip: str,
    inst: Installation,
    presence: dict[int, list[str]],
    owed: list[str],
    plus: bool,
) -> Iterator[Emit]:
    p = "+" if plus else ""
    t = ctx.start - rng.uniform(0.0, 900.0)
    while t < ctx.end:
        if not _on_shift(t):
            t = (t // 3600.0 + 1.0) * 3600.0 + (rng.uniform(0.0, 900.0) if _on_shift(t + 3600.0) else 0.0)
            continue
        if owed and rng.random() < 0.15:
            callee = owed.pop(rng.randrange(len(owed)))
        else:
            callee = plans.nanp(rng, rng.choice(plans.AREA_CODES + plans.LOCAL_AREAS))
        cli = rng.choice(presence[int(callee[1:4])])
        spec = _trunk_spec(inst, t, p + callee, p + cli, ip, 5060, None)
        out = COLLECTIONS.draw(rng)
        if out.duration is None and rng.random() < 0.2:
            owed.append(callee)
            del owed[:-500]
        elif out.duration is not None and rng.random() < 0.27:
            out = Outcome(200, round(rng.uniform(3.0, 8.0), 1))  # answering machine detected, hung up
        yield from call(t, ip, 5060, build(inst.style, spec, rng), out)
        t += _busy(rng, out) + rng.uniform(2.0, 10.0)
        if rng.random() < 0.015:
            t += rng.uniform(300.0, 900.0)


#: Hospitals are busy around the clock, with a daytime peak.
HOSPITAL_HOURS = Shape(
    (0.18, 0.14, 0.12, 0.12, 0.14, 0.2, 0.35, 0.6, 0.85, 1.0, 1.0, 1.0)
    + (0.9, 0.95, 0.95, 0.9, 0.8, 0.6, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2),
    weekend=0.55,
)
HOSPITAL = CallModel(0.68, (100.0, 1.0, 3.0, 3600.0), EXTERNAL_FAILS)


def hospital_pbx(ctx: Ctx) -> Iterator[Emit]:
    """A hospital's PBX on a SIP trunk: hundreds of people behind one or two addresses, 24/7.

    An Avaya Session Manager, a Cisco CUBE or a 3CX (picked per run, as the installation
    configured it: Max-Forwards 69-70, P-Asserted-Identity, Remote-Party-ID or none) sends the
    outside calls of 800 staff phones and patients' bedside phones from one or two addresses.
    Caller ID is the hospital's main number (60 %) or the department's DID. Traffic runs
    around the clock with a daytime peak (~350 calls/h at 10-12, ~50/h at night, weekends
    0.55x): local numbers mostly, national, toll-free (insurers, pharmacies), 3 %
    international; a third of the calls go to a shared list of labs, suppliers and other
    hospitals, so destinations repeat. Outcome: ~68 % answered, median talk 100 s.
    """
    rng = ctx.rng
    st = rng.choice((AVAYA_SM, CISCO_CUBE, THREECX))
    inst = installation(st, rng, hops=(0, 1), identity=(("pai", 0.5), ("rpid", 0.3), ("", 0.2)), trim=0.25)
    ips = hosts(rng, plans.POOLS["hospital"], rng.randint(1, 2))
    main = plans.local_number(rng)
    departments = [main[:-4] + f"{rng.randrange(10000):04d}" for _ in range(40)]
    shared = [external_number(rng) for _ in range(150)]
    habit = pick(rng, (("plus", 0.4), ("e164", 0.3), ("dialled", 0.3)))

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 350.0 * ctx.scale, HOSPITAL_HOURS):
            ip = rng.choice(ips)
            number = rng.choice(shared) if rng.random() < 0.33 else external_number(rng)
            cli = main if rng.random() < 0.6 else rng.choice(departments)
            caller = "+" + cli if habit == "plus" else cli
            spec = _trunk_spec(inst, ts, _as_sent(rng, number, habit), caller, ip, 5060, "St Mary Hospital")
            yield call(ts, ip, 5060, build(inst.style, spec, rng), HOSPITAL.draw(rng))

    return sequenced(calls())


__all__ = ["call_centre", "collections_centre", "hospital_pbx", "smb_trunks"]
