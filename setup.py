"""Build hook: compile the hot path (SIP parser, transactions, proxy core, UDP runner, scoring) with mypyc.

The modules are plain, strictly typed Python; mypyc turns them into C extensions that cut the
proxy's CPU per call (see bench/README.md). Without a C compiler, or with ``ANTIBOT_PURE=1``,
the same modules run as pure Python: every extension is optional. Two small hand-written C
modules, the parser's scanners (``antibot/sip/_scan.c``) and the RESP encoder of the Redis
batches (``antibot/store/_resp.c``), are built beside them. Both lists live
in pyproject.toml (``[tool.antibot]``), which the Makefile and its ``test-pure`` read too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tomllib
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

#: The compiled set, declared once in pyproject.toml (``[tool.antibot]``): the modules mypyc
#: compiles (the per-packet path) and the hand-written C extensions built beside them.
COMPILED_SET = tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text())["tool"]["antibot"]
HOT: list[str] = COMPILED_SET["compiled"]
C_EXTENSIONS: list[str] = COMPILED_SET["c-extensions"]
ROOT = Path(__file__).resolve().parent
#: The shipped model's trees as compiled code (see ``antibot.detect.model.walker_source``).
MODEL = Path("models/antibot-gbt.json")
TREES = Path("antibot/detect/_shipped_trees.py")


def _shipped_trees() -> list[str]:
    """Generate :data:`TREES` from :data:`MODEL` (rewritten only when it changes); its path."""
    spec = importlib.util.spec_from_file_location("_antibot_model_source", "antibot/detect/model.py")
    if spec is None or spec.loader is None or not MODEL.exists():
        return []
    source_module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = source_module  # dataclasses look their module up
    spec.loader.exec_module(source_module)  # the .py, never a stale compiled one
    model = source_module.Model.from_dict(json.loads(MODEL.read_text()))
    source = source_module.walker_source(model.trees)
    if source is None:
        return []
    if not TREES.exists() or TREES.read_text() != source:
        TREES.write_text(source)
    return [str(TREES)]


def _profile_flags() -> list[str]:
    """GCC's profile-guided optimisation (``make pgo``): ``ANTIBOT_PROFILE_GENERATE=DIR`` builds
    extensions that write their profile to DIR when the process exits; ``ANTIBOT_PROFILE_USE=DIR``
    builds with it. Profile files are named relative to this directory, so a profile taken in
    one copy of the tree serves a build in another (``pip wheel``)."""
    prefix = f"-fprofile-prefix-path={ROOT}"
    if generate := os.environ.get("ANTIBOT_PROFILE_GENERATE"):
        return [f"-fprofile-generate={generate}", prefix]
    if use := os.environ.get("ANTIBOT_PROFILE_USE"):
        # functions the training never ran, or changed since (another mypyc emits other C), are
        # built as without a profile: no profile warning fails the build
        return [
            f"-fprofile-use={use}",
            prefix,
            "-fprofile-partial-training",
            "-Wno-missing-profile",
            "-Wno-coverage-mismatch",
            "-Wno-error",
        ]
    return []


def _c_extension_name(source: str) -> str:
    """``antibot/sip/_scan.c`` → the extension ``antibot.sip._scan``."""
    return source.removesuffix(".c").replace("/", ".")


def _ext_modules() -> list[object]:
    if os.environ.get("ANTIBOT_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("antibot: mypyc not available, installing pure Python", file=sys.stderr)
        return []
    # One shared library inside the package (found by editable installs too).
    exts = mypycify(HOT + _shipped_trees(), opt_level="2", debug_level="0", group_name="antibot._hotpath")
    for source in C_EXTENSIONS:
        exts.append(Extension(_c_extension_name(source), [source], extra_compile_args=["-O2"]))
    pgo = _profile_flags()
    for ext in exts:
        if sys.platform.startswith("linux"):
            # Calls between the compiled functions go straight to them, not through the PLT,
            # and may be inlined (what Debian builds its extensions with): 5-6% less CPU per
            # call than the default, with -O2 rather than mypyc's -O3 (docs/performance.md).
            ext.extra_compile_args = [*ext.extra_compile_args, "-fno-semantic-interposition"]
            ext.extra_link_args = [*ext.extra_link_args, "-Wl,-Bsymbolic-functions"]
        ext.extra_compile_args = [*ext.extra_compile_args, *pgo]
        ext.extra_link_args = [*ext.extra_link_args, *pgo]
        ext.optional = True  # no C compiler: fall back to the pure-Python modules
    return list(exts)


class BuildExt(build_ext):
    """mypyc's extensions all or none: each compiled module's own small library loads the
    group's shared one, so if that one fails to build (an optional extension: a compiler error
    is only a warning) the others would make an install that cannot import. They are then
    removed, and the pure-Python modules serve."""

    def initialize_options(self) -> None:
        super().initialize_options()
        self.failed: list[str] = []

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception:
            self.failed.append(ext.name)
            raise

    def run(self) -> None:
        super().run()
        if not any(name.endswith("__mypyc") for name in self.failed):
            return
        hand_written = {_c_extension_name(source) for source in C_EXTENSIONS}
        for ext in self.extensions:
            path = Path(self.get_ext_fullpath(ext.name))
            if ext.name not in hand_written and path.exists():
                path.unlink()
        print("antibot: the compiled group failed to build; installing the pure-Python modules", file=sys.stderr)


class BuildPy(build_py):
    """Also ship the model: the top-level ``models/antibot-gbt.*`` (model, card, evaluation
    report and plots) become the package data ``antibot/models/``, which ``antibot.app.find_model``
    loads through ``importlib.resources``. An editable install reads ``models/`` in place."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "antibot" / "models"
        self.mkpath(str(target))
        for path in sorted(MODEL.parent.glob("antibot-gbt.*")):
            self.copy_file(str(path), str(target / path.name))


if __name__ == "__main__":  # `python setup.py ...` and setuptools' build backend (tests read HOT)
    setup(ext_modules=_ext_modules(), cmdclass={"build_py": BuildPy, "build_ext": BuildExt})
