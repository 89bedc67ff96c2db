"""Run a SIPVicious tool with a User-Agent of our choosing: ``python sipvicious_ua.py UA TOOL ARGS...``.

SIPVicious 0.3.8 has no option for it: every request is built by ``svhelper.makeRequest``, whose
``useragent`` parameter defaults to ``friendly-scanner`` and which no tool passes explicitly. An
attacker edits that default (one line); this does the same on the function object, which every
tool module shares, then runs the tool's ``main()`` with ``ARGS``. ``UA`` empty: the default.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def set_default(func: Any, name: str, value: object) -> None:
    """Give ``func``'s parameter ``name`` the default ``value``."""
    code = func.__code__
    names = code.co_varnames[: code.co_argcount]
    defaults = list(func.__defaults__ or ())
    defaults[names.index(name) - (len(names) - len(defaults))] = value
    func.__defaults__ = tuple(defaults)


def main(argv: list[str]) -> None:
    ua, tool, *args = argv
    from sipvicious.libs import svhelper  # type: ignore[import-untyped]

    if ua:
        set_default(svhelper.makeRequest, "useragent", ua)
    module = importlib.import_module(f"sipvicious.{tool}")
    if tool == "svcrack" and "-b" in args:
        set_default(module.ASipOfRedWine.__init__, "bindingip", args[args.index("-b") + 1])
    sys.argv = [f"sipvicious_{tool}", *args]
    module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
