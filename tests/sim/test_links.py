"""Each simulated source's link (transport and TLS facts), realistic per profile and stable."""

from __future__ import annotations

from collections import Counter, defaultdict

from antibot.sim import PROFILES, SimEvent
from antibot.sim.links import MIXES, UDP, link_for


def test_a_source_keeps_its_link_and_seeds_differ() -> None:
    links = {link_for(1, "chatty_carrier", f"192.0.2.{i}") for i in range(60)}
    assert len(links) == 2  # UDP and mutual TLS, both drawn
    assert all(link_for(1, "office_pbx", "10.0.0.1") == link_for(1, "office_pbx", "10.0.0.1") for _ in range(3))
    assert link_for(1, "no_such_profile", "10.0.0.1") == UDP
    assert set(MIXES) == set(PROFILES)


def test_links_are_realistic_per_family(day: tuple[SimEvent, ...]) -> None:
    by_family: dict[str, Counter[str]] = defaultdict(Counter)
    per_source: dict[tuple[str, str], set[tuple[str, object]]] = defaultdict(set)
    for e in day:
        tls = e.tls
        kind = e.transport if tls is None else f"{e.transport}/{'sni' if tls.sni else 'nosni'}/{int(tls.client_cert)}"
        by_family[e.family][kind] += 1
        per_source[e.profile, e.src_ip].add((e.transport, e.tls))
        assert (tls is not None) == (e.transport in ("tls", "wss"))
    assert all(len(links) == 1 for links in per_source.values())  # one link per source
    people, bots = by_family["legitimate"], sum((by_family[f] for f in ("scanner", "robocall", "fraud")), Counter())
    assert people["udp"] > 0.5 * people.total() and bots["udp"] > 0.8 * bots.total()
    assert people["tls/sni/1"] > 0 and people["tls/sni/0"] > 0 and people["wss/sni/0"] > 0
    assert bots["tls/nosni/0"] > 0  # the occasional scanner over TLS, dialling our IP
    assert bots["tls/sni/1"] == bots["wss/sni/0"] == people["tls/nosni/0"] == 0
    carriers = Counter(e.tls.client_cert for e in day if e.profile.endswith("carrier") and e.tls is not None)
    assert carriers[True] > 0 and carriers[False] == 0
