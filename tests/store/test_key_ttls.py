"""Every key a counted call writes expires, except the long-lived ones documented in
``antibot/store/keys.py``: Redis memory under unique callers is bounded by the TTLs."""

from __future__ import annotations

import re

from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.policy_doc import default_doc, ruleset_from_doc
from antibot.proxy.decision import Action
from antibot.store.calllog import CallLog
from antibot.store.hotpath import CounterSync
from antibot.store.keys import AUDIT_STREAM, CALLS_STREAM, FEEDBACK_HASH, POLICY_HISTORY, POLICY_KEY
from antibot.store.redis import Store

from ..detect._sip import addr, parse
from .resp import Resp

#: Documented as kept without a TTL: the call log stream (capped by MAXLEN) and the admin keys.
LONG_LIVED = {CALLS_STREAM, POLICY_KEY, POLICY_HISTORY, AUDIT_STREAM, FEEDBACK_HASH}


def shape(key: str) -> str:
    """A key family: entity values and numbers replaced (``ab:{from:*}:inv:60s:N``)."""
    key = re.sub(r"\{([a-z]+):[^}]*\}", r"{\1:*}", key)
    key = re.sub(r"^(ab:(?:call|outcome):).*", r"\1*", key)
    key = re.sub(r"^(ab:top:[a-z]+:).*", r"\1N", key)
    return re.sub(r"\d{4,}", "N", key)


def invite(i: int) -> str:
    ua = ("friendly-scanner", "Zoiper rv2.10.19.6")[i % 2]
    return f"""\
INVITE sip:{4420794600 + i}@192.0.2.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.{i % 4}:5060;branch=z9hG4bK-ttl{i};rport
Max-Forwards: 70
From: <sip:{3300000000 + i}@198.51.100.{i % 4}>;tag=t{i}
To: <sip:{4420794600 + i}@192.0.2.1>
Call-ID: ttl-{i}@198.51.100.{i % 4}
CSeq: 1 INVITE
Contact: <sip:{3300000000 + i}@198.51.100.{i % 4}:5060>
User-Agent: {ua}
"""


async def test_every_key_a_counted_call_writes_has_a_ttl(url: str, rc: Resp) -> None:
    store = await Store.connect(url)
    try:
        await store.seed_policy(default_doc())
        calllog = CallLog(store, maxlen=1000)
        task = calllog.start()
        counters = LocalCounters()
        detector = Detector(rules=ruleset_from_doc(default_doc()), model=None, counters=counters, calllog=calllog)
        sync = CounterSync(store.hot, counters)
        for round_ in range(2):  # the second round: entities seen again, so their syncs read too
            for i in range(40):
                source = addr(f"198.51.100.{i % 4}")
                verdict = detector.decide(parse(invite(i + 100 * round_)), source, 0.0)
                answered = verdict.action is not Action.REJECT
                detector.outcome(verdict.call_ref, source.host, 200 if answered else 603, 3.0 if answered else None)
            await sync.sync()
        await calllog.stop()
        task.cancel()
        keys = rc.scan()
        families = {shape(k) for k in keys}
        # What the run wrote: windowed counters and distinct counts, recent lists, the call log
        # with its indexes, the verdict statistics and the top lists.
        for family in (
            "ab:{src:*}:inv:1s:N",
            "ab:{from:*}:inv:1h:N",
            "ab:{from:*}:dto:1h:N",
            "ab:{to:*}:inv:60s:N",
            "ab:{ua:*}:dsrc:1h:N",
            "ab:{src:*}:callees",
            "ab:{src:*}:calls:1h:N",
            "ab:{flow:*}:calls:1h:N",
            "ab:{flow:*}:calls:24h:N",
            "ab:call:*",
            "ab:outcome:*",
            "ab:stats:m:N",
            "ab:stats:h:N",
            "ab:top:src:N",
            CALLS_STREAM,
            POLICY_KEY,
        ):
            assert family in families, (family, sorted(families))
        forever = {shape(k) for k in keys if rc("TTL", k) == -1}
        assert forever == {CALLS_STREAM, POLICY_KEY, POLICY_HISTORY} & families
        assert forever <= LONG_LIVED
    finally:
        await store.close()
