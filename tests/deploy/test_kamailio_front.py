"""deploy/kamailio/: the dispatcher front of docs/operations.md is a configuration Kamailio accepts
(``kamailio -c``), and its node list is what the front balances over."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

FRONT = Path(__file__).resolve().parents[2] / "deploy" / "kamailio"
KAMAILIO = shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)


@pytest.mark.skipif(KAMAILIO is None, reason="kamailio not installed (Debian: apt-get install kamailio)")
def test_kamailio_accepts_the_dispatcher_front(tmp_path: Path) -> None:
    listed = f'DISPATCHER_LIST="{FRONT / "dispatcher.list"}"'
    args = [str(KAMAILIO), "-c", "-f", str(FRONT / "kamailio.cfg"), "-A", listed, "-A", "FRONT_LISTEN=udp:127.0.0.1:0"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_front_balances_new_calls_over_set_1_and_probes_it() -> None:
    cfg = (FRONT / "kamailio.cfg").read_text()
    nodes = [line.split() for line in (FRONT / "dispatcher.list").read_text().splitlines() if line[:1].isdigit()]
    assert len(nodes) >= 2 and all(setid == "1" and uri.startswith("sip:") for setid, uri, *_ in nodes)
    assert re.search(r'ds_select_dst\("1", "[04]"\)', cfg)  # set 1, Call-ID hash or round-robin
    assert 'modparam("dispatcher", "ds_ping_method", "OPTIONS")' in cfg
    assert "record_route" not in cfg  # in-dialog requests bypass the front
