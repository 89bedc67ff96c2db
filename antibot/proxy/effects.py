"""Addresses and the effects the proxy core asks its transport adapter to carry out."""

from __future__ import annotations

from dataclasses import dataclass

from ..sip.message import Request


@dataclass(unsafe_hash=True)
class Addr:
    """A transport address: ``transport`` is ``udp`` or ``tcp``; IPv6 hosts are unbracketed."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


@dataclass(unsafe_hash=True)
class Transmit:
    """Send ``data`` to ``dest`` (for TCP: on the connection to that remote address, opened if needed)."""

    data: bytes
    dest: Addr


@dataclass(unsafe_hash=True)
class NeedVerdict:
    """A new INVITE waits for the decision hook; answer with ``ProxyCore.apply_verdict(ticket, ...)``."""

    ticket: int
    request: Request
    source: Addr


@dataclass(unsafe_hash=True)
class CallOutcome:
    """How a relayed call ended, for the detector's failure/short-call counters.

    ``status`` is the final response to the INVITE (0: no answer at all); ``duration`` is
    the time from the 2xx to the BYE, for answered calls.
    """

    call_ref: str
    source: Addr
    status: int
    duration: float | None


ProxyEffect = Transmit | NeedVerdict | CallOutcome
