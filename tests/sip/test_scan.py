"""The parser's scanners, in Python and in C (``antibot/sip/_scan.c``), over both implementations.

``parser._split_headers`` runs the C splitter first when it is built and falls back to
``parser._split_lines``; ``headers.plain_param`` runs C when built, else ``headers._plain_param``.
Each test taking the ``impl`` parameter runs once per implementation ("python", and "c" when
the extension is built; skipped in a pure-Python install, as with no C compiler or
``ANTIBOT_PURE=1``): the torture messages and thousands of mutations of them must split into
headers that satisfy a simple model of RFC 3261 §7.3.1, and fixed sections and parameter lists
give fixed answers. The C-only tests compare C exactly with the Python reference (the same
headers, Via values, single headers, repeated key, or error) and check what C hands to Python.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from antibot.sip import headers, parser
from antibot.sip.errors import ParseError, SipError
from antibot.sip.header import Header
from antibot.sip.headers import KEYS, NOT_PLAIN, SINGLE, header_key
from antibot.sip.parser import Split

from ._support import CONFORMANCE, MISSING

C_BUILT = parser.C_LINES is not None
needs_c = pytest.mark.skipif(not C_BUILT, reason="pure-Python install: no C scanners")

Splitter = Callable[[str], Split]
ParamFinder = Callable[[str, str], "str | None"]


@pytest.fixture(params=["python", pytest.param("c", marks=needs_c)])
def impl(request: pytest.FixtureRequest) -> str:
    """The implementation under test; "c" skips when the extension is not built."""
    return str(request.param)


@pytest.fixture
def split(impl: str) -> Splitter:
    """The header-section splitter: the parser's own (C first) or the Python reference alone."""
    return parser._split_headers if impl == "c" else parser._split_lines


@pytest.fixture
def plain_param(impl: str) -> ParamFinder:
    c = headers.C_PLAIN_PARAM
    if impl == "python":
        return headers._plain_param
    assert c is not None
    return lambda text, wanted: c(text, wanted, NOT_PLAIN)


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


def _outcome(split: Callable[[str], Any], head: str) -> tuple[Any, ...]:
    try:
        out, singles, vias, repeated = split(head)
    except SipError as exc:
        return (type(exc).__name__, str(exc))
    assert all(type(h) is Header for h in out)
    return [tuple(h) for h in out], singles, vias, repeated


def _check(split: Splitter, head: str) -> bool:
    """Split ``head`` and check the result against a model of RFC 3261 §7.3.1 (or a 400); True
    when it split. The lines are the section's, in order; keys, Via values, single headers and
    the repeated key follow from the headers."""
    try:
        out, singles, vias, repeated = split(head)
    except ParseError:
        return False
    assert all(type(h) is Header for h in out)
    assert "".join(h.line for h in out) == head + "\r\n"
    assert len(out) == sum(1 for line in head.split("\r\n") if line[:1] not in (" ", "\t"))  # folding
    for h in out:
        assert h.key == header_key(h.name) and h.line.startswith(h.name) and h.value == h.value.strip()
    assert vias == [h.value for h in out if h.key == "via"]
    want_singles: dict[str, str] = {}
    want_repeated = ""
    for h in out:
        if h.key in SINGLE and not want_repeated:
            if h.key not in want_singles:
                want_singles[h.key] = h.value
            elif h.key != "content-length" or want_singles[h.key] != h.value:
                want_repeated = h.key
    assert (singles, repeated) == (want_singles, want_repeated)
    return True


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


def test_every_torture_header_section_splits_as_the_model_says(split: Splitter) -> None:
    results = [_check(split, head) for head in _heads()]
    assert sum(results) > len(results) / 2  # most split; the rest are 400s


def test_thousands_of_mutated_sections_split_as_the_model_says(split: Splitter) -> None:
    rng = random.Random(4475)
    results = [_check(split, mutated) for head in _heads() for mutated in _mutations(head, rng, 40)]
    assert len(results) >= 2000 and len(results) / 4 < sum(results) < len(results)


EDGE_CASES = [  # head, then (number of headers, Via values, repeated key), None for a 400
    ("Via: a\r\nVia: b\r\nCall-ID: x\r\nCall-ID: y", (4, ["a", "b"], "call-id")),  # repeated single header
    ("Content-Length: 5\r\nContent-Length: 5\r\nCSeq: 1 A\r\nCSeq: 2 A", (4, [], "cseq")),  # same CL tolerated
    ("Content-Length: 5\r\nContent-Length: 6", (2, [], "content-length")),
    ("Via: a\r\n\r\nTo: b", None),  # an empty line inside (never from the framing, still handled)
    ("Via: a\r\n", None),  # ends with CRLF: an empty last line
    ("Via a", None),  # no colon
    ("Via: a\r\n b", (1, ["a b"], "")),  # folded
    (" Via: a", None),  # starts folded
    ("Bad Name: x\r\nVia: a", None),
    ("Via : a", (1, ["a"], "")),  # space before the colon
    ("X-Unseen-Header-Name-For-Lines-Test: 1", (1, [], "")),
    ("v: a\r\nf: <sip:a@b>\r\nt: <sip:c@d>\r\ni: x\r\nl: 0", (5, ["a"], "")),
    ("Via:\xa0a\xa0\r\nTo:\x85b\x85", (2, ["a"], "")),  # latin-1 whitespace, as str.strip sees it
    ("Via: a\rb\r\nTo: c\nd", (2, ["a\rb"], "")),  # bare CR and LF stay inside lines
    ("Subject: caf\xe9\r\nVia: x", (2, ["x"], "")),
]


@pytest.mark.parametrize(("head", "expected"), EDGE_CASES)
def test_edge_cases(split: Splitter, head: str, expected: tuple[int, list[str], str] | None) -> None:
    for _ in range(2):  # again, now that any new name is cached in KEYS
        if expected is None:
            with pytest.raises(ParseError):
                split(head)
        else:
            out, _, vias, repeated = split(head)
            assert (len(out), vias, repeated) == expected
        _check(split, head)


def test_the_usual_section(split: Splitter) -> None:
    parser._split_lines(INVITE)  # every name known (C leaves new names to Python)
    out, singles, vias, repeated = split(INVITE)
    assert repeated == ""
    assert [h.key for h in out][:3] == ["via", "max-forwards", "from"]
    assert out[-1] == Header("Content-Length", "content-length", "129", "Content-Length: 129\r\n")
    assert vias == ["SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0;rport"]
    assert singles["call-id"] == "1-1234@127.0.0.1" and "via" not in singles
    assert split("Via: a\r\nVia: b\r\nTo: x\r\nTo: y")[3] == "to"
    assert split("") == ([], {}, [], "")


@needs_c
def test_c_splits_exactly_as_the_python_reference() -> None:
    rng = random.Random(5118)
    for head in [*_heads(), *(head for head, _ in EDGE_CASES)]:
        for variant in [head, *_mutations(head, rng, 20)]:
            _same(variant)
            _same(variant)  # again, now that the reference cached any new name in KEYS


@needs_c
def test_the_usual_section_is_split_in_c() -> None:
    assert parser.C_LINES is not None
    parser._split_lines(INVITE)  # every name known
    split = parser.C_LINES(INVITE, KEYS, SINGLE, Header)
    assert split is not None and split == parser._split_lines(INVITE)
    assert parser.C_LINES(INVITE, KEYS, SINGLE, Header) is not split  # a new result each time


@needs_c
@pytest.mark.parametrize("head", ["Via: a\r\n b", "Via a", "Via: a\r\n\r\nTo: b", "Never-Seen-Name-C-Lines: 1", ""])
def test_what_c_does_not_handle_goes_to_python(head: str) -> None:
    assert parser.C_LINES is not None
    KEYS.pop("Never-Seen-Name-C-Lines", None)
    assert parser.C_LINES(head, KEYS, SINGLE, Header) is None


@needs_c
def test_wrong_arguments_are_a_type_error_not_a_crash() -> None:
    assert parser.C_LINES is not None
    with pytest.raises(TypeError):
        parser.C_LINES(b"Via: a", KEYS, SINGLE, Header)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parser.C_LINES("Via: a", KEYS, SINGLE, dict)  # type: ignore[arg-type]
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


def test_plain_param(plain_param: ParamFinder) -> None:
    assert plain_param("rport;Branch=z9hG4bK.a=b;lr", "branch") == "z9hG4bK.a=b"
    assert plain_param("branch=1;branch=2", "branch") == "1"  # the first
    assert plain_param("rport;branch", "branch") == ""
    assert plain_param("rport", "branch") is None
    assert plain_param("rport;lr", "") is None  # "" only checks that the list is plain
    for bad in ("", ";rport", "rport;", "branch=", 'a="b"', "a=b c", "a\x7f=b", "a=\x85", "\u0100=1"):
        assert plain_param(bad, "branch") == NOT_PLAIN, bad
    assert plain_param("a=\u0100;branch=\U0001f600", "branch") == "\U0001f600"  # any str kind


@needs_c
def test_plain_param_in_c_refuses_bytes() -> None:
    c = headers.C_PLAIN_PARAM
    assert c is not None
    with pytest.raises(TypeError):
        c(b"branch=1", "branch", NOT_PLAIN)  # type: ignore[arg-type]
