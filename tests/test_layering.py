"""The import graph keeps its layers: what a package may not import, read from the source (AST)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The packages ``antibot run`` is built from (antibot/run wires them; they never import it).
_BELOW_RUN = (
    "antibot.sip",
    "antibot.transaction",
    "antibot.proxy",
    "antibot.transport",
    "antibot.detect",
    "antibot.store",
    "antibot.sim",
)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports (relative imports made absolute), with its line."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield node.lineno, base
            for alias in node.names:  # ``from . import x`` names a module too
                yield node.lineno, f"{base}.{alias.name}"


def offences(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        for line, name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


def test_imports_are_resolved_as_python_does() -> None:
    """The checker itself: relative imports of a proxy module are seen with their full names."""
    names = {name for _, name in imports(ROOT / "antibot/proxy/core.py")}
    assert {"antibot.proxy.decision", "antibot.sip.message", "antibot.proxy.routing"} <= names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # The proxy owns its decision contract (proxy/decision.py); detection implements it.
        ("antibot.proxy", ("antibot.detect",)),
        # Sans-IO: no event loop, sockets or Redis below the transport.
        ("antibot.sip", ("asyncio", "socket", "redis", "antibot.store", "antibot.transport")),
        ("antibot.transaction", ("asyncio", "socket", "redis", "antibot.store", "antibot.transport")),
        ("antibot.proxy", ("asyncio", "socket", "redis", "antibot.store", "antibot.transport")),
        # Start-up is wired in one place, antibot/run, and nothing below it reaches back up.
        *((package, ("antibot.run", "api")) for package in _BELOW_RUN),
        # The admin API is started by antibot/run: it never imports it back (find_model lives in detect).
        ("api", ("antibot.run",)),
    ],
)
def test_a_layer_does_not_import_what_it_must_not(package: str, forbidden: tuple[str, ...]) -> None:
    assert offences(package, forbidden) == []


def test_an_offending_import_is_reported() -> None:
    """So the checks above can fail."""
    assert offences("antibot.detect", ("antibot.proxy.decision",)) != []
    assert offences("antibot.run", ("api",)) != []  # the lazy import inside a function counts too


def test_the_wiring_lives_in_one_package() -> None:
    """No start-up module is left beside it at the top of the package."""
    top = {p.stem for p in (ROOT / "antibot").glob("*.py")}
    assert top.isdisjoint({"app", "api_setup", "detection_setup", "policy_setup", "startup"}), top
