"""Hypothesis strategies for SIP fuzzing, seeded from the RFC 4475 / RFC 5118 corpora.

A message is a seed (every conformance message, valid or not, as sent on the wire) with a list
of edits: a hostile token (:data:`._fuzz.TOKENS`) or arbitrary bytes put inside a header's
value, one of its digits made non-ASCII ("¹²³"), a token inserted or overwritten anywhere, a span
deleted, a header line repeated, a hostile header line added (:data:`._fuzz.LINES`), or the
message cut short. Hypothesis shrinks a failure to its smallest edit list.

The budget: :data:`EXAMPLES` per property, seconds in CI; ``ANTIBOT_FUZZ_EXAMPLES=20000`` for a
few minutes on a bench (docs/reliability.md). Runs are derandomized with no example database, so
CI is reproducible and a failure reproduces with the same command.
"""

from __future__ import annotations

import os
import re
from functools import cache
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ._fuzz import LINES, TOKENS
from ._support import CONFORMANCE, MISSING, load, manifest
from .test_rfc5118 import wire

#: Examples per property; the environment variable raises it for a longer run.
EXAMPLES = int(os.environ.get("ANTIBOT_FUZZ_EXAMPLES", "1000"))


def fuzz_settings(examples: int = EXAMPLES) -> Any:
    """Bounded, reproducible: no deadline (pure Python on a loaded CI box), derandomized, no database."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@cache
def corpus() -> tuple[bytes, ...]:
    """Every RFC 4475 and RFC 5118 message as bytes on the wire (valid and invalid alike)."""
    out: list[bytes] = []
    for suite in ("rfc4475", "rfc5118"):
        rows = manifest(suite)
        assert rows and CONFORMANCE.is_dir(), MISSING
        for row in rows:
            data = load(suite, row)
            out.append(wire(row["name"], data) if suite == "rfc5118" else data)
    return tuple(out)


#: Edit kinds; "value" twice: most of the parsing is in header values.
KINDS = ("value", "value", "value-bytes", "digit", "insert", "overwrite", "bytes", "delete", "repeat", "line", "cut")
_EDIT = st.tuples(
    st.sampled_from(KINDS),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.sampled_from(TOKENS + LINES),
    st.binary(max_size=12),
    st.integers(min_value=1, max_value=40),
)


_COLON = re.compile(rb"\r\n[^\r\n:]*:[ \t]*")
_DIGIT = re.compile(rb"[0-9]")


def _apply(seed: bytes, edits: list[tuple[str, float, bytes, bytes, int]]) -> bytes:
    buf = bytearray(seed)
    for kind, where, token, raw, span in edits:
        at = min(int(where * len(buf)), len(buf))
        if kind.startswith("value"):  # into the value of the header line picked by ``span``
            lines = [m.end() for m in _COLON.finditer(buf)]
            if lines:
                start = lines[span % len(lines)]
                end = buf.find(b"\r\n", start)
                end = len(buf) if end < 0 else end
                spot = start + int(where * (end - start))
                buf[spot:spot] = raw if kind == "value-bytes" else token
        elif kind == "digit":  # a number read as "¹²³" (latin-1): str.isdigit() takes it, int() does not
            lines = [m.end() for m in _COLON.finditer(buf)]
            if lines:
                found = _DIGIT.search(buf, lines[span % len(lines)])
                if found:
                    buf[found.start() : found.end()] = b"\xb2\xb3\xb9"[span % 3 : span % 3 + 1]
        elif kind == "insert":
            buf[at:at] = token
        elif kind == "overwrite":
            buf[at : at + span] = token
        elif kind == "bytes":
            buf[at:at] = raw
        elif kind == "delete":
            del buf[at : at + span]
        elif kind == "repeat":
            start = buf.find(b"\r\n", at)
            end = buf.find(b"\r\n", start + 2) if start >= 0 else -1
            if 0 <= start < end:
                buf[end:end] = buf[start:end]
        elif kind == "line":
            first = buf.find(b"\r\n")
            if first >= 0:
                buf[first + 2 : first + 2] = token + b"\r\n"
        else:
            del buf[at:]
    return bytes(buf)


@st.composite
def messages(draw: Any, seeds: tuple[bytes, ...] | None = None) -> bytes:
    """A conformance message (or one of ``seeds``) with zero to six edits."""
    seed = draw(st.sampled_from(seeds or corpus()))
    return _apply(seed, draw(st.lists(_EDIT, max_size=6)))
