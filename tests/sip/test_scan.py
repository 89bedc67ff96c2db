"""The C scanners (``antibot/sip/_scan.c``) against their Python references.

``parser._split_headers`` runs the C splitter first when it is built and falls back to
``parser._split_lines``; both must leave exactly the same headers, Via values, single
headers, repeated key or error, on the torture messages and on thousands of mutations of
them. ``headers.plain_param`` in C must answer exactly as ``headers._plain_param``. In a
pure-Python install (no C compiler, ``ANTIBOT_PURE=1``) the C module is absent: the comparisons
would compare Python with itself, so they are skipped (the Python paths have their own tests).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from antibot.sip import headers, parser
from antibot.sip.errors import SipError
from antibot.sip.headers import KEYS, NOT_PLAIN, SINGLE
from antibot.sip.message import Header

from ._support import CONFORMANCE, MISSING

C_BUILT = parser.C_LINES is not None
needs_c = pytest.mark.skipif(not C_BUILT, reason="pure-Python install: no C scanners")

INVITE = (
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0;rport\r\n"
    "Max-Forwards: 70\r\n"
    'From: "Caller 1" <sip:74951@127.0.0.1:5061>;tag=1234SIPpTag001\r\n'
    "To: <sip:service@127.0.0.1:5060>\r\n"
    "Call-ID: 1-1234@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:sipp@127.0.0.1:5061>\r\n"
    "User-Agent: Grandstream GXP2170 1.0.11.23\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 129"
)


def _heads() -> list[str]:
    """The header sections (without the start line) of every conformance message, and INVITE."""
    heads = [INVITE]
    files = sorted(CONFORMANCE.glob("rfc*/*.dat"))
    assert files, MISSING
    for path in files:
        data = path.read_bytes()
        end = data.find(b"\r\n\r\n")
        text = data[: end if end >= 0 else len(data)].decode("latin-1")
        head = text.partition("\r\n")[2]
        if head:
            heads.append(head)
    return heads


def _outcome(split: Any, head: str) -> tuple[Any, ...]:
    out: list[Header] = []
    singles: dict[str, str] = {}
    vias: list[str] = []
    try:
        result: Any = split(head, out, singles, vias)
    except SipError as exc:
        result = (type(exc).__name__, str(exc))
    assert all(type(h) is Header for h in out)
    return result, [tuple(h) for h in out], singles, vias


def _same(head: str) -> None:
    reference = _outcome(parser._split_lines, head)  # also caches new names in KEYS
    assert _outcome(parser._split_headers, head) == reference, repr(head)


_NOISE = ["\r\n", "\r", "\n", " ", "\t", ":", ";", ",", "\x85", "\xa0", "\xe9", "\x1c", "\r\n ", "\r\n\t", "a"]


def _mutations(head: str, rng: random.Random, n: int) -> list[str]:
    lines = head.split("\r\n")
    out = []
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:  # noise at a random place
            i = rng.randrange(len(head) + 1)
            out.append(head[:i] + rng.choice(_NOISE) + head[i:])
        elif kind == 1:  # a character removed
            i = rng.randrange(len(head))
            out.append(head[:i] + head[i + 1 :])
        elif kind == 2:  # a line repeated
            i = rng.randrange(len(lines))
            out.append("\r\n".join(lines[: i + 1] + lines[i:]))
        elif kind == 3:  # lines shuffled
            shuffled = lines[:]
            rng.shuffle(shuffled)
            out.append("\r\n".join(shuffled))
        else:  # whitespace around a value
            i = rng.randrange(len(lines))
            name, colon, value = lines[i].partition(":")
            pad = rng.choice(["", " ", "  ", "\t", " \xa0", "\x85"])
            out.append("\r\n".join([*lines[:i], f"{name}{colon}{pad}{value}{pad}", *lines[i + 1 :]]))
    return out


@needs_c
def test_every_torture_header_section_splits_the_same() -> None:
    for head in _heads():
        _same(head)


@needs_c
def test_thousands_of_mutated_sections_split_the_same() -> None:
    rng = random.Random(4475)
    for head in _heads():
        for mutated in _mutations(head, rng, 40):
            _same(mutated)


@needs_c
@pytest.mark.parametrize(
    "head",
    [
        "Via: a\r\nVia: b\r\nCall-ID: x\r\nCall-ID: y",  # repeated single header
        "Content-Length: 5\r\nContent-Length: 5\r\nCSeq: 1 A\r\nCSeq: 2 A",  # same CL tolerated, then CSeq
        "Content-Length: 5\r\nContent-Length: 6",
        "Via: a\r\n\r\nTo: b",  # an empty line inside (never from the framing, still handled)
        "Via: a\r\n",  # ends with CRLF
        "Via a",  # no colon
        "Via: a\r\n b",  # folded
        " Via: a",  # starts folded
        "Bad Name: x\r\nVia: a",
        "Via : a",  # space before the colon
        "X-Unseen-Header-Name-For-Lines-Test: 1",
        "v: a\r\nf: <sip:a@b>\r\nt: <sip:c@d>\r\ni: x\r\nl: 0",
        "Via:\xa0a\xa0\r\nTo:\x85b\x85",  # latin-1 whitespace, as str.strip sees it
        "Via: a\rb\r\nTo: c\nd",  # bare CR and LF stay inside lines
        "Subject: caf\xe9\r\nVia: x",
    ],
)
def test_edge_cases_split_the_same(head: str) -> None:
    _same(head)
    _same(head)  # again, now that the reference cached any new name in KEYS


@needs_c
def test_the_usual_section_is_split_in_c() -> None:
    out: list[Header] = []
    singles: dict[str, str] = {}
    vias: list[str] = []
    assert parser.C_LINES is not None
    parser._split_lines(INVITE, [], {}, [])  # every name known
    assert parser.C_LINES(INVITE, out, singles, vias, KEYS, SINGLE, Header) == ""
    assert [h.key for h in out][:3] == ["via", "max-forwards", "from"]
    assert out[-1] == Header("Content-Length", "content-length", "129", "Content-Length: 129\r\n")
    assert vias == ["SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0;rport"]
    assert singles["call-id"] == "1-1234@127.0.0.1" and "via" not in singles
    assert parser.C_LINES("Via: a\r\nVia: b\r\nTo: x\r\nTo: y", [], {}, [], KEYS, SINGLE, Header) == "to"


@needs_c
@pytest.mark.parametrize("head", ["Via: a\r\n b", "Via a", "Via: a\r\n\r\nTo: b", "Never-Seen-Name-C-Lines: 1"])
def test_what_c_does_not_handle_goes_to_python(head: str) -> None:
    assert parser.C_LINES is not None
    KEYS.pop("Never-Seen-Name-C-Lines", None)
    assert parser.C_LINES(head, [], {}, [], KEYS, SINGLE, Header) is None


@needs_c
def test_wrong_arguments_are_a_type_error_not_a_crash() -> None:
    assert parser.C_LINES is not None
    with pytest.raises(TypeError):
        parser.C_LINES(b"Via: a", [], {}, [], KEYS, SINGLE, Header)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parser.C_LINES("Via: a", [], {}, [], KEYS, SINGLE, dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parser.C_LINES("Via: a")  # type: ignore[call-arg]


@pytest.mark.skipif(not str(parser.__file__).endswith(".so"), reason="pure-Python build: nothing compiled")
def test_a_compiled_parser_has_the_c_splitter() -> None:
    """A build that compiled the parser must have built ``_scan.c`` too (same compiler)."""
    assert C_BUILT and headers.C_PLAIN_PARAM is not None


# --- plain_param ----------------------------------------------------------------------------

_WANTED = ("branch", "", "rport", "received", "tag", "lr", "transport")


def _param_lists() -> list[str]:
    """Every ``;``-parameter tail in the conformance messages and INVITE, plus mutations."""
    tails = {"branch=z9hG4bK-1;rport", "rport;branch=z9hG4bK1;received=10.0.0.1", "lr", "BRANCH=x;Branch=y"}
    for head in _heads():
        for line in head.split("\r\n"):
            value = line.partition(":")[2]
            if ";" in value:
                tails.add(value.partition(";")[2])
    rng = random.Random(3261)
    noise = ["", ";", "=", '"', " ", "\t", "\x7f", "\xad", "\xa0", "\u0100", "\U0001f600", "A", "%", "\x00"]
    out = sorted(tails)
    for tail in sorted(tails):
        for _ in range(15):
            i = rng.randrange(len(tail) + 1)
            out.append(tail[:i] + rng.choice(noise) + tail[i:])
    return out


@needs_c
def test_plain_param_in_c_answers_as_the_python_reference() -> None:
    lists = _param_lists()
    assert len(lists) > 500
    answers = set()
    for text in lists:
        for wanted in _WANTED:
            want = headers._plain_param(text, wanted)
            assert headers.plain_param(text, wanted) == want, (text, wanted)
            answers.add("not plain" if want == NOT_PLAIN else "none" if want is None else "found")
    assert answers == {"not plain", "none", "found"}


@needs_c
def test_plain_param_in_c() -> None:
    c = headers.C_PLAIN_PARAM
    assert c is not None
    assert c("rport;Branch=z9hG4bK.a=b;lr", "branch", NOT_PLAIN) == "z9hG4bK.a=b"
    assert c("rport;branch", "branch", NOT_PLAIN) == ""
    assert c("rport", "branch", NOT_PLAIN) is None
    for bad in ("", ";rport", "rport;", "branch=", 'a="b"', "a=b c", "a\x7f=b", "a=\x85", "\u0100=1"):
        assert c(bad, "branch", NOT_PLAIN) == NOT_PLAIN, bad
    assert c("a=\u0100;branch=\U0001f600", "branch", NOT_PLAIN) == "\U0001f600"  # any str kind
    with pytest.raises(TypeError):
        c(b"branch=1", "branch", NOT_PLAIN)  # type: ignore[arg-type]
