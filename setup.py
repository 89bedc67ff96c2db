"""Build hook: compile the hot path (SIP parser, transactions, proxy core, UDP runner, scoring) with mypyc.

The modules are plain, strictly typed Python; mypyc turns them into C extensions that cut the
proxy's CPU per call (see bench/README.md). Without a C compiler, or with ``ANTIBOT_PURE=1``,
the same modules run as pure Python: every extension is optional. One small hand-written C
module, the parser's scanners (``antibot/sip/_scan.c``), is built beside them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

#: Compiled modules: the per-packet path. ``antibot/sip/errors.py`` stays Python (exception
#: classes with per-class status hints), as does everything that is not on the per-packet path.
HOT = [
    "antibot/sip/address.py",
    "antibot/sip/build.py",
    "antibot/sip/headers.py",
    "antibot/sip/message.py",
    "antibot/sip/parser.py",
    "antibot/sip/uri.py",
    "antibot/sip/validate.py",
    "antibot/sip/via.py",
    "antibot/transaction/_base.py",
    "antibot/transaction/client.py",
    "antibot/transaction/effects.py",
    "antibot/transaction/server.py",
    "antibot/transaction/timers.py",
    "antibot/proxy/contexts.py",
    "antibot/proxy/core.py",
    "antibot/proxy/decision.py",
    "antibot/proxy/effects.py",
    "antibot/proxy/limiter.py",
    "antibot/proxy/routing.py",
    "antibot/proxy/table.py",
    "antibot/proxy/targets.py",
    "antibot/proxy/upstreams.py",
    "antibot/transport/latency.py",
    "antibot/transport/loop.py",
    "antibot/transport/udp.py",
    # the scoring path of every new INVITE (features, local counters, verdict)
    "antibot/detect/corroboration.py",
    "antibot/detect/counting.py",
    "antibot/detect/windowed.py",
    "antibot/detect/engine.py",
    "antibot/detect/features.py",
    "antibot/detect/fingerprint.py",
    "antibot/detect/lists.py",
    "antibot/detect/logform.py",
    "antibot/detect/model.py",
    "antibot/detect/numbers.py",
    "antibot/detect/observation.py",
    "antibot/detect/outcomes.py",
    "antibot/detect/rules.py",
    "antibot/detect/unscored.py",
    # the RESP of the counter syncs' writes (an entity seen once: most of a sync)
    "antibot/store/commands.py",
    "antibot/store/keys.py",
]
#: Hand-written C: the parser's header-line and parameter scanners (their Python references:
#: ``parser._split_lines`` and ``headers._plain_param``).
SCAN = "antibot/sip/_scan.c"
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


def _ext_modules() -> list[object]:
    if os.environ.get("ANTIBOT_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("antibot: mypyc not available, installing pure Python", file=sys.stderr)
        return []
    # One shared library inside the package (found by editable installs too).
    exts = mypycify(HOT + _shipped_trees(), opt_level="3", debug_level="0", group_name="antibot._hotpath")
    exts.append(Extension("antibot.sip._scan", [SCAN], extra_compile_args=["-O2"]))
    for ext in exts:
        ext.optional = True  # no C compiler: fall back to the pure-Python modules
    return list(exts)


class BuildPy(build_py):
    """Also ship the model: the top-level ``models/antibot-gbt.*`` (model, card, evaluation
    report and plots) become the package data ``antibot/models/``, which ``antibot.detect.shipped.find_model``
    loads through ``importlib.resources``. An editable install reads ``models/`` in place."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "antibot" / "models"
        self.mkpath(str(target))
        for path in sorted(MODEL.parent.glob("antibot-gbt.*")):
            self.copy_file(str(path), str(target / path.name))


setup(ext_modules=_ext_modules(), cmdclass={"build_py": BuildPy})
