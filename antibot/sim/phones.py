"""Legitimate profiles (label 0) of people's own phones registered to the hosted PBX: office
desk phones, mobile softphones, home workers. Each function's docstring is the profile's documentation."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from . import plans
from .base import CallModel, Ctx, Emit, Shape, arrivals, call, host_in, hosts, nat_port, pick, sequenced
from .messages import Spec, Style, build
from .outside_calls import OFFICE_EXTERNAL, OFFICE_HOURS, external_number
from .tools import MICROSIP
from .uas import DESK_PHONES, SOFTPHONES
from .variety import installation

MOBILE_HOURS = Shape(
    (0.05, 0.03, 0.02, 0.02, 0.02, 0.04, 0.12, 0.35, 0.55, 0.7, 0.75, 0.8)
    + (0.85, 0.8, 0.75, 0.75, 0.8, 0.9, 1.0, 1.0, 0.9, 0.7, 0.4, 0.15),
    weekend=0.9,
)

OFFICE_INTERNAL = CallModel(0.82, (75.0, 0.9, 3.0, 3600.0), ((487, 0.5), (486, 0.3), (480, 0.2)), ring=(8.0, 25.0))
MOBILE = CallModel(0.6, (90.0, 1.1, 2.0, 5400.0), ((487, 0.45), (486, 0.15), (480, 0.3), (404, 0.05), (603, 0.05)))


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


def office_pbx(ctx: Ctx) -> Iterator[Emit]:
    """Desk phones of a 150-person company registered to the hosted PBX through the proxy.

    Two offices, each behind one public address (NAT; the HQ's is :data:`.plans.SHARED_OFFICE`,
    which a scanner on a compromised PC also uses, see :func:`.attacks.scanner_sweep`): the HQ
    on two desk-phone brands (Yealink and Polycom, or Snom, Cisco or Fanvil: picked per run)
    dialling 10/11 digits, a branch on one brand (Grandstream, Yealink or Fanvil) dialling ``9``
    for an outside line. Each phone model at each site is its own installation (codec list and
    optional headers as the site's admin provisioned them, see :mod:`.variety`).
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
    host_in(rng, plans.POOLS["office"][0])  # drawn, then replaced: the HQ NAT is the shared one
    sites = (
        (plans.SHARED_OFFICE, "192.168.10", 0.8, ((hq[0], 0.75), (hq[1], 0.25)), ""),
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
        contacts = tuple(external_number(rng) for _ in range(rng.randint(5, 25)))
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
                number = rng.choice(ph.contacts) if r < 0.62 else external_number(rng)
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
        contacts = tuple(external_number(rng) for _ in range(rng.randint(5, 25)))
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
                number = rng.choice(contacts) if r < 0.6 else external_number(rng)
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


__all__ = ["mobile_softphone", "office_pbx", "remote_workers"]
