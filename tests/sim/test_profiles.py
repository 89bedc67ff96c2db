"""Each profile shows the trait that defines it (and the legitimate look-alikes do not)."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict

from antibot.sim import SimEvent
from antibot.sim.attacks import COPIED_PHONES
from antibot.sim.base import local_hour
from antibot.sim.plans import (
    CARRIER_SBCS,
    EXTENSIONS,
    HIGH_RISK,
    HIGH_RISK_LENGTHS,
    REGIONAL_SBCS,
    SHARED_OFFICE,
    SHARED_SMB,
    WANGIRI_ORIGINS,
    all_dids,
    international_part,
)
from antibot.sim.tools import JUNK_SDPS, SCANNERS, SPOOFED_UAS

from ._support import at_local, cv, from_user, gaps, invites, number, order, parse, run, to_user

SCAN_BRANCH = re.compile(r"z9hG4bK-\d+")
PRIVATE = re.compile(r"(10|192\.168|172\.(1[6-9]|2\d|3[01]))\.")
#: The User-Agents of the phones whose exact layout scanners and diallers copy.
COPIED_UAS = {ua for _, models in COPIED_PHONES for ua in models}


def _by_ip(events: list[SimEvent]) -> dict[str, list[SimEvent]]:
    out: dict[str, list[SimEvent]] = defaultdict(list)
    for ev in events:
        out[ev.src_ip].append(ev)
    return out


def _junk(body: bytes) -> bool:
    """Whether ``body`` is one of the scanners' junk SDPs."""
    for template in JUNK_SDPS:
        pattern = re.escape(template).replace(r"\{ip\}", r"[\d.]+").replace(r"\{port\}", r"\d+")
        if re.fullmatch(pattern, body.decode()):
            return True
    return False


# --- scanner_sweep ------------------------------------------------------------------------


def test_scanners_sweep_extensions_fast_with_tool_fingerprints(day: tuple[SimEvent, ...]) -> None:
    events = list(run(("scanner_sweep",), 12 * 3600.0, 11))
    assert {"OPTIONS", "REGISTER", "INVITE"} <= {e.method for e in events}
    tool_uas = {st.ua for st in SCANNERS.values()}
    uas = Counter(parse(e).header("user-agent") or "" for e in events)
    assert set(uas) <= tool_uas | set(SPOOFED_UAS) | COPIED_UAS
    assert set(uas) & (set(SPOOFED_UAS) - tool_uas), "no session spoofs a normal UA"
    assert set(uas) & COPIED_UAS, "no session copies a phone"
    sweeps = 0
    for ip, evs in _by_ip(events).items():
        if ip == SHARED_OFFICE:  # several sessions behind one NAT: test_shared_addresses
            continue
        for ev in evs:
            if parse(ev).header("user-agent") not in COPIED_UAS:  # a copied phone's branches are the phone's
                assert SCAN_BRANCH.fullmatch(parse(ev).vias[0].branch or ""), ip
        swept = [e for e in evs if e.method != "OPTIONS" or to_user(e) != "100"]
        exts = [int(to_user(e)) for e in swept]
        assert exts == sorted(exts) and all(100 <= x <= 999 for x in exts), ip
        if len(swept) >= 50:
            sweeps += 1
            assert exts == list(range(exts[0], exts[0] + len(exts)))  # every extension, in order
            rate = (len(swept) - 1) / (swept[-1].ts - swept[0].ts)
            assert rate >= 5.0, f"{ip} sweeps at {rate:.1f}/s"
            assert len({e.src_port for e in evs}) == 1
    assert sweeps >= 10
    for ev in events:
        if ev.method == "INVITE" and parse(ev).header("user-agent") not in COPIED_UAS:  # a copy sends the phone's
            body = parse(ev).body
            assert not body or _junk(body), body
    # no legitimate UA ever mints a scanner-style branch
    assert not [e for e in day if e.label == 0 and SCAN_BRANCH.fullmatch(parse(e).vias[0].branch or "")]


# --- robodialer ---------------------------------------------------------------------------


def test_robodialer_sequential_rotating_neighbour_spoofed_uniform() -> None:
    calls = invites(run(("robodialer",), 12 * 3600.0, 12, 1.0, at_local(8.0)), "robodialer")
    shared = {SHARED_SMB, *CARRIER_SBCS}  # several campaigns at once: test_shared_addresses
    by_ip = {ip: evs for ip, evs in _by_ip(calls).items() if len(evs) >= 20 and ip not in shared}
    assert len(by_ip) >= 2
    for ip, evs in by_ip.items():
        tos = [number(to_user(e)) for e in evs]
        assert tos == sorted(tos) and len(set(tos)) == len(tos), f"{ip} does not dial in order"
        froms = [number(from_user(e)) for e in evs]
        assert len(set(froms)) >= 0.95 * len(froms), f"{ip} does not rotate caller IDs"
        assert cv(gaps([e.ts for e in evs])) < 0.1, f"{ip} timing is not machine-regular"
    neighbours = sum(str(number(from_user(e)))[:7] == str(number(to_user(e)))[:7] for e in calls)
    assert 0.45 < neighbours / len(calls) < 0.75
    answered = [e.duration for e in calls if e.duration is not None]
    assert answered and max(answered) <= 45.0 and statistics.median(answered) < 15.0
    assert 0.05 < len(answered) / len(calls) < 0.25


def test_shared_addresses_carry_people_and_bots() -> None:
    """Bots arrive through addresses that carry people: the office NAT (a scanner copying a desk
    phone), a small business's NAT (a dialler copying a phone) and the carrier's SBCs (in the
    carrier's exact header layout)."""
    day = run(
        ("office_pbx", "smb_trunks", "chatty_carrier", "scanner_sweep", "robodialer"), 86400.0, 3, 1.0, at_local(0)
    )
    profiles: dict[str, Counter[str]] = defaultdict(Counter)
    layouts: dict[tuple[str, int], set[tuple[str, ...]]] = defaultdict(set)
    for e in day:
        if e.method == "INVITE":
            profiles[e.src_ip][e.profile] += 1
            layouts[e.src_ip, e.label].add(order(parse(e)))
    assert profiles[SHARED_OFFICE]["office_pbx"] > 100 and profiles[SHARED_OFFICE]["scanner_sweep"] >= 20
    assert profiles[SHARED_SMB]["smb_trunks"] > 20 and profiles[SHARED_SMB]["robodialer"] >= 20
    carried = sum(profiles[ip]["robodialer"] for ip in CARRIER_SBCS)
    assert carried >= 20 and all(profiles[ip]["chatty_carrier"] > 100 for ip in CARRIER_SBCS)
    # the carrier's robocalls are in its exact layout: no header order of theirs is new
    for ip in CARRIER_SBCS:
        assert layouts[ip, 1] <= layouts[ip, 0], ip
    copied = [e for e in day if e.profile in ("scanner_sweep", "robodialer") and e.method == "INVITE"]
    copied = [e for e in copied if parse(e).header("user-agent") in COPIED_UAS]
    assert len(copied) >= 40
    assert not [e for e in copied if SCAN_BRANCH.fullmatch(parse(e).vias[0].branch or "")]


def test_call_centre_is_busy_but_not_robotic() -> None:
    calls = invites(run(("call_centre",), 86400.0, 21, 1.0, at_local(0.0)), "call_centre")
    assert len({e.src_ip for e in calls}) == 1 and {e.src_port for e in calls} == {5060}
    assert len(calls) > 5000
    assert all(8.0 <= local_hour(e.ts) < 20.0 for e in calls)  # shifts, on a Tuesday
    assert cv(gaps([e.ts for e in calls])) > 0.6  # agents pace themselves: no fixed interval
    tos = [to_user(e) for e in calls]
    assert len(set(tos)) > 0.97 * len(tos)
    assert [int(t[-4:]) for t in tos[:50]] != sorted(int(t[-4:]) for t in tos[:50])
    assert len({from_user(e) for e in calls}) <= 4
    answered = [e.duration for e in calls if e.duration is not None]
    assert 0.33 < len(answered) / len(calls) < 0.47
    assert sum(d < 20 for d in answered) / len(answered) < 0.1
    hourly = Counter(int(local_hour(e.ts)) for e in calls)
    assert cv([hourly[h] for h in range(9, 19)]) < 0.15  # steady through the day
    assert all(600 < hourly[h] < 1300 for h in range(9, 19))
    # agents pace themselves: never more conversations at once than the 30 agents
    edges = sorted(x for e in calls if e.duration is not None for x in ((e.ts, 1), (e.ts + e.duration, -1)))
    busy = peak = 0
    for _, step in edges:
        busy += step
        peak = max(peak, busy)
    assert 15 <= peak <= 30


# --- low_and_slow -------------------------------------------------------------------------


def test_low_and_slow_is_slow_per_ip_but_loud_in_aggregate(hour: tuple[SimEvent, ...]) -> None:
    calls = invites(hour, "low_and_slow")
    per_ip = Counter(e.src_ip for e in calls)
    assert max(per_ip.values()) <= 5
    assert min(g for evs in _by_ip(calls).values() for g in gaps([e.ts for e in evs])) >= 900.0
    assert len(calls) >= 400 and len(per_ip) >= 200
    # a per-IP threshold that lets the botnet through still sees the legitimate trunks
    assert min(Counter(e.src_ip for e in invites(hour, "chatty_carrier")).values()) > 20 * max(per_ip.values())
    assert max(Counter(e.src_ip for e in invites(hour, "call_centre")).values()) > 20 * max(per_ip.values())


def test_low_and_slow_shares_one_fingerprint_and_sweeps_together(hour: tuple[SimEvent, ...]) -> None:
    calls = invites(hour, "low_and_slow")
    msgs = [parse(e) for e in calls]
    assert len({order(m) for m in msgs}) == 1
    assert len({m.header("user-agent") for m in msgs}) == 1
    sdp_ids = {tuple(line for line in m.body.decode().split("\r\n") if line[:2] in ("o=", "s=")) for m in msgs}
    assert {tuple(re.sub(r"IN IP4 \S+", "", x) for x in ids) for ids in sdp_ids} == {
        ("o=- 3900000000 3900000000 ", "s=pjmedia")
    }
    tos = [number(to_user(e)) for e in calls]
    assert len(set(tos)) == len(tos)
    assert sum(b < a for a, b in zip(tos, tos[1:], strict=False)) <= 1  # ascending, at most one wrap
    assert len({from_user(e) for e in calls}) >= 0.95 * len(calls)


# --- wangiri ------------------------------------------------------------------------------


def test_wangiri_rings_once_from_premium_numbers() -> None:
    start, duration = at_local(8.0), 12 * 3600.0
    events = run(("wangiri",), duration, 13, 1.0, start)
    calls = invites(events, "wangiri")
    cancels = {parse(e).call_id: e for e in events if e.method == "CANCEL"}
    assert len(calls) > 300
    for ev in calls:
        assert (ev.status, ev.duration) == (487, None)
        assert from_user(ev).lstrip("+").startswith(WANGIRI_ORIGINS)
        cancel = cancels.get(parse(ev).call_id)
        if cancel is None:
            assert ev.ts + 3.0 > start + duration  # only when the CANCEL falls after the window
            continue
        assert 1.0 <= cancel.ts - ev.ts <= 3.0
    assert len({to_user(e) for e in calls}) > 0.8 * len(calls)
    via_carrier = sum(e.src_ip in CARRIER_SBCS for e in calls) / len(calls)
    assert 0.2 < via_carrier < 0.4


# --- toll_fraud ---------------------------------------------------------------------------


def test_toll_fraud_dials_high_risk_destinations_in_night_bursts() -> None:
    calls = invites(run(("toll_fraud",), 86400.0, 14, 1.0, at_local(0.0)), "toll_fraud")
    assert len(calls) > 80
    for ev in calls:
        e164 = international_part(to_user(ev))
        assert e164 is not None and e164.startswith(HIGH_RISK), to_user(ev)
        assert len(e164) == HIGH_RISK_LENGTHS[next(p for p in HIGH_RISK if e164.startswith(p))]
    night = sum(local_hour(e.ts) < 6.0 or local_hour(e.ts) >= 22.0 for e in calls) / 8.0
    office = sum(9.0 <= local_hour(e.ts) < 17.0 for e in calls) / 8.0
    assert night > 2.0 * office  # campaigns are 6-7x denser at night; probes are flat
    answered = [e.duration for e in calls if e.duration is not None]
    assert statistics.median(answered) > 600.0
    bursts = [
        ip for ip, evs in _by_ip(calls).items() if any(b.ts - a.ts < 10.0 for a, b in zip(evs, evs[2:], strict=False))
    ]
    assert bursts, "no concurrent calls"
    callers = Counter(from_user(e) for e in calls)
    assert callers["anonymous"] > 0
    assert any(u.isdigit() and int(u) in EXTENSIONS for u in callers)


# --- legitimate ---------------------------------------------------------------------------


def test_chatty_carrier_volume_from_few_ips_with_diverse_callers(hour: tuple[SimEvent, ...]) -> None:
    calls = invites(hour, "chatty_carrier")
    per_ip = Counter(e.src_ip for e in calls)
    assert set(per_ip) == set(CARRIER_SBCS) and min(per_ip.values()) > 150
    assert {e.src_port for e in calls} == {5060}
    assert len({from_user(e) for e in calls}) > 0.85 * len(calls)
    assert all(to_user(e).startswith("+1") for e in calls)
    uas = Counter(parse(e).header("user-agent") for e in calls)
    assert uas[None] > 0.25 * len(calls) and any(ua and ua.startswith("Sippy") for ua in uas)
    assert 0.55 < sum(e.status == 200 for e in calls) / len(calls) < 0.75


def test_mobile_softphones_share_carrier_nat() -> None:
    calls = invites(run(("mobile_softphone",), 12 * 3600.0, 15, 1.0, at_local(8.0)), "mobile_softphone")
    assert len(calls) > 500
    assert all(e.src_port >= 1024 for e in calls)
    assert len({e.src_port for e in calls}) > 0.95 * len(calls)  # a fresh NAT binding per call
    users_per_ip = {ip: {from_user(e) for e in evs} for ip, evs in _by_ip(calls).items()}
    assert len(users_per_ip) <= 48 and max(len(u) for u in users_per_ip.values()) >= 5
    for ev in calls:
        via = parse(ev).vias[0].sent_by.host
        assert PRIVATE.match(via) and via != ev.src_ip
    assert 0.03 < sum(from_user(e) == "anonymous" for e in calls) / len(calls) < 0.12
    assert {(parse(e).header("user-agent") or "")[:1] for e in calls} == {"Z", "L", "B", "G", "A"}


def test_office_phones_keep_hours_and_nat_mappings() -> None:
    calls = invites(run(("office_pbx",), 86400.0, 16, 1.0, at_local(0.0)), "office_pbx")
    hours = Counter(int(local_hour(e.ts)) for e in calls)
    assert sum(hours[h] for h in range(9, 17)) / 8 > 15 * sum(hours[h] for h in range(0, 6)) / 6
    assert len({e.src_ip for e in calls}) == 2
    mapping: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for ev in calls:
        mapping[from_user(ev)].add((ev.src_ip, ev.src_port))
        assert PRIVATE.match(parse(ev).vias[0].sent_by.host)
    assert all(len(m) == 1 for m in mapping.values())  # one stable NAT mapping per phone
    answered = [e.duration for e in calls if e.duration is not None]
    assert 0.62 < len(answered) / len(calls) < 0.78
    assert 60.0 < statistics.median(answered) < 300.0
    brands = ("Yealink", "Polycom", "Grandstream", "snom", "Cisco-CP", "Fanvil")
    vendors = {next((b for b in brands if (parse(e).header("user-agent") or "").startswith(b)), "") for e in calls}
    assert "" not in vendors and 2 <= len(vendors) <= 3  # an HQ brand or two, the branch's brand
    internal = sum(to_user(e).isdigit() and int(to_user(e)) in EXTENSIONS for e in calls) / len(calls)
    assert 0.18 < internal < 0.32


# --- the other legitimate profiles: look-alikes with varied installations --------------------


def _product(ev: SimEvent) -> str:
    return (parse(ev).header("user-agent") or "").split("/")[0].split(" ")[0]


def test_smb_trunks_are_many_differently_configured_pbxs() -> None:
    calls = invites(run(("smb_trunks",), 86400.0, 31, 1.0, at_local(0.0)), "smb_trunks")
    by_ip = _by_ip(calls)
    assert len(by_ip) >= 25 and len(calls) > 3000
    assert len({_product(evs[0]) for evs in by_ip.values()}) >= 3
    assert {parse(e).max_forwards for e in calls} >= {69, 70}
    with_identity = {ip for ip, evs in by_ip.items() if parse(evs[0]).has("p-asserted-identity")}
    assert 0 < len(with_identity) < len(by_ip)
    codecs = {
        parse(evs[0]).body.split(b"m=audio ", 1)[1].split(b"\r\n", 1)[0].split(b" ", 2)[2] for evs in by_ip.values()
    }
    assert len(codecs) >= 10  # each PBX has its own codec list
    for evs in by_ip.values():
        assert len({(_product(e), order(parse(e))) for e in evs}) == 1  # but one PBX keeps its shape


def test_regional_carrier_signs_calls_to_the_site_dids() -> None:
    calls = invites(run(("regional_carrier",), 6 * 3600.0, 32, 1.0, at_local(9.0)), "regional_carrier")
    assert {e.src_ip for e in calls} <= set(REGIONAL_SBCS) and len(calls) > 2500
    dids = set(all_dids())
    assert all(str(number(to_user(e))) in dids for e in calls)
    shaken = [e for e in calls if "ppt=shaken" in (parse(e).header("identity") or "")]
    assert 0.5 < len(shaken) / len(calls) < 0.8
    assert all(60 <= (parse(e).max_forwards or 0) <= 69 for e in calls)
    assert len({from_user(e) for e in calls}) > 0.8 * len(calls)


def test_collections_centre_is_a_busy_human_paced_dialler_with_local_presence() -> None:
    calls = invites(run(("collections_centre",), 86400.0, 33, 1.0, at_local(0.0)), "collections_centre")
    assert len({e.src_ip for e in calls}) <= 2 and len(calls) > 5000
    assert all(8.0 <= local_hour(e.ts) < 20.0 for e in calls)
    same_area = sum(str(number(from_user(e)))[1:4] == str(number(to_user(e)))[1:4] for e in calls)
    assert same_area == len(calls)  # local presence: the caller ID is in the callee's area code
    dids = set(all_dids())
    assert not [e for e in calls if str(number(to_user(e))) in dids]
    redials = len(calls) - len({to_user(e) for e in calls})
    assert 0.03 < redials / len(calls) < 0.25
    answered = [e.duration for e in calls if e.duration is not None]
    assert 0.2 < len(answered) / len(calls) < 0.45
    assert 0.1 < sum(d < 10 for d in answered) / len(answered) < 0.45  # machines detected and hung up


def test_hospital_calls_round_the_clock_and_home_workers_sit_on_their_own_lines() -> None:
    events = run(("hospital_pbx", "remote_workers"), 86400.0, 34, 1.0, at_local(0.0))
    hospital = invites(events, "hospital_pbx")
    night = sum(local_hour(e.ts) < 6.0 for e in hospital)
    assert len({e.src_ip for e in hospital}) <= 2 and night > 100
    home = invites(events, "remote_workers")
    ips_per_user: dict[str, set[str]] = defaultdict(set)
    for ev in home:
        ips_per_user[from_user(ev)].add(ev.src_ip)
        assert PRIVATE.match(parse(ev).vias[0].sent_by.host)
    assert all(len(ips) == 1 for user, ips in ips_per_user.items() if user != "anonymous")
    assert len(ips_per_user) > 100
    assert {"MicroSIP", "Z"} <= {_product(e) for e in home}


def test_per_run_choices_differ_between_seeds() -> None:
    stacks = set()
    for seed in range(6):
        calls = invites(run(("call_centre",), 3 * 3600.0, 40 + seed, 1.0, at_local(10.0)), "call_centre")
        msg = parse(calls[0])
        stacks.add((_product(calls[0]), msg.max_forwards, msg.has("p-asserted-identity")))
    assert len(stacks) >= 3
