"""Legitimate traffic profiles (label 0). Each function's docstring is the profile's documentation."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
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
from .servers import (
    ASTERISK_CHANSIP,
    ASTERISK_PJSIP,
    AUDIOCODES,
    AVAYA_SM,
    CISCO_CUBE,
    FREESWITCH,
    METASWITCH,
    ORACLE_SBC,
    SIPPY,
    SONUS,
    THREECX,
)
from .tools import MICROSIP
from .uas import DESK_PHONES, SOFTPHONES
from .variety import SBC_STRIPPED, Installation, identity_headers, installation

OFFICE_HOURS = Shape(
    (0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.08, 0.25, 0.65, 1.0, 1.0, 0.95)
    + (0.6, 0.9, 1.0, 0.95, 0.8, 0.45, 0.2, 0.1, 0.06, 0.04, 0.03, 0.02),
    weekend=0.08,
)
MOBILE_HOURS = Shape(
    (0.05, 0.03, 0.02, 0.02, 0.02, 0.04, 0.12, 0.35, 0.55, 0.7, 0.75, 0.8)
    + (0.85, 0.8, 0.75, 0.75, 0.8, 0.9, 1.0, 1.0, 0.9, 0.7, 0.4, 0.15),
    weekend=0.9,
)
BUSINESS_INBOUND = Shape(
    (0.08, 0.06, 0.05, 0.05, 0.06, 0.1, 0.2, 0.45, 0.8, 1.0, 1.0, 1.0)
    + (0.9, 0.95, 1.0, 0.95, 0.85, 0.65, 0.45, 0.3, 0.22, 0.16, 0.12, 0.1),
    weekend=0.3,
)

_FAILS = ((487, 0.4), (486, 0.2), (480, 0.25), (404, 0.05), (603, 0.1))
OFFICE_EXTERNAL = CallModel(0.67, (150.0, 1.0, 5.0, 7200.0), _FAILS)
OFFICE_INTERNAL = CallModel(0.82, (75.0, 0.9, 3.0, 3600.0), ((487, 0.5), (486, 0.3), (480, 0.2)), ring=(8.0, 25.0))
CENTRE = CallModel(0.4, (170.0, 0.7, 20.0, 3600.0), ((487, 0.5), (486, 0.15), (480, 0.2), (404, 0.05), (603, 0.1)))
MOBILE = CallModel(0.6, (90.0, 1.1, 2.0, 5400.0), ((487, 0.45), (486, 0.15), (480, 0.3), (404, 0.05), (603, 0.05)))
CARRIER = CallModel(0.65, (120.0, 1.0, 2.0, 7200.0), ((487, 0.5), (486, 0.15), (480, 0.25), (603, 0.1)), ring=(3, 40))


@dataclass(frozen=True, slots=True)
class _Phone:
    user: str
    name: str
    style: Style
    ua: str
    lan_ip: str
    lan_port: int
    public_ip: str
    public_port: int
    contacts: tuple[str, ...]
    outside: str  #: the site's outside-line prefix ("9" or "")


def _dial_nanp(number: str, outside: str, rng: random.Random) -> str:
    """How a desk phone user dials a NANP number: 10 digits when local, else 1+10; ``9`` first
    where the site needs an outside line."""
    if outside:
        return outside + number
    return number[1:] if int(number[1:4]) in plans.LOCAL_AREAS and rng.random() < 0.8 else number


def _external(rng: random.Random) -> str:
    """A number a person dials: mostly local, then national, toll-free, international."""
    kind = pick(rng, (("local", 0.5), ("national", 0.38), ("tollfree", 0.07), ("intl", 0.05)))
    if kind == "local":
        return plans.local_number(rng)
    if kind == "tollfree":
        return plans.nanp(rng, rng.choice(plans.TOLL_FREE))
    if kind == "intl":
        return "011" + plans.international(rng)
    return plans.nanp(rng)


def office_pbx(ctx: Ctx) -> Iterator[Emit]:
    """Desk phones of a 150-person company registered to the hosted PBX through the proxy.

    Two offices, each behind one public address (NAT): the HQ on two desk-phone brands (Yealink
    and Polycom, or Snom, Cisco or Fanvil: picked per run) dialling 10/11 digits, a branch on
    one brand (Grandstream, Yealink or Fanvil) dialling ``9`` for an outside line. Each phone
    model at each site is its own installation (codec list and optional headers as the site's
    admin provisioned them, see :mod:`.variety`).
    Every phone keeps a stable NAT mapping (random public port, LAN address in Via/Contact).
    Calls follow working hours (peak 9-17 local with a lunch dip, 8 % at weekends), about 1.6
    calls per user per peak hour, from users of very unequal activity (log-normal weights).
    A quarter of calls are internal (extension to extension); half of the external ones go to
    each user's own short list of regular contacts, so destinations repeat as they do for
    people. Outcome: ~70 % answered overall, talk time log-normal (median 2.5 min external,
    75 s internal), the rest cancelled after 12-40 s of ringing, busy, unavailable or misdialled.
    """
    rng = ctx.rng
    hq = rng.choice((("yealink", "polycom"), ("yealink", "polycom"), ("snom", "cisco"), ("polycom", "fanvil")))
    branch = rng.choice(("grandstream", "grandstream", "yealink", "fanvil"))
    sites = (
        (host_in(rng, plans.POOLS["office"][0]), "192.168.10", 0.8, ((hq[0], 0.75), (hq[1], 0.25)), ""),
        (host_in(rng, plans.POOLS["office"][0]), "10.20.1", 0.2, ((branch, 1.0),), "9"),
    )
    provisioned: dict[tuple[str, str], Style] = {}
    phones: list[_Phone] = []
    for i in range(ctx.count(150)):
        public_ip, lan, _, vendors, outside = sites[0] if rng.random() < sites[0][2] else sites[1]
        vendor = pick(rng, vendors)
        base, models = DESK_PHONES[vendor]
        if (lan, vendor) not in provisioned:
            provisioned[lan, vendor] = installation(base, rng, trim=0.2).style
        st = provisioned[lan, vendor]
        contacts = tuple(_external(rng) for _ in range(rng.randint(5, 25)))
        lan_ip = f"{lan}.{10 + i % 240}"
        port = 5062 if st.name == "yealink" and rng.random() < 0.3 else 5060
        phones.append(
            _Phone(
                str(2000 + i),
                plans.person(rng),
                st,
                rng.choice(models),
                lan_ip,
                port,
                public_ip,
                nat_port(rng),
                contacts,
                outside,
            )
        )
    weights = list(accumulate(rng.lognormvariate(0.0, 0.8) for _ in phones))

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 1.6 * len(phones), OFFICE_HOURS):
            ph = rng.choices(phones, cum_weights=weights)[0]
            r = rng.random()
            if r < 0.25 and len(phones) > 1:
                dial, model = rng.choice([p.user for p in phones if p is not ph]), OFFICE_INTERNAL
            else:
                number = rng.choice(ph.contacts) if r < 0.62 else _external(rng)
                intl = number.startswith("011")
                dial = ph.outside + number if intl else _dial_nanp(number, ph.outside, rng)
                model = OFFICE_EXTERNAL
            spec = Spec(
                "INVITE",
                dial,
                plans.SITE_DOMAIN,
                ph.user,
                plans.SITE_DOMAIN,
                ph.lan_ip,
                ph.lan_port,
                ts,
                ph.name,
                ua=ph.ua,
            )
            yield call(ts, ph.public_ip, ph.public_port, build(ph.style, spec, rng), model.draw(rng))

    return sequenced(calls())


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


def mobile_softphone(ctx: Ctx) -> Iterator[Emit]:
    """400 remote users on softphones (Zoiper, Linphone, Bria, Groundwire) on mobile data.

    The carriers put them behind carrier-grade NAT: a few dozen public addresses (T-Mobile,
    AT&T, Verizon pools) are shared by everyone, and each call comes from a fresh random high
    port because the NAT binding expired since the last one; Via/Contact carry a private
    10.x address. Calls are sporadic (0.25 per user per peak hour, evenings busiest, weekends
    almost as busy), 60 % to the user's own contacts, dialled in E.164 from the address book or
    as 10 digits, ~12 % to a colleague's extension; 7 % withhold their number (RFC 3323
    anonymous From, Privacy: id). Each app version comes with its own codec settings (users
    change them). Outcome: 60 % answered, talk log-normal median 90 s.
    """
    rng = ctx.rng
    carriers = {name: hosts(rng, plans.POOLS[name], 16) for name in ("mobile_tmobile", "mobile_att", "mobile_verizon")}
    apps = (("zoiper", 0.4), ("linphone", 0.2), ("bria", 0.2), ("groundwire", 0.2))
    configured: dict[str, Style] = {}
    users = []
    for i in range(ctx.count(400)):
        base, versions = SOFTPHONES[pick(rng, apps)]
        ua = rng.choice(versions)
        if ua not in configured:
            configured[ua] = installation(base, rng, trim=0.15).style
        st = configured[ua]
        contacts = tuple(plans.local_number(rng) if rng.random() < 0.5 else plans.nanp(rng) for _ in range(8))
        users.append((str(3000 + i), plans.person(rng), st, ua, rng.choice(list(carriers)), contacts))
    weights = list(accumulate(rng.lognormvariate(0.0, 0.7) for _ in users))

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 0.25 * len(users), MOBILE_HOURS):
            user, name, st, ua, carrier, contacts = rng.choices(users, cum_weights=weights)[0]
            number = rng.choice(contacts) if rng.random() < 0.6 else plans.nanp(rng)
            dial = "+" + number if rng.random() < 0.6 else number[1:]
            if rng.random() < 0.04:
                dial = "+" + plans.international(rng)
            elif rng.random() < 0.12:
                dial = str(rng.choice(plans.EXTENSIONS))  # a colleague's extension
            anonymous = rng.random() < 0.07
            extra = (
                (("Privacy", "id"), ("P-Preferred-Identity", f"<sip:{user}@{plans.SITE_DOMAIN}>")) if anonymous else ()
            )
            lan_ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            lan_port = 5060 if st.name == "linphone" else nat_port(rng)
            spec = Spec(
                "INVITE",
                dial,
                plans.SITE_DOMAIN,
                user,
                plans.SITE_DOMAIN,
                lan_ip,
                lan_port,
                ts,
                name,
                anonymous=anonymous,
                ua=ua,
                extra=extra,
            )
            yield call(ts, rng.choice(carriers[carrier]), nat_port(rng), build(st, spec, rng), MOBILE.draw(rng))

    return sequenced(calls())


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
    NAT port), send their users' outside calls through the proxy. Every PBX is its own
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
    for _ in range(ctx.count(30)):
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
        port = 5060 if rng.random() < 0.7 else nat_port(rng)
        users = max(4, min(80, round(rng.lognormvariate(2.6, 0.8))))
        main = plans.nanp(rng, rng.choice(plans.AREA_CODES + plans.LOCAL_AREAS))
        dids = [main[:-4] + f"{rng.randrange(10000):04d}" for _ in range(users)]
        shared = rng.random() < 0.4
        habit = pick(rng, (("plus", 0.4), ("e164", 0.35), ("dialled", 0.25)))
        contacts = tuple(_external(rng) for _ in range(rng.randint(20, 80)))
        name = f"{rng.choice(plans.LAST_NAMES)} {rng.choice(('LLC', 'Inc', '& Co', 'Dental', 'Realty', 'Legal'))}"
        companies.append((inst, ip, port, users, main, dids, shared, habit, contacts, name))
    weights = list(accumulate(c[3] * rng.lognormvariate(0.0, 0.5) for c in companies))
    total = sum(c[3] for c in companies)

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 1.2 * total, OFFICE_HOURS):
            inst, ip, port, _, main, dids, shared, habit, contacts, name = rng.choices(companies, cum_weights=weights)[
                0
            ]
            number = rng.choice(contacts) if rng.random() < 0.4 else _external(rng)
            cli = main if shared else rng.choice(dids)
            caller = "+" + cli if habit == "plus" else cli
            display = name if shared or rng.random() < 0.5 else plans.person(rng)
            spec = _trunk_spec(inst, ts, _as_sent(rng, number, habit), caller, ip, port, display)
            yield call(ts, ip, port, build(inst.style, spec, rng), OFFICE_EXTERNAL.draw(rng))

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
HOSPITAL = CallModel(0.68, (100.0, 1.0, 3.0, 3600.0), _FAILS)


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
    shared = [_external(rng) for _ in range(150)]
    habit = pick(rng, (("plus", 0.4), ("e164", 0.3), ("dialled", 0.3)))

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 350.0 * ctx.scale, HOSPITAL_HOURS):
            ip = rng.choice(ips)
            number = rng.choice(shared) if rng.random() < 0.33 else _external(rng)
            cli = main if rng.random() < 0.6 else rng.choice(departments)
            caller = "+" + cli if habit == "plus" else cli
            spec = _trunk_spec(inst, ts, _as_sent(rng, number, habit), caller, ip, 5060, "St Mary Hospital")
            yield call(ts, ip, 5060, build(inst.style, spec, rng), HOSPITAL.draw(rng))

    return sequenced(calls())


#: Home workers' clients: (style, User-Agent versions, share).
_HOME_CLIENTS: tuple[tuple[str, float], ...] = (
    ("microsip", 0.2),
    ("zoiper", 0.2),
    ("bria", 0.15),
    ("linphone", 0.1),
    ("groundwire", 0.1),
    ("yealink", 0.1),
    ("snom", 0.05),
    ("fanvil", 0.05),
    ("grandstream", 0.05),
)


def _home_client(rng: random.Random, name: str) -> tuple[Style, str]:
    if name == "microsip":
        return MICROSIP, rng.choice(("MicroSIP/3.21.3", "MicroSIP/3.21.4", "MicroSIP/3.20.7"))
    base, versions = SOFTPHONES.get(name) or DESK_PHONES[name]
    return base, rng.choice(versions)


def remote_workers(ctx: Ctx) -> Iterator[Emit]:
    """Staff working from home: softphones on laptops and a few desk phones, each on its own home line.

    150 users, each behind their own residential router (one public address per user, a NAT
    port per phone, a 192.168.x / 10.0.x LAN address in Via, Contact and SDP), on MicroSIP,
    Zoiper, Bria, Linphone, Groundwire on a mobile on Wi-Fi, or a Yealink/Snom/Fanvil/
    Grandstream desk phone taken home, each installed with its own codec settings. Working
    hours (weekends 8 %), ~0.8 calls per user per peak hour from users of unequal activity: a
    fifth to colleagues at the office by extension, half of the rest to their own regular
    contacts, dialled as 10/11 digits, ``+E.164`` from the address book, or ``011`` abroad; 3 %
    withhold their number. Outcome like the office's: ~67 %
    answered, median talk 2.5 min.
    """
    rng = ctx.rng
    users = []
    for i in range(ctx.count(150)):
        base, ua = _home_client(rng, pick(rng, _HOME_CLIENTS))
        st = installation(base, rng, trim=0.2).style
        ip = host_in(rng, rng.choice(plans.POOLS["residential"]))
        lan = f"192.168.{rng.choice((0, 1, 1, 2, 8, 50, 86))}.{rng.randrange(2, 250)}"
        if rng.random() < 0.2:
            lan = f"10.0.{rng.randrange(4)}.{rng.randrange(2, 250)}"
        contacts = tuple(_external(rng) for _ in range(rng.randint(5, 25)))
        lport = 5060 if rng.random() < 0.5 else nat_port(rng)
        users.append((str(4000 + i), plans.person(rng), st, ua, ip, nat_port(rng), lan, lport, contacts))
    weights = list(accumulate(rng.lognormvariate(0.0, 0.8) for _ in users))

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 0.8 * len(users), OFFICE_HOURS):
            user, name, st, ua, ip, port, lan, lport, contacts = rng.choices(users, cum_weights=weights)[0]
            r = rng.random()
            if r < 0.2:
                dial = str(rng.choice(plans.EXTENSIONS))  # a colleague at the office, by extension
            else:
                number = rng.choice(contacts) if r < 0.6 else _external(rng)
                if number.startswith("011"):
                    dial = number if rng.random() < 0.6 else "+" + number[3:]
                else:
                    dial = "+" + number if rng.random() < 0.35 else _dial_nanp(number, "", rng)
            anonymous = rng.random() < 0.03
            extra = (("Privacy", "id"),) if anonymous else ()
            spec = Spec(
                "INVITE",
                dial,
                plans.SITE_DOMAIN,
                user,
                plans.SITE_DOMAIN,
                lan,
                lport,
                ts,
                name,
                anonymous=anonymous,
                ua=ua,
                extra=extra,
            )
            yield call(ts, ip, port, build(st, spec, rng), OFFICE_EXTERNAL.draw(rng))

    return sequenced(calls())


__all__ = [
    "call_centre",
    "carrier_invite",
    "chatty_carrier",
    "collections_centre",
    "hospital_pbx",
    "mobile_softphone",
    "office_pbx",
    "regional_carrier",
    "remote_workers",
    "smb_trunks",
]
