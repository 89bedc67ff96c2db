"""Stub of the C scanners (``_scan.c``, built by setup.py): see its header comment."""

from .message import Header

def split_lines(
    head: str,
    out: list[Header],
    singles: dict[str, str],
    via_values: list[str],
    keys: dict[str, str],
    single: frozenset[str],
    header_type: type[Header],
    /,
) -> str | None: ...
def plain_param(text: str, wanted: str, not_plain: str, /) -> str | None: ...
