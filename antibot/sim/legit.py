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
from .servers import ASTERISK_PJSIP, FREESWITCH, SIPPY, SONUS
from .uas import DESK_PHONES, SOFTPHONES

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

    Two offices, each behind one public address (NAT): the HQ on Yealink and Polycom phones
    dialling 10/11 digits, a branch on Grandstream phones dialling ``9`` for an outside line.
    Every phone keeps a stable NAT mapping (random public port, LAN address in Via/Contact).
    Calls follow working hours (peak 9-17 local with a lunch dip, 8 % at weekends), about 1.6
    calls per user per peak hour, from users of very unequal activity (log-normal weights).
    A quarter of calls are internal (extension to extension); half of the external ones go to
    each user's own short list of regular contacts, so destinations repeat as they do for
    people. Outcome: ~70 % answered overall, talk time log-normal (median 2.5 min external,
    75 s internal), the rest cancelled after 12-40 s of ringing, busy, unavailable or misdialled.
    """
    rng = ctx.rng
    sites = (
        (host_in(rng, plans.POOLS["office"][0]), "192.168.10", 0.8, (("yealink", 0.75), ("polycom", 0.25)), ""),
        (host_in(rng, plans.POOLS["office"][0]), "10.20.1", 0.2, (("grandstream", 1.0),), "9"),
    )
    phones: list[_Phone] = []
    for i in range(ctx.count(150)):
        public_ip, lan, _, vendors, outside = sites[0] if rng.random() < sites[0][2] else sites[1]
        st, models = DESK_PHONES[pick(rng, vendors)]
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

    The dialler is Asterisk (PJSIP) or FreeSWITCH, picked per run, presenting a handful of the
    company's own caller IDs with a display name and P-Asserted-Identity. Agents work shifts
    (08-20 weekdays, 09-17 Saturday) and pace themselves: dial, let it ring up to 18-30 s, talk
    (log-normal, median ~3 min, few calls under 20 s), wrap up 20-90 s, dial again, with an
    occasional break. That gives a high (~900/h) but steady rate to varied, non-sequential
    customer numbers all over the country, ~40 % answered. This is the hard negative for
    robodialer detection: one IP, many distinct destinations, high volume, yet human pacing,
    stable caller IDs and real conversations.
    """
    rng = ctx.rng
    ip = host_in(rng, plans.POOLS["call_centre"][0])
    st = rng.choice((ASTERISK_PJSIP, FREESWITCH))
    clis = [plans.nanp(rng, 312) for _ in range(4)]
    agents = [_agent(ctx, ctx.child(), ip, st, clis) for _ in range(ctx.count(30))]
    return window(merge(agents), ctx)


def _agent(ctx: Ctx, rng: random.Random, ip: str, st: Style, clis: list[str]) -> Iterator[Emit]:
    t = ctx.start - rng.uniform(0.0, 900.0)
    while t < ctx.end:
        if not _on_shift(t):
            t = (t // 3600.0 + 1.0) * 3600.0 + (rng.uniform(0.0, 900.0) if _on_shift(t + 3600.0) else 0.0)
            continue
        cli = rng.choice(clis)
        callee = plans.local_number(rng) if rng.random() < 0.1 else plans.nanp(rng)
        pai = f'"Acme Support" <sip:+{cli}@{ip}>'
        extra = (
            (("P-Asserted-Identity", pai),) if st is ASTERISK_PJSIP else (("Remote-Party-ID", pai + ";party=calling"),)
        )
        spec = Spec("INVITE", "+" + callee, plans.SITE_HOST, "+" + cli, ip, ip, 5060, t, "Acme Support", extra=extra)
        out = CENTRE.draw(rng)
        if out.duration is not None and rng.random() < 0.06:
            out = Outcome(200, round(rng.uniform(4.0, 20.0), 1))  # answering machines, wrong person
        yield from call(t, ip, 5060, build(st, spec, rng), out)
        t += _busy(rng, out) + rng.uniform(4.0, 20.0)
        if rng.random() < 0.015:
            t += rng.uniform(300.0, 900.0)


def mobile_softphone(ctx: Ctx) -> Iterator[Emit]:
    """400 remote users on softphones (Zoiper, Linphone, Bria) on mobile data.

    The carriers put them behind carrier-grade NAT: a few dozen public addresses (T-Mobile,
    AT&T, Verizon pools) are shared by everyone, and each call comes from a fresh random high
    port because the NAT binding expired since the last one; Via/Contact carry a private
    10.x address. Calls are sporadic (0.25 per user per peak hour, evenings busiest, weekends
    almost as busy), 60 % to the user's own contacts, dialled in E.164 from the address book or
    as 10 digits; 7 % withhold their number (RFC 3323 anonymous From, Privacy: id). Outcome:
    60 % answered, talk log-normal median 90 s.
    """
    rng = ctx.rng
    carriers = {name: hosts(rng, plans.POOLS[name], 16) for name in ("mobile_tmobile", "mobile_att", "mobile_verizon")}
    users = []
    for i in range(ctx.count(400)):
        st, versions = SOFTPHONES[pick(rng, (("zoiper", 0.5), ("linphone", 0.25), ("bria", 0.25)))]
        contacts = tuple(plans.local_number(rng) if rng.random() < 0.5 else plans.nanp(rng) for _ in range(8))
        users.append((str(3000 + i), plans.person(rng), st, rng.choice(versions), rng.choice(list(carriers)), contacts))
    weights = list(accumulate(rng.lognormvariate(0.0, 0.7) for _ in users))

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 0.25 * len(users), MOBILE_HOURS):
            user, name, st, ua, carrier, contacts = rng.choices(users, cum_weights=weights)[0]
            number = rng.choice(contacts) if rng.random() < 0.6 else plans.nanp(rng)
            dial = "+" + number if rng.random() < 0.6 else number[1:]
            if rng.random() < 0.04:
                dial = "+" + plans.international(rng)
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
    rng: random.Random, ts: float, caller: str, callee: str, *, anonymous: bool = False, display: str | None = None
) -> tuple[str, bytes]:
    """An INVITE as the interconnect carrier delivers it (E.164, PAI, one of its SBCs)."""
    ip, st, _ = rng.choices(_SBCS, [w for _, _, w in _SBCS])[0]
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
    numbers, P-Asserted-Identity, Max-Forwards already decremented (66-69). About 1500 calls
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

    def calls() -> Iterator[list[Emit]]:
        for ts in arrivals(rng, ctx.start, ctx.end, 1500.0 * 4.0 * ctx.scale, weight):
            callee = rng.choice(mains) if rng.random() < 0.25 else rng.choices(dids, cum_weights=popularity)[0]
            kind = pick(rng, (("new", 0.78), ("frequent", 0.1), ("intl", 0.08), ("anon", 0.04)))
            caller = {"frequent": rng.choice(frequent), "intl": plans.international(rng)}.get(kind) or plans.nanp(rng)
            shown = pick(rng, (("none", 0.4), ("number", 0.4), ("cnam", 0.2)))
            display = {"number": "+" + caller, "cnam": plans.person(rng).upper()}.get(shown)
            ip, invite = carrier_invite(rng, ts, caller, callee, anonymous=kind == "anon", display=display)
            yield call(ts, ip, 5060, invite, CARRIER.draw(rng))

    return sequenced(calls())


__all__ = ["call_centre", "carrier_invite", "chatty_carrier", "mobile_softphone", "office_pbx"]
