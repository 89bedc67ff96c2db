"""The RESP encoder of the Redis batches, in C (``antibot/store/_resp.c``) against its Python
reference (``commands._pack``, which encodes with ``hiredis.pack_command``).

``commands.pack`` runs C when the extension is built. The C-only tests (skipped in a pure-Python
install) compare the two byte for byte on generated commands (every argument type, integers
past 64 bits, floats, lone surrogates, empty commands), refuse what the reference refuses with
the same error, and decode the result as RESP arrays of bulk strings (RESP2).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antibot.store import commands
from antibot.store.commands import Command

C_PACK = commands.C_PACK
needs_c = pytest.mark.skipif(C_PACK is None, reason="pure-Python install: no C encoder")

ARGS = st.one_of(
    st.text(),  # surrogates included: passed through as UTF-8 ("surrogatepass")
    st.binary(),
    st.integers(),  # beyond 64 bits too
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
COMMANDS = st.lists(st.one_of(st.tuples(*[ARGS] * 3), st.lists(ARGS, max_size=12)), max_size=8)


def decode(data: bytes) -> list[list[bytes]]:
    """RESP arrays of bulk strings back into their arguments (strict: fails on anything else)."""
    out: list[list[bytes]] = []
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 1] == b"*"
        end = data.index(b"\r\n", pos)
        argc = int(data[pos + 1 : end])
        pos = end + 2
        args = []
        for _ in range(argc):
            assert data[pos : pos + 1] == b"$"
            end = data.index(b"\r\n", pos)
            size = int(data[pos + 1 : end])
            args.append(data[end + 2 : end + 2 + size])
            assert data[end + 2 + size : end + 4 + size] == b"\r\n"
            pos = end + 4 + size
        out.append(args)
    return out


def expected(command: Sequence[object]) -> list[bytes]:
    def one(a: object) -> bytes:
        if isinstance(a, bytes):
            return a
        if isinstance(a, str):
            return a.encode("utf-8", "surrogatepass")
        return repr(a).encode()

    return [one(a) for a in command]


@given(COMMANDS)
@settings(max_examples=300, deadline=None)
def test_pack_writes_each_argument_as_a_bulk_string(cmds: list[Command]) -> None:
    assert decode(commands.pack(cmds)) == [expected(c) for c in cmds]


@needs_c
@given(COMMANDS)
@settings(max_examples=500, deadline=None)
def test_c_matches_the_python_reference_byte_for_byte(cmds: list[Command]) -> None:
    assert C_PACK is not None
    assert C_PACK(cmds) == commands._pack(cmds)


@needs_c
def test_c_edges_match_the_reference() -> None:
    assert C_PACK is not None
    edges: list[Command] = [
        (),
        ("",),
        ("GET", "k"),
        ("X", 0, -1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**40),
        ("X", 0.0, -0.0, 1e-7, 1e20, float("inf"), float("nan"), 123456789.12345679),
        ("X", "é€😀", "\udcff", "a\udc80b", b"\x00\r\n"),
        ["SET", "k", "v", "EX", 60],
    ]
    assert C_PACK(edges) == commands._pack(edges)
    assert C_PACK([]) == commands._pack([]) == b""
    assert C_PACK(iter([iter(("GET", "k"))])) == commands._pack([("GET", "k")])  # any iterables


@needs_c
@pytest.mark.parametrize("bad", [[("X", True)], [("X", None)], [("X", [1])], [("X", bytearray(b"a"))]])
def test_c_refuses_what_the_reference_refuses(bad: list[Command]) -> None:
    assert C_PACK is not None
    with pytest.raises(TypeError, match="must be str, int, float or bytes"):
        commands._pack(bad)
    with pytest.raises(TypeError, match="must be str, int, float or bytes"):
        C_PACK(bad)


@needs_c
def test_c_refuses_a_command_that_is_not_a_sequence() -> None:
    assert C_PACK is not None
    with pytest.raises(TypeError):
        C_PACK([5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        C_PACK(5)  # type: ignore[arg-type]
