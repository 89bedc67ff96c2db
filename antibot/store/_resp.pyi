"""Stub of the C RESP encoder (``_resp.c``, built by setup.py): see its header comment."""

from collections.abc import Sequence

def pack(commands: Sequence[Sequence[str | bytes | int | float]], /) -> bytes: ...
