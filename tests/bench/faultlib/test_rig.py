"""The fault bench's process-tree sampling: every proxy process counts, the embedded store not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from faultlib.rig import proxy_tree


def test_the_tree_holds_the_children_and_leaves_out_redis_server(tmp_path: Path) -> None:
    fake_redis = tmp_path / "redis-server"
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy(sleep, fake_redis)
    code = (
        "import subprocess, sys, time;"
        f"a = subprocess.Popen([{sleep!r}, '30']); b = subprocess.Popen([{str(fake_redis)!r}, '30']);"
        "print(a.pid, b.pid, flush=True); time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker, redis = (int(x) for x in parent.stdout.readline().split())
        tree = proxy_tree(parent.pid)
        assert parent.pid in tree
        assert worker in tree
        assert redis not in tree
        assert os.getpid() not in tree
    finally:
        for pid in (worker, redis):
            os.kill(pid, 9)
        parent.kill()
        parent.wait()
