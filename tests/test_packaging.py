"""The wheel is the product: built as ``pip install .`` builds it, it carries the shipped model,
and ``antibot run`` installed from it, in a fresh venv and outside the source tree, loads the
model and serves its card at ``/api/v1/model``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .e2e.procs import HOST, free_port, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.name for p in (ROOT / "models").glob("antibot-gbt.*"))
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of the source tree (no compiled files, nothing written into the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("*.so", "__pycache__", "_shipped_trees.py")
    for name in ("antibot", "api", "models"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy2(ROOT / name, src / name)
    env = dict(os.environ, ANTIBOT_PURE="1")  # pure Python: the compiled build is tested elsewhere
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (built,) = (tmp / "dist").glob("antibot-*.whl")
    return built


def test_the_wheel_carries_the_model_its_card_and_its_report(wheel: Path) -> None:
    assert {"antibot-gbt.json", "antibot-gbt.card.json", "antibot-gbt.eval.md"} <= set(SHIPPED)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {f"antibot/models/{name}" for name in SHIPPED} <= names, sorted(names)
        assert z.read("antibot/models/antibot-gbt.json") == (ROOT / "models" / "antibot-gbt.json").read_bytes()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta
    assert not any(n.startswith("models/") for n in names)  # no top-level "models" package in site-packages


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with only the wheel installed; its dependencies come from the test's own
    environment through a .pth line (offline: nothing is downloaded), after the venv's own."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
    python = root / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield root


def test_antibot_run_from_the_wheel_loads_the_model_and_serves_its_card(venv: Path, tmp_path: Path) -> None:
    sip, api = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",) and not k.startswith("ANTIBOT_API_TOKEN")}
    args = [str(venv / "bin" / "antibot"), "run", "--listen", f"udp:{HOST}:{sip}", "--upstream", "sip:127.0.0.1:9"]
    args += ["--api-listen", f"{HOST}:{api}", "--data-dir", str(tmp_path / "data")]
    log = tmp_path / "antibot.log"
    with open(log, "wb") as err:  # cwd outside the checkout: nothing can come from the source tree
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:

        def started() -> list[dict[str, object]]:
            assert proc.poll() is None, log.read_text()[-3000:]
            records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
            return records if any(r.get("msg") == "antibot proxy started" for r in records) else []

        records = wait_for(started, 30.0, "antibot run (installed from the wheel) to start")
        loaded = next((r for r in records if r.get("msg") == "model loaded"), None)
        assert loaded is not None, [r for r in records if "model" in str(r.get("msg"))]
        model = Path(str(loaded["model"]))
        assert model.is_relative_to(venv) and model.parts[-3:] == ("antibot", "models", "antibot-gbt.json")

        def token_line() -> str:  # printed by the worker that serves the API, maybe after another started
            lines = [ln for ln in log.read_text().splitlines() if "admin API token for this run" in ln]
            return lines[0].rsplit(" ", 1)[1] if lines else ""

        token = wait_for(token_line, 30.0, "the admin API token to be printed")
        request = urllib.request.Request(
            f"http://{HOST}:{api}/api/v1/model", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            card = json.loads(answer.read())
        assert card == json.loads((ROOT / "models" / "antibot-gbt.card.json").read_text())
    finally:
        stop_process(proc, grace=10.0)
