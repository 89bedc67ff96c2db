"""Worker processes of one node sharing the public SIP port (``SO_REUSEPORT``): what lands on a
worker that does not hold its state is handed to the other workers.

The kernel spreads datagrams over the workers by address 4-tuple, or with ``udp_spread =
"transaction"`` by their top Via (:mod:`antibot.transport.steer`); either way an INVITE's CANCEL
normally reaches the worker holding the INVITE (RFC 3261 §16.10). It does not after a worker
restart reshuffles the group, or when the caller sends it from another port or puts another
header first. The PBX's BYE lands by the PBX's own address, so the end of an answered call is
told to the worker that times it. Spread by transaction, a request of a dialog carries a new
branch and lands on any worker: one that names only us (a caller's UA that ignored our
Record-Route) is relayed so that the worker that knows the dialog's remote target forwards it.
A relayed frame carries the original source so the worker that holds the state answers the
caller itself. A CANCEL and a request of a dialog go round the workers as a ring, each asking the
next, with the count of workers still to ask: the last one, when none holds the state, answers
as a lone process would (481 to the CANCEL, 404 to the request); an ACK goes to every sibling at
once and a worker that holds nothing stays silent.
"""

from __future__ import annotations

from typing import Final

from .effects import Addr

#: First bytes of a relayed request (never the start of a SIP message).
RELAY_PREFIX: Final = b"ANTIBOT-RELAY "
#: First bytes of the notice that a BYE ended the call with this Call-ID.
ENDED_PREFIX: Final = b"ANTIBOT-ENDED "


def wrap(data: bytes, source: Addr, left: int = 0) -> bytes:
    """``data`` as relayed to a sibling worker, with the address it came from; ``left``: the
    workers still to ask, the receiver included (0: sent to every sibling at once)."""
    ring = b" %d" % left if left > 0 else b""
    host = source.host.encode()
    return b"%s%s %s %d%s\r\n%s" % (RELAY_PREFIX, source.transport.encode(), host, source.port, ring, data)


def unwrap(frame: bytes) -> tuple[bytes, Addr, int] | None:
    """The message, original source and workers still to ask (see :func:`wrap`) of a relayed
    frame; None if it is not one."""
    if not frame.startswith(RELAY_PREFIX):
        return None
    end = frame.find(b"\r\n")
    fields = frame[len(RELAY_PREFIX) : end].split(b" ") if end > 0 else []
    if len(fields) not in (3, 4) or fields[0] != b"udp" or not all(f.isdigit() for f in fields[2:]):
        return None
    left = int(fields[3]) if len(fields) == 4 else 0
    return frame[end + 2 :], Addr("udp", fields[1].decode("latin-1"), int(fields[2])), left


def ended_notice(call_id: str) -> bytes:
    """The notice to the siblings that a BYE of ``call_id`` was relayed."""
    return ENDED_PREFIX + call_id.encode("latin-1")


def ended_call(frame: bytes) -> str | None:
    """The Call-ID of an :func:`ended_notice`; None if ``frame`` is not one."""
    if not frame.startswith(ENDED_PREFIX) or len(frame) == len(ENDED_PREFIX):
        return None
    return frame[len(ENDED_PREFIX) :].decode("latin-1")
