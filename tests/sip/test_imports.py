"""The ``antibot.sip`` package has no import circle: its modules form layers (``header`` and
``errors`` at the bottom, ``parser`` and ``build`` on top), read from the source, imports
under ``TYPE_CHECKING`` included."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import antibot.sip

PACKAGE = Path(antibot.sip.__file__).parent


def sip_imports(source: str, module: str) -> set[str]:
    """The modules of ``antibot.sip`` that ``source`` (the module ``module``) imports."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from .x import y, or from . import x
                names = [node.module] if node.module else [a.name for a in node.names]
            elif node.level == 0 and node.module is not None and node.module.startswith("antibot.sip."):
                names = [node.module.removeprefix("antibot.sip.")]
            elif node.level == 0 and node.module == "antibot.sip":
                names = [a.name for a in node.names]
            else:
                continue
            out.update(name.split(".")[0] for name in names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("antibot.sip."):
                    out.add(alias.name.removeprefix("antibot.sip.").split(".")[0])
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    """Each module of ``antibot.sip`` and the modules of the package it imports."""
    return {path.stem: sip_imports(path.read_text(), path.stem) for path in sorted(PACKAGE.glob("*.py"))}


def test_sip_has_no_import_circle() -> None:
    graph = import_graph()
    assert {"message", "errors", "header", "uri"} <= graph.keys()  # it read the package
    order = list(TopologicalSorter(graph).static_order())  # CycleError on a circle
    assert order.index("header") < order.index("errors") < order.index("message")


def test_header_is_a_leaf() -> None:
    assert import_graph()["header"] == set()


def test_a_circle_is_found() -> None:
    """The check itself: ``errors`` importing ``message`` (as it once did) closes a circle."""
    graph = import_graph()
    graph["errors"] = graph["errors"] | {"message"}
    with pytest.raises(CycleError):
        list(TopologicalSorter(graph).static_order())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from .message import Header", {"message"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .message import Header", {"message"}),
        ("from . import uri, via", {"uri", "via"}),
        ("from antibot.sip.uri import parse_uri", {"uri"}),
        ("import antibot.sip.headers", {"headers"}),
        ("from ..proxy import routing\nimport re", set()),
    ],
)
def test_imports_are_read_from_the_source(source: str, expected: set[str]) -> None:
    assert sip_imports(source, "x") == expected
