"""name-addr / addr-spec values of From, To, Contact, Route and Record-Route (RFC 3261 §20.10, §25.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import ParseError
from .headers import is_token, parse_params
from .memo import Memo


# Explicit __init__s (init=False): mypyc compiles them; a dataclass's generated one stays interpreted
# and ran several times per message.
@dataclass(init=False, unsafe_hash=True)
class NameAddr:
    """``display <uri>;params``. ``uri`` is kept as text; header params are parsed."""

    display: str | None
    uri: str
    params: tuple[tuple[str, str | None], ...]
    bracketed: bool

    def __init__(
        self, display: str | None, uri: str, params: tuple[tuple[str, str | None], ...], bracketed: bool
    ) -> None:
        self.display = display
        self.uri = uri
        self.params = params
        self.bracketed = bracketed

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value if value is not None else ""
        return None

    @property
    def tag(self) -> str | None:
        return self.param("tag")


#: The common shape: an optional plain quoted display name, ``<uri>``, then parameters.
_PLAIN = re.compile(r'(?:("[^"\\]*")\s*)?<([^<>\s]+)>\s*(?:;(.*))?', re.DOTALL)


#: Parsed values by text; only a value that parsed is kept (an error names its header).
_PARSED: Final[Memo[str, NameAddr]] = Memo()


def parse_name_addr(value: str, what: str) -> NameAddr:
    """Parse one From/To/Contact/Route value.

    Refuses an unterminated quote (RFC 4475 §3.1.2.6), spaces inside ``<>`` (§3.1.2.14),
    an unquoted display name with non-token characters (§3.1.2.15) and a bare URI with
    ``?`` headers, which must be bracketed (RFC 3261 §20, RFC 4475 §3.1.2.13). A message
    keeps what it parsed (its From and To, its Route set); across messages, a call's values
    repeat. The result is shared between callers: never modify it.
    """
    known = _PARSED.get(value)
    return known if known is not None else _PARSED.put(value, _parse_name_addr(value, what))


def _parse_name_addr(value: str, what: str) -> NameAddr:
    text = value.strip()
    plain = _PLAIN.fullmatch(text)
    if plain is not None and ":" in plain.group(2):
        rest = plain.group(3)
        return NameAddr(plain.group(1), plain.group(2), tuple(parse_params(rest, what)) if rest else (), True)
    display: str | None = None
    if text.startswith('"'):
        i = 1
        n = len(text)
        while i < n:
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                break
            i += 1
        else:
            raise ParseError(f"unterminated quoted display name in {what}")
        display = text[: i + 1]
        text = text[i + 1 :].lstrip()
        if not text.startswith("<"):
            raise ParseError(f"quoted display name without <uri> in {what}")
    lt = text.find("<")
    if lt >= 0:
        if display is None and lt > 0:
            name = text[:lt].strip()
            if not all(is_token(word) for word in name.split()):
                raise ParseError(f"display name in {what} must be quoted")
            display = name or None
        gt = text.find(">", lt)
        if gt < 0:
            raise ParseError(f"missing '>' in {what}")
        uri = text[lt + 1 : gt]
        if not uri or uri != uri.strip():
            raise ParseError(f"whitespace inside <> in {what}")
        rest = text[gt + 1 :].strip()
        bracketed = True
    else:
        semi = text.find(";")
        uri, rest = (text, "") if semi < 0 else (text[:semi], text[semi:])
        uri = uri.strip()
        if not uri or any(ch in uri for ch in " \t?,"):
            raise ParseError(f"URI in {what} must be enclosed in <>")
        bracketed = False
    if rest:
        if not rest.startswith(";"):
            raise ParseError(f"junk after URI in {what}")
        params = tuple(parse_params(rest[1:], what))
    else:
        params = ()
    if ":" not in uri:
        raise ParseError(f"URI without scheme in {what}")
    return NameAddr(display, uri, params, bracketed)
