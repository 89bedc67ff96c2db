"""A sans-IO harness for the proxy core: build messages, feed them, read effects. No sockets, no sleeps."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from antibot.proxy.config import CoreConfig
from antibot.proxy.core import ProxyCore
from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr, CallOutcome, NeedVerdict, ProxyEffect, Transmit
from antibot.proxy.routing import Listener, LocalIdentity
from antibot.proxy.upstreams import Upstream, UpstreamPool
from antibot.sip.message import Request, Response
from antibot.sip.parser import parse_datagram

CALLER = Addr("udp", "192.0.2.10", 5062)
PBX1 = Addr("udp", "127.0.0.1", 5080)
PBX2 = Addr("udp", "127.0.0.1", 5090)
ME = "127.0.0.1:5060"


def invite(
    *,
    branch: str = "z9hG4bK-caller-1",
    call_id: str = "call-1@192.0.2.10",
    ua: str = "Grandstream GXP2170",
    extra: str = "",
    method: str = "INVITE",
    uri: str = f"sip:100@{ME}",
    to_tag: str = "",
    cseq: int = 1,
    max_forwards: int = 70,
    via_host: str = "192.0.2.10:5062",
) -> bytes:
    body = "v=0\r\no=user1 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    if method != "INVITE":
        body = ""
    to = f"<sip:100@{ME}>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host};branch={branch};rport\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f'From: "Alice" <sip:74951@192.0.2.10>;tag=from-1\r\n'
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@192.0.2.10:5062>\r\n"
        f"User-Agent: {ua}\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    return text.encode()


def reply(request: bytes, status: int, reason: str, *, to_tag: str = "pbx-1", extra: str = "") -> bytes:
    """A response built from a forwarded request, as the PBX (or caller) would answer it."""
    req = parse_datagram(request)
    lines = [f"SIP/2.0 {status} {reason}\r\n"]
    for h in req.headers:
        if h.key in ("via", "from", "call-id", "cseq", "record-route"):
            lines.append(h.line)
        elif h.key == "to":
            lines.append(h.line.rstrip("\r\n") + (f";tag={to_tag}" if "tag=" not in h.value else "") + "\r\n")
    lines.append(f"Contact: <sip:pbx@127.0.0.1:5080>\r\n{extra}Content-Length: 0\r\n\r\n")
    return "".join(lines).encode()


@dataclass
class Harness:
    core: ProxyCore
    now: float = 1000.0
    log: list[ProxyEffect] = field(default_factory=list)

    def feed(self, data: bytes, source: Addr) -> list[Transmit]:
        return self._take(self.core.receive_datagram(data, source, self.now))

    def tick(self, seconds: float) -> list[Transmit]:
        self.now += seconds
        return self._take(self.core.handle_timer(self.now))

    def verdict(self, verdict: Verdict | None = None) -> list[Transmit]:
        need = [e for e in self.log if isinstance(e, NeedVerdict)]
        assert need, "no NeedVerdict effect seen"
        self.log = [e for e in self.log if e is not need[-1]]
        return self._take(self.core.apply_verdict(need[-1].ticket, verdict or Verdict(Action.RELAY), self.now))

    def decided(self, data: bytes, source: Addr, verdict: Verdict | None = None) -> list[Transmit]:
        """Feed a request; if it waits for the decision hook, answer with ``verdict`` (relay)."""
        waiting = sum(isinstance(e, NeedVerdict) for e in self.log)
        out = self.feed(data, source)
        if sum(isinstance(e, NeedVerdict) for e in self.log) > waiting:
            assert out == [], "nothing may be sent before the verdict"
            return self.verdict(verdict)
        return out

    def call(self, data: bytes, source: Addr = CALLER, verdict: Verdict | None = None) -> list[Transmit]:
        """Feed a new INVITE and answer its decision with ``verdict`` (relay by default)."""
        first = self.feed(data, source)
        assert first == [], "nothing may be sent before the verdict"
        return self.verdict(verdict)

    def _take(self, effects: list[ProxyEffect]) -> list[Transmit]:
        self.log.extend(e for e in effects if isinstance(e, NeedVerdict | CallOutcome))
        return [e for e in effects if isinstance(e, Transmit)]


def make_core(*targets: Upstream, probe_interval: float = 0.0, **config: float) -> ProxyCore:
    me = LocalIdentity(
        [Listener("udp", "127.0.0.1", 5060, "127.0.0.1"), Listener("tcp", "127.0.0.1", 5060, "127.0.0.1")]
    )
    ups = list(targets) or [Upstream("sip:127.0.0.1:5080", PBX1)]
    return ProxyCore(me, UpstreamPool(ups, probe_interval=probe_interval), CoreConfig(**config))  # type: ignore[arg-type]


@pytest.fixture
def h() -> Harness:
    return Harness(make_core())


def only(effects: list[Transmit], dest: Addr | None = None) -> Transmit:
    assert len(effects) == 1, [e.data[:60] for e in effects]
    if dest is not None:
        assert effects[0].dest == dest
    return effects[0]


def parsed(effect: Transmit) -> Request | Response:
    return parse_datagram(effect.data)


def status_of(effect: Transmit) -> int:
    msg = parsed(effect)
    assert isinstance(msg, Response)
    return msg.status
