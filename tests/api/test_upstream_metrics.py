"""/metrics counts the calls tried on upstreams marked down (panic) and the timeouts that kept the last one up."""

from __future__ import annotations

from antibot.proxy.upstreams import Upstream
from api.metrics import ApiMetrics, MetricsSnapshot, render
from tests.proxy.conftest import PBX1, Harness, invite, make_core


def test_upstream_panic_and_kept_last_are_exported() -> None:
    h = Harness(make_core(Upstream("sip:127.0.0.1:5080", PBX1), failover_timeout=1.0))
    h.call(invite())
    h.tick(1.1)  # silent PBX: kept up (the last usable one)
    h.core.pool.mark(h.core.pool.targets[0], False, h.now)  # as a failed probe would
    h.call(invite(call_id="c2", branch="z9hG4bK-c2"))  # tried anyway: panic
    # What antibot.run.api.ProxyStats exports: every core counter but the verdicts, as sip kinds.
    sip = {k: v for k, v in h.core.stats.items() if not k.startswith("verdict_")}
    text = render(ApiMetrics(), MetricsSnapshot(sip_messages=sip), None).decode()
    assert 'antibot_sip_messages_total{kind="upstream_kept_last"} 1.0' in text
    assert 'antibot_sip_messages_total{kind="upstream_panic"} 1.0' in text
