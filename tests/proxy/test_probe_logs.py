"""Health-probe transitions are logged at the level they deserve: down is a warning, up is news."""

from __future__ import annotations

import logging

import pytest

from antibot.proxy.upstreams import Upstream

from .conftest import PBX1, Harness, make_core, reply


def test_upstream_down_is_a_warning_and_up_is_info(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(make_core(Upstream("sip:127.0.0.1:5080", PBX1), probe_interval=5.0, probe_timeout=1.0))
    caplog.set_level(logging.DEBUG, logger="antibot")
    h.tick(0.0)
    h.tick(1.1)  # the probe goes unanswered: down
    probe = next(e for e in h.tick(5.0) if e.data.startswith(b"OPTIONS"))
    h.feed(reply(probe.data, 200, "OK"), PBX1)  # answered: up again
    seen = [(r.levelname, r.getMessage()) for r in caplog.records if r.getMessage().startswith("upstream ")]
    assert ("WARNING", "upstream down") in seen and ("INFO", "upstream up") in seen, seen
    assert ("WARNING", "upstream up") not in seen
