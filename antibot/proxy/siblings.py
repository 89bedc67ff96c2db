"""Worker processes of one node sharing the public SIP port (``SO_REUSEPORT``): a CANCEL that
lands on a worker that does not hold its INVITE is handed to the other workers (RFC 3261 §16.10).

The kernel spreads datagrams over the workers by address 4-tuple, so a caller's CANCEL normally
reaches the worker holding the INVITE; it does not after a worker restart reshuffles the group, or
when the caller sends from another port. The frame carries the original source so the worker that
holds the INVITE answers the caller itself; a worker that holds nothing stays silent.
"""

from __future__ import annotations

from typing import Final

from .effects import Addr

#: First bytes of a relayed CANCEL (never the start of a SIP message).
RELAY_PREFIX: Final = b"ANTIBOT-RELAY "


def wrap(data: bytes, source: Addr) -> bytes:
    """``data`` as relayed to a sibling worker, with the address it came from."""
    return b"%s%s %s %d\r\n%s" % (RELAY_PREFIX, source.transport.encode(), source.host.encode(), source.port, data)


def unwrap(frame: bytes) -> tuple[bytes, Addr] | None:
    """The message and original source of a relayed frame; None if it is not one."""
    if not frame.startswith(RELAY_PREFIX):
        return None
    end = frame.find(b"\r\n")
    fields = frame[len(RELAY_PREFIX) : end].split(b" ") if end > 0 else []
    if len(fields) != 3 or fields[0] != b"udp" or not fields[2].isdigit():
        return None
    return frame[end + 2 :], Addr("udp", fields[1].decode("latin-1"), int(fields[2]))
