"""Attack profiles (label 1). Each function's docstring is the profile's documentation."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

from . import plans
from .base import (
    FLAT,
    CallModel,
    Ctx,
    Emit,
    Outcome,
    Shape,
    arrivals,
    call,
    host_in,
    hosts,
    merge,
    nat_port,
    pick,
    sequenced,
    window,
)
from .carriers import carrier_invite
from .messages import Spec, Style, build
from .servers import ASTERISK_CHANSIP, FREESWITCH, SIPPY
from .tools import BOTNET, FRAUD_PHONES, JUNK_SDPS, SCANNERS, SPOOFED_UAS, VOS
from .uas import DESK_PHONES, SOFTPHONES
from .variety import installation

#: Robocallers keep to the hours people pick up (roughly the legal 08-21 window).
CALLING_HOURS = Shape((0.03,) * 8 + (0.7,) + (1.0,) * 11 + (0.8, 0.2, 0.05, 0.03), weekend=0.6)
#: Wangiri wants its missed calls seen and called back: victims' waking hours.
WAKING_HOURS = Shape((0.2,) * 7 + (0.6,) + (1.0,) * 14 + (0.6, 0.3))
#: Toll fraud runs when nobody watches the PBX: nights and weekends.
NIGHTS = Shape((1.0,) * 6 + (0.6, 0.3) + (0.15,) * 10 + (0.3, 0.5, 0.8, 1.0, 1.0, 1.0), weekend=1.0)
LOW_AND_SLOW_HOURS = Shape((0.8,) * 7 + (1.0,) * 15 + (0.9, 0.8))

ROBO = CallModel(0.15, (9.0, 0.5, 2.0, 45.0), ((487, 0.55), (480, 0.25), (486, 0.2)), ring=(6.0, 18.0))
BOT = CallModel(0.1, (6.0, 0.6, 1.0, 30.0), ((487, 0.5), (480, 0.3), (486, 0.2)), ring=(10.0, 25.0))
IRSF = CallModel(0.7, (1500.0, 0.6, 120.0, 10800.0), ((403, 0.35), (503, 0.35), (404, 0.15), (488, 0.15)))
IRSF_PROBE = CallModel(0.4, (30.0, 0.8, 3.0, 300.0), ((403, 0.5), (404, 0.25), (503, 0.25)))

#: Share of scanner sessions run from the office NAT (:data:`.plans.SHARED_OFFICE`), and of the
#: others that copy a phone's exact header layout and User-Agent.
SHARED_SCANS = 0.15
COPIED_SCANS = 0.05
#: Where robodialler campaigns come from: their own hosting, through the interconnect carrier
#: (its SBCs, in its exact format), or from behind a small business's NAT (:data:`.plans.SHARED_SMB`).
ROBO_ROUTES = (("own", 0.6), ("carrier", 0.2), ("smb", 0.2))
#: Popular phones whose header layout scanners and diallers copy.
COPIED_PHONES = (DESK_PHONES["yealink"], DESK_PHONES["polycom"], DESK_PHONES["grandstream"], SOFTPHONES["zoiper"])

#: What the PBX answers a scanner: OPTIONS 200, REGISTER/INVITE 401 (alwaysauthreject).
SCAN_STATUS = {"OPTIONS": 200, "REGISTER": 401, "INVITE": 401}


def _dids_from(rng: random.Random, *, wrap: bool) -> Iterator[str]:
    """The site's DIDs in ascending order from a random point (then from the start again)."""
    dids = plans.all_dids()
    i = rng.randrange(len(dids))
    while wrap or i < len(dids):
        yield dids[i % len(dids)]
        i += 1


def _site_outcome(rng: random.Random, callee: str, model: CallModel) -> Outcome:
    return model.draw(rng) if plans.assigned(callee) else Outcome(404)


def scanner_sweep(ctx: Ctx) -> Iterator[Emit]:
    """SIP scanners sweeping extensions 100-999 from one address at high rate.

    Internet background noise that every public SIP server sees: ~3 sessions/hour, 24/7,
    each from a fresh hosting-provider address. A session probes with 1-2 OPTIONS (svmap),
    then most enumerate extensions in order (REGISTER 40 %, INVITE 25 %, OPTIONS 10 %; a
    quarter stop after the probe) at 8-60 requests/s with machine-regular spacing, over the
    whole 100-999 range or a block of it. Tools: SIPVicious (friendly-scanner), sipcli,
    pplsip (compact headers), VaxSIPUserAgent, sipsak; 15 % of sessions replace the UA by a
    normal-looking one (or none) but keep every other habit: ``z9hG4bK-<digits>`` branches,
    the tool's header order, ``From == To`` extension, Via showing a private or the public
    address, INVITEs with no SDP or a junk one. The PBX answers OPTIONS 200 and REGISTER or
    INVITE 401; nothing is ever answered as a call.

    Shared addresses: 15 % of sessions run on a compromised PC behind the head office's NAT
    (:data:`.plans.SHARED_OFFICE`, which carries the office's desk phones), enumerate with
    INVITE (70 %) or REGISTER, and copy a popular phone's exact header layout and User-Agent
    (Yealink, Polycom, Grandstream, Zoiper); 5 % of the other sessions copy a phone the same way
    from their own address.
    """
    rng = ctx.rng
    starts = list(arrivals(rng, ctx.start - 900.0, ctx.end, 3.0 * ctx.scale))
    return window(merge(_scan(ctx.child(), t) for t in starts), ctx)


def _scan(rng: random.Random, t: float) -> Iterator[Emit]:
    tool = pick(rng, (("sipvicious", 0.45), ("sipcli", 0.15), ("pplsip", 0.1), ("vaxsip", 0.15), ("sipsak", 0.15)))
    st = SCANNERS[tool]
    ua = rng.choice(SPOOFED_UAS) if rng.random() < 0.15 else None
    ip = host_in(rng, rng.choice(plans.POOLS["scanner"]))
    port = 5060 if tool == "sipvicious" and rng.random() < 0.7 else nat_port(rng)
    local_ip = ip if rng.random() < 0.6 else f"192.168.{rng.randrange(256)}.{rng.randrange(2, 255)}"
    mode = pick(rng, (("probe", 0.25), ("REGISTER", 0.4), ("INVITE", 0.25), ("OPTIONS", 0.1)))
    if rng.random() < 0.5:
        first, count = 100, 900
    else:
        count = rng.randint(50, 300)
        first = rng.randint(100, 1000 - count)
    sdp = rng.choice(JUNK_SDPS) if rng.random() < 0.5 else None
    interval = 1.0 / rng.uniform(8.0, 60.0)
    shared = rng.random() < SHARED_SCANS
    if shared or rng.random() < COPIED_SCANS:
        st, models = rng.choice(COPIED_PHONES)
        ua = rng.choice(models)
    if shared:  # svwar on a PC behind the office NAT: enumerating, not probing
        ip, port, local_ip = plans.SHARED_OFFICE, nat_port(rng), f"192.168.10.{rng.randrange(2, 255)}"
        mode = "INVITE" if rng.random() < 0.7 else "REGISTER"
    fuser = "sipsak" if tool == "sipsak" else None
    probe_name = "sipvicious" if tool == "sipvicious" else "100"
    for _ in range(rng.randint(1, 2)):
        spec = Spec(
            "OPTIONS", "100", plans.SITE_HOST, fuser or "100", plans.SITE_HOST, local_ip, port, t, probe_name, ua=ua
        )
        yield Emit(t, ip, port, build(st, spec, rng), "OPTIONS", 200, None)
        t += rng.uniform(0.5, 3.0)
    if mode == "probe":
        return
    t += rng.uniform(1.0, 10.0)
    for ext in map(str, range(first, first + count)):
        spec = Spec(
            mode,
            "" if mode == "REGISTER" else ext,
            plans.SITE_HOST,
            fuser or ext,
            plans.SITE_HOST,
            local_ip,
            port,
            t,
            ext,
            to_user=ext,
            ua=ua,
            sdp_template=sdp,
        )
        yield Emit(t, ip, port, build(st, spec, rng), mode, SCAN_STATUS[mode], None)
        t += interval * rng.uniform(0.9, 1.1)


def robodialer(ctx: Ctx) -> Iterator[Emit]:
    """Robocall campaigns sweeping the site's DID blocks in number order.

    ~0.6 campaigns/hour in calling hours (08-21 local, fewer at weekends), each lasting 15-45
    min from 1-4 fresh addresses of cheap VoIP hosting, driven by a VICIdial-style Asterisk
    (chan_sip), a VOS3000 softswitch or a FreeSWITCH with the User-Agent stripped, each campaign's
    installation with its own codec list and optional headers (:mod:`.variety`). The list is
    either sequential (every DID from a random point on) or a sorted lead list (ascending with
    gaps), and the campaign stops early when the list runs out. Calls are dealt round-robin over
    the addresses at a fixed rate of 0.05-0.25 calls/s each with only ±3 % jitter, so each
    address dials ascending numbers at a near-constant interval. Shared addresses: 20 % of
    campaigns transit the interconnect carrier (its SBCs, in its exact format: only the numbers
    and the pace differ from its customers' calls) and 20 % run from behind a small business's
    NAT (:data:`.plans.SHARED_SMB`, which carries that company's PBX) with a popular phone's
    exact header layout and User-Agent. Every call gets a new caller
    ID, 60 % neighbour-spoofed (same NPA-NXX as the callee). Outcome: unassigned numbers 404, 15
    % answered for a few seconds (a recording, a hang-up), the rest cancelled after 6-18 s of
    ringing, unavailable or busy.
    """
    rng = ctx.rng
    starts = list(arrivals(rng, ctx.start - 2700.0, ctx.end, 0.6 * ctx.scale, CALLING_HOURS))
    return window(merge(_campaign(ctx.child(), t) for t in starts), ctx)


def _campaign(rng: random.Random, t: float) -> Iterator[Emit]:
    ips = hosts(rng, plans.POOLS["robodialer"], rng.randint(1, 4))
    base, ua, plus = pick(
        rng, (((ASTERISK_CHANSIP, None, ""), 0.5), ((VOS, None, "+"), 0.3), ((FREESWITCH, "", "+"), 0.2))
    )
    st = installation(base, rng, trim=0.25).style
    end = t + rng.uniform(900.0, 2700.0)
    interval = 1.0 / (rng.uniform(0.05, 0.25) * len(ips))
    numbers = _dids_from(rng, wrap=False)
    sparse = rng.random() < 0.5
    route = pick(rng, ROBO_ROUTES)
    port = 5060
    lan = ""
    if route == "smb":
        st, models = rng.choice(COPIED_PHONES)
        ua, plus, port = rng.choice(models), "", nat_port(rng)
        ips, lan = [plans.SHARED_SMB], f"192.168.1.{rng.randrange(2, 255)}"
        interval = 1.0 / rng.uniform(0.05, 0.25)

    def calls() -> Iterator[list[Emit]]:
        now, k = t, 0
        while now < end:
            callee = next(numbers, None)
            while sparse and callee is not None and rng.random() < 0.6:
                callee = next(numbers, None)
            if callee is None:
                return  # end of the list
            caller = plans.neighbour(rng, callee) if rng.random() < 0.6 else plans.nanp(rng)
            ip = ips[k % len(ips)]
            display = caller if rng.random() < 0.5 else None
            if route == "carrier":
                ip, invite = carrier_invite(rng, now, caller, callee, display=display)
            else:
                spec = Spec(
                    "INVITE", plus + callee, plans.SITE_HOST, plus + caller, ip, lan or ip, port, now, display, ua=ua
                )
                invite = build(st, spec, rng)
            yield call(now, ip, port, invite, _site_outcome(rng, callee, ROBO))
            now += interval * rng.uniform(0.97, 1.03)
            k += 1

    return sequenced(calls())


def low_and_slow(ctx: Ctx) -> Iterator[Emit]:
    """A distributed botnet dialling the site slowly from many addresses, to stay under limits.

    300 compromised hosts (residential ranges worldwide; port 5060 or a home-NAT port), each
    placing one call every 15-40 minutes (~2.2/h, never more than 5 in any hour), so per-IP
    counters stay low while the botnet as a whole makes ~650 calls/hour around the clock.
    The controller hands out the site's DIDs in ascending order, so the swarm sweeps the
    number range collectively. Every bot runs the same PJSIP-built dialler: identical header
    order, the same User-Agent (claiming to be Zoiper), the same frozen SDP ``o=- 3900000000
    3900000000`` / ``s=pjmedia`` and media port 4000. Caller IDs rotate per call (30 %
    neighbour-spoofed). Outcome: 404 on unassigned DIDs, 10 % answered for seconds, the rest
    cancelled after 10-25 s, unavailable or busy.
    """
    rng = ctx.rng
    n = ctx.count(300)
    ips = hosts(rng, plans.POOLS["botnet"], n)
    bots = [(ip, 5060 if rng.random() < 0.55 else nat_port(rng), ctx.child()) for ip in ips]

    def times(i: int) -> Iterator[tuple[float, int]]:
        brng = bots[i][2]
        t = ctx.start - brng.uniform(0.0, 2400.0)
        while t < ctx.end:
            yield t, i
            t += brng.uniform(900.0, 2400.0)

    numbers = _dids_from(rng, wrap=True)

    def calls() -> Iterator[list[Emit]]:
        for t, i in heapq.merge(*(times(i) for i in range(n))):
            if t < ctx.start or rng.random() > LOW_AND_SLOW_HOURS(t):
                continue
            ip, port, brng = bots[i]
            callee = next(numbers)
            caller = plans.neighbour(brng, callee) if brng.random() < 0.3 else plans.nanp(brng)
            lan = ip if port == 5060 else f"192.168.{brng.randrange(3)}.{brng.randrange(2, 250)}"
            spec = Spec("INVITE", "+" + callee, plans.SITE_HOST, "+" + caller, plans.SITE_HOST, lan, port, t)
            yield call(t, ip, port, build(BOTNET, spec, brng), _site_outcome(brng, callee, BOT))

    return window(sequenced(calls()), ctx)


def wangiri(ctx: Ctx) -> Iterator[Emit]:
    """Wangiri ("one ring and cut"): inbound calls from premium/international numbers that
    hang up after one ring, so the missed call is returned at premium rate.

    Campaigns (~0.8/hour, victims' waking hours) of 40-200 calls spread over 3-15 min to
    distinct DIDs, from a pool of 1-5 bait numbers (+882, +53, +252, +216, +225, +373 ...),
    plus a trickle of ~12 single calls/hour. 70 % arrive from a grey-route softswitch (VOS or
    Sippy, 3 addresses), 30 % transit the site's own interconnect carrier and so come from its
    SBCs in its exact format (only the caller and the behaviour differ). Every call is
    cancelled 1-3 s after the INVITE (the CANCEL is emitted); the PBX logs 487, never answered.
    """
    rng = ctx.rng
    own = [(ip, rng.choice((VOS, SIPPY))) for ip in hosts(rng, plans.POOLS["wangiri"], 3)]
    dids = plans.all_dids()

    def one(crng: random.Random, ts: float, caller: str, callee: str) -> list[Emit]:
        if crng.random() < 0.3:
            ip, invite = carrier_invite(crng, ts, caller, callee)
        else:
            ip, st = crng.choice(own)
            spec = Spec("INVITE", "+" + callee, plans.SITE_HOST, "+" + caller, ip, ip, 5060, ts, None, ua="")
            invite = build(st, spec, crng)
        return call(ts, ip, 5060, invite, Outcome(487, None, round(crng.uniform(1.0, 3.0), 2)))

    def campaign(crng: random.Random, t0: float) -> Iterator[Emit]:
        count = crng.randint(40, 200)
        span = crng.uniform(180.0, 900.0)
        bait = [plans.wangiri_origin(crng) for _ in range(crng.randint(1, 5))]
        times = sorted(t0 + crng.uniform(0.0, span) for _ in range(count))
        return sequenced(
            one(crng, ts, crng.choice(bait), callee) for ts, callee in zip(times, crng.sample(dids, count), strict=True)
        )

    trng = ctx.child()
    trickle = sequenced(
        one(trng, ts, plans.wangiri_origin(trng), trng.choice(dids))
        for ts in arrivals(trng, ctx.start, ctx.end, 12.0 * ctx.scale, WAKING_HOURS)
    )
    starts = list(arrivals(rng, ctx.start - 900.0, ctx.end, 0.8 * ctx.scale, WAKING_HOURS))
    return window(merge([trickle, *(campaign(ctx.child(), t) for t in starts)]), ctx)


def toll_fraud(ctx: Ctx) -> Iterator[Emit]:
    """International revenue share fraud through a compromised (or spoofed) extension.

    Campaigns (~1.2/hour at night and at weekends, 0.15x on weekdays in office hours) from a
    foreign address running a common softphone (MicroSIP, eyeBeam/X-Lite with the stolen
    credentials already in Proxy-Authorization, or none; each with its own codec settings), registered as a real
    extension (60 %) or a guessed one (100, 1000, 101 ...), 10 % of calls anonymous. They come
    in 1-4 waves of 3-12 near-simultaneous calls (concurrent channels), minutes apart, all to
    high-cost destinations: Cuba, Somalia, satellite (+881/+882), Maldives, Pacific islands
    (+675 ... +690), UK 09 premium, dialled as 011/00/+/9011. Answered calls (70 %) run long
    (median 25 min, up to 3 h); the rest hit route blocks (403/503/404/488). Between campaigns
    single probe calls (~4/hour, 24/7) test which routes are open.
    """
    rng = ctx.rng
    starts = list(arrivals(rng, ctx.start - 3600.0, ctx.end, 1.2 * ctx.scale, NIGHTS))
    prng = ctx.child()
    probes = sequenced(
        _fraud_call(prng, _attacker(prng), ts, IRSF_PROBE)
        for ts in arrivals(prng, ctx.start, ctx.end, 4.0 * ctx.scale, FLAT)
    )
    return window(merge([probes, *(_fraud_campaign(ctx.child(), t) for t in starts)]), ctx)


_Attacker = tuple[str, int, str, Style, str]


def _attacker(rng: random.Random) -> _Attacker:
    ip = host_in(rng, rng.choice(plans.POOLS["toll_fraud"]))
    port = 5060 if rng.random() < 0.4 else nat_port(rng)
    if rng.random() < 0.6:
        ext = str(rng.choice(plans.EXTENSIONS))
    else:
        ext = rng.choice(("100", "1000", "101", "1001", "200", "2000"))
    name = pick(rng, (("microsip", 0.4), ("eyebeam", 0.35), ("none", 0.25)))
    base, uas = FRAUD_PHONES["microsip" if name == "none" else name]
    st = installation(base, rng, trim=0.2).style
    return ip, port, ext, st, "" if name == "none" else rng.choice(uas)


def _fraud_call(rng: random.Random, who: _Attacker, ts: float, model: CallModel) -> list[Emit]:
    ip, port, ext, st, ua = who
    dial = plans.dial_international(rng, plans.high_risk(rng), (0.4, 0.25, 0.2, 0.15))
    lan = ip if port == 5060 else f"192.168.{rng.randrange(256)}.{rng.randrange(2, 255)}"
    spec = Spec(
        "INVITE",
        dial,
        plans.SITE_DOMAIN,
        ext,
        plans.SITE_DOMAIN,
        lan,
        port,
        ts,
        ext if rng.random() < 0.5 else None,
        anonymous=rng.random() < 0.1,
        ua=ua,
    )
    return call(ts, ip, port, build(st, spec, rng), model.draw(rng))


def _fraud_campaign(rng: random.Random, t: float) -> Iterator[Emit]:
    who = _attacker(rng)

    def calls() -> Iterator[list[Emit]]:
        now = t
        for _ in range(rng.randint(1, 4)):
            for _ in range(rng.randint(3, 12)):
                yield _fraud_call(rng, who, now, IRSF)
                now += rng.expovariate(1 / 0.7)
            now += rng.uniform(120.0, 900.0)

    return sequenced(calls())
