"""The compiled set is declared once, in pyproject.toml (``[tool.antibot]``), and its three
readers agree: setup.py compiles exactly it, the Makefile rebuilds when one of its files
changes, and ``make test-pure`` runs tests that name every compiled module."""

from __future__ import annotations

import ast
import importlib
import os
import runpy
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DECLARED: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["antibot"]
COMPILED = DECLARED["compiled"]


def _dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_the_declared_set_names_existing_modules_once() -> None:
    assert len(COMPILED) == len(set(COMPILED)) > 30
    for path in [*COMPILED, *DECLARED["c-extensions"]]:
        assert (ROOT / path).is_file(), path
        assert path.startswith("antibot/") and path.count("/") == 2, path  # antibot/<package>/<module>
    assert "antibot/sip/parser.py" in COMPILED and "antibot/sip/errors.py" not in COMPILED


def test_setup_py_compiles_the_declared_set() -> None:
    setup = runpy.run_path(str(ROOT / "setup.py"), run_name="setup_py")  # not __main__: no build
    assert setup["HOT"] == COMPILED
    assert setup["C_EXTENSIONS"] == DECLARED["c-extensions"] == ["antibot/sip/_scan.c", "antibot/store/_resp.c"]


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


@pytest.fixture(scope="module")
def make_vars() -> dict[str, list[str]]:
    """The lists the Makefile derives (``make print-compiled``), read with this interpreter."""
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "print-compiled", f"PY={sys.executable}"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {name: values.split() for name, _, values in (line.partition(" ") for line in out.splitlines())}


@needs_make
def test_the_makefile_rebuilds_when_a_declared_file_changes(make_vars: dict[str, list[str]]) -> None:
    hot_src = make_vars["hot-src"]
    assert hot_src[: len(COMPILED)] == COMPILED
    stubs = {c.removesuffix(".c") + ".pyi" for c in DECLARED["c-extensions"]}
    assert {*DECLARED["c-extensions"], *stubs, "pyproject.toml"} <= set(hot_src)


@needs_make
def test_test_pure_runs_the_tests_of_every_compiled_package(make_vars: dict[str, list[str]]) -> None:
    packages = sorted({path.split("/")[1] for path in COMPILED})
    assert make_vars["pure-tests"] == [f"tests/{package}" for package in packages]
    assert {"sip", "transaction", "proxy", "transport", "detect", "store"} <= set(packages)


def _named_modules(test_file: Path) -> set[str]:
    """The antibot modules whose names a test file imports: ``from antibot.a.b import X`` names
    the module that defines X (``antibot.a`` re-exporting it from ``antibot.a.b`` counts too)."""
    out: set[str] = set()
    tree = ast.parse(test_file.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name.startswith("antibot."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("antibot"):
            module = importlib.import_module(str(node.module))
            out.add(module.__name__)
            for alias in node.names:
                value: Any = getattr(module, alias.name, None)
                if value is None:  # a submodule not yet imported
                    value = importlib.import_module(f"{module.__name__}.{alias.name}")
                if isinstance(value, ModuleType):
                    out.add(value.__name__)
                else:  # a class or function: where it is defined; a constant: the module it came from
                    out.add(getattr(value, "__module__", None) or module.__name__)
    return out


def test_every_compiled_module_is_named_by_a_test_that_test_pure_runs() -> None:
    """A compiled module must have pure-Python tests: some test of its package imports it or a
    class or function defined in it."""
    missing = []
    for path in COMPILED:
        package = path.split("/")[1]
        named = set().union(*(_named_modules(f) for f in sorted((ROOT / "tests" / package).rglob("*.py"))))
        if _dotted(path) not in named:
            missing.append(path)
    assert not missing


needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")


@needs_gcc
def test_a_profile_taken_in_one_tree_is_used_by_a_build_in_another(tmp_path: Path) -> None:
    """``make pgo``'s flags: the profile is named relative to the tree (so ``pip install .``,
    which builds in a copy, finds it), and a build whose source changed since the training
    still compiles under mypyc's ``-Werror``."""
    setup = runpy.run_path(str(ROOT / "setup.py"), run_name="setup_py")
    flags = setup["_profile_flags"]
    source = "int f(int x) { %s return x > 3 ? x * 2 : x - 1; }\nint main(void) { return f(1) > 100; }\n"

    def build(tree: Path, env: dict[str, str], change: str = "") -> Path:
        (tree / "build").mkdir(parents=True, exist_ok=True)
        (tree / "x.c").write_text(source % change)
        flags.__globals__["ROOT"] = tree  # setup.py in that tree
        old = dict(os.environ)
        os.environ.update(env)
        try:
            extra = flags()
        finally:
            os.environ.clear()
            os.environ.update(old)
        cc = ["gcc", "-O2", "-Werror", *extra]
        subprocess.run([*cc, "-c", "x.c", "-o", "build/x.o"], cwd=tree, check=True, capture_output=True)
        subprocess.run([*cc, "build/x.o", "-o", "build/x"], cwd=tree, check=True, capture_output=True)
        return tree / "build/x"

    profile = tmp_path / "profile"
    assert build(tmp_path / "a", {}).exists() and not profile.exists()  # no variable: no flags
    subprocess.run([build(tmp_path / "a", {"ANTIBOT_PROFILE_GENERATE": str(profile)})], check=True)
    assert [p.name for p in profile.iterdir()] == ["build#x.gcda"]  # relative, not /tmp/...#a#build
    use = {"ANTIBOT_PROFILE_USE": str(profile)}
    assert build(tmp_path / "b", use).exists()  # another tree: the same names
    assert build(tmp_path / "c", use, "if (x == 5) return 9;").exists()  # changed since: builds


@pytest.mark.parametrize("fail", [set(), {"antibot._hotpath__mypyc"}])
def test_a_failed_compiled_group_leaves_the_pure_modules_not_a_broken_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: set[str]
) -> None:
    """Each compiled module's small library loads the group's: when the group fails to build, the
    others are removed (the pure-Python modules then serve) and the hand-written C ones stay."""
    setup = runpy.run_path(str(ROOT / "setup.py"), run_name="setup_py")
    from setuptools import Distribution, Extension
    from setuptools.errors import CompileError

    names = ["antibot._hotpath__mypyc", "antibot.sip.parser", "antibot.sip._scan"]
    exts = [Extension(name, [name.replace(".", "/") + ".c"], optional=True) for name in names]
    command = setup["BuildExt"](Distribution({"ext_modules": exts}))
    command.initialize_options()
    command.build_lib = str(tmp_path)
    command.finalize_options()

    def build(self: Any, ext: Extension) -> None:  # the compiler, as far as the outcome goes
        if ext.name in fail:
            raise CompileError("cc: error")  # what a compiler error raises
        path = Path(self.get_ext_fullpath(ext.name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    monkeypatch.setattr(setup["build_ext"], "build_extension", build)
    command.run()
    left = {name for name in names if Path(command.get_ext_fullpath(name)).exists()}
    assert left == ({"antibot.sip._scan"} if fail else set(names))
