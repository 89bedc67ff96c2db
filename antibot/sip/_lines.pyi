"""Stub of the C header-line splitter (``_lines.c``, built by setup.py)."""

from .message import Header

def split(
    head: str,
    out: list[Header],
    singles: dict[str, str],
    via_values: list[str],
    keys: dict[str, str],
    single: frozenset[str],
    header_type: type[Header],
    /,
) -> str | None: ...
