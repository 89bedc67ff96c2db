"""Stub of the C scanners (``_scan.c``, built by setup.py): see its header comment."""

from .header import Header

def split_lines(
    head: str,
    keys: dict[str, str],
    single: frozenset[str],
    header_type: type[Header],
    /,
) -> tuple[list[Header], dict[str, str], list[str], str] | None: ...
def plain_param(text: str, wanted: str, not_plain: str, /) -> str | None: ...
