"""One header line as received (RFC 3261 §7.3). A leaf: every other module of the package may
import it, so errors can carry the lines read before them without an import circle."""

from __future__ import annotations

from typing import NamedTuple


class Header(NamedTuple):
    """One header line: original ``name`` spelling, canonical ``key``, unfolded ``value``.

    ``line`` is the exact wire text (latin-1, folding kept) including the final CRLF. A tuple
    of strings, so the garbage collector stops tracking it: a busy proxy holds many.
    """

    name: str
    key: str
    value: str
    line: str
