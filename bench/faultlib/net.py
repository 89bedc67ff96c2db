"""Scenarios 1 and 2: UDP junk floods and TCP abuse, while legitimate calls flow."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.peers import Sipp

from .attack import FLOOD_KINDS, TcpChurn, TcpHugeBody, TcpIdle, TcpSlowloris, UdpFlood, attacker_addresses
from .common import Durations, with_calls
from .rig import Result, Rig, tcp_ping

#: Datagrams per second of each flood (64 KB datagrams: 500/s, i.e. 32 MB/s).
FLOOD_RATE = {"big": 500}
DEFAULT_RATE = 2000
FLOOD_TITLES = {
    "random": "random bytes",
    "garbled": "truncated and garbled SIP",
    "big": "64 KB datagrams",
    "invite": "valid INVITEs, random Call-IDs, many source ports",
    "register": "REGISTER flood",
    "options": "OPTIONS flood",
}
#: TCP settings the abuse runs against (the shipped defaults, except the slowloris timeout in
#: short runs, so the bench sees it fire): see deploy/antibot.example.toml.
TCP_DEFAULTS = {
    "tcp_max_connections": 4096,
    "tcp_max_per_source": 64,
    "tcp_message_timeout": 10.0,
    "tcp_max_message_size": 65535,
    "tcp_idle_timeout": 120.0,
}


def udp_floods(work: Path, d: Durations, only: str = "") -> list[Result]:
    out = []
    for i, kind in enumerate(FLOOD_KINDS):
        name = f"udp-{kind}"
        if only and not name.startswith(only) and only not in ("udp", "floods"):
            continue
        rate = FLOOD_RATE.get(kind, DEFAULT_RATE)

        def fault(rig: Rig, result: Result, pbxs: list[Sipp], kind: str = kind, rate: float = rate, i: int = i) -> None:
            assert rig.proxy is not None
            flood = UdpFlood(kind, rig.proxy.port, rate, d.fault, attacker_addresses(10 * i, 8), ports=8).start()
            counts = flood.join()
            result.figures.update(
                sent=counts.sent,
                rate=rate,
                replies=counts.replies,
                send_errors=counts.errors,
                **{k: v for k, v in counts.notes.items()},
            )
            result.figures["attack_rate"] = round(counts.sent / d.fault)

        out.append(with_calls(work, name, FLOOD_TITLES[kind] + f" ({rate:g}/s)", d, fault))
    return out


def tcp_abuse(work: Path, d: Durations, only: str = "") -> list[Result]:
    settings = dict(TCP_DEFAULTS)
    if d.fault < 15:
        settings["tcp_message_timeout"] = 2.0
    proxy = {"settings": settings}
    out: list[Result] = []

    def want(name: str) -> bool:
        return not only or name.startswith(only) or only == "tcp"

    if want("tcp-idle"):

        def idle(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            assert rig.proxy is not None
            spread = TcpIdle(rig.proxy.port, d.fault, attacker_addresses(100, 40), 50).start()
            one = TcpIdle(rig.proxy.port, d.fault, attacker_addresses(150, 1), 500).start()
            time.sleep(min(d.fault / 2, 10.0))
            result.figures["TCP OPTIONS from 127.0.0.1 meanwhile"] = ping = tcp_ping(rig.proxy.port)
            result.check("a new TCP client is still served", ping.startswith("SIP/2.0 200"))
            for label, attacker in (("40 sources x 50", spread), ("1 source x 500", one)):
                counts = attacker.join()
                result.figures[f"{label}: connected"] = counts.sent
                for key, value in counts.notes.items():
                    result.figures[f"{label}: {key}"] = value
            result.figures["refused (metrics)"] = rig.metric('antibot_sip_messages_total{kind="tcp_refused')

        out.append(with_calls(work, "tcp-idle", "2,000 idle connections (+500 from one source)", d, idle, proxy=proxy))
    if want("tcp-slowloris"):

        def slow(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            assert rig.proxy is not None
            attacker = TcpSlowloris(rig.proxy.port, d.fault, attacker_addresses(160, 1)[0], 50).start()
            counts = attacker.join()
            result.figures.update(connections=counts.sent, answered=counts.replies, **counts.notes)
            if attacker.closed_after:
                closed = attacker.closed_after
                result.figures["closed after s (min/max)"] = f"{min(closed)}/{max(closed)}"
            result.check(
                "every slowloris connection closed by the proxy", counts.notes.get("still open at the end") == 0
            )

        out.append(with_calls(work, "tcp-slowloris", "a header that never ends (50 connections)", d, slow, proxy=proxy))
    if want("tcp-huge-body"):

        def huge(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            assert rig.proxy is not None
            counts = TcpHugeBody(rig.proxy.port, d.fault, attacker_addresses(170, 1)[0], 200).start().join()
            result.figures.update(body_bytes_sent=counts.sent, **counts.notes)
            result.check(
                "Content-Length: 100000000 answered 413", any(k.startswith("SIP/2.0 413") for k in counts.notes)
            )

        out.append(with_calls(work, "tcp-huge-body", "Content-Length: 100000000", d, huge, proxy=proxy))
    if want("tcp-churn"):

        def churn(rig: Rig, result: Result, pbxs: list[Sipp]) -> None:
            assert rig.proxy is not None
            counts = TcpChurn(rig.proxy.port, d.fault, attacker_addresses(180, 1)[0]).start().join()
            result.figures.update(
                connections=counts.sent, connect_errors=counts.errors, per_s=round(counts.sent / d.fault)
            )

        out.append(with_calls(work, "tcp-churn", "connect/close loop", d, churn, proxy=proxy))
    return out
