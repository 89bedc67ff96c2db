"""Header helpers: the string-method token and plain-parameter checks say what their regular
expressions (RFC 3261 §25.1 token, generic-param without LWS or quotes) said."""

from __future__ import annotations

import random
import re

from antibot.sip.headers import NOT_PLAIN, is_plain_params, is_token, plain_param

_TOKEN = r"A-Za-z0-9\-.!%*_+`'~"
TOKEN_RE = re.compile(f"[{_TOKEN}]+")
PLAIN_RE = re.compile(f'[{_TOKEN}]+(?:=[^;\\s"]+)?(?:;[{_TOKEN}]+(?:=[^;\\s"]+)?)*')
PIECES = [
    "a",
    "Z",
    "0",
    "-",
    ".",
    "!",
    "%",
    "*",
    "_",
    "+",
    "`",
    "'",
    "~",
    "=",
    ";",
    '"',
    " ",
    "\t",
    "é",
    "\x01",
    "\x85",
    "\xa0",
    "\x1f",
    "@",
    ":",
    "<",
    "branch",
    "rport",
    "z9hG4bK-1",
    "",
]


def test_is_token_is_the_token_grammar() -> None:
    rng = random.Random(3261)
    for _ in range(20_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randrange(6)))
        assert is_token(text) == (TOKEN_RE.fullmatch(text) is not None), repr(text)


def test_plain_params_never_accepts_what_the_grammar_refuses() -> None:
    rng = random.Random(25)
    agree = 0
    for _ in range(50_000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randrange(10)))
        plain = PLAIN_RE.fullmatch(text) is not None
        if is_plain_params(text):
            assert plain, repr(text)  # accepted: lazily split by the plain path, so it must be plain
        # refusing a plain list is allowed only for control characters (the general path parses it)
        assert is_plain_params(text) or not plain or not text.isprintable(), repr(text)
        agree += is_plain_params(text) == plain
    assert agree > 49_000


def test_plain_param_finds_a_value_and_checks_the_list_in_one_pass() -> None:
    assert plain_param("branch=z9hG4bK-1;rport", "branch") == "z9hG4bK-1"
    assert plain_param("rport;BRANCH=x;branch=y", "branch") == "x"  # first one, names case-insensitive
    assert plain_param("rport;lr", "lr") == ""  # a flag
    assert plain_param("rport=5060", "branch") is None
    assert plain_param('branch=x;q="a b"', "branch") == NOT_PLAIN  # not plain: the general parser decides
    assert plain_param("branch=x;;rport", "branch") == NOT_PLAIN
