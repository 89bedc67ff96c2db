"""The model shipped in models/ loads in this build and does its job on real messages."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import load_model
from antibot.detect.rules import RuleSet
from antibot.proxy.decision import Action, Verdict
from antibot.proxy.effects import Addr
from antibot.sip.message import Request
from antibot.sip.parser import parse_datagram
from antibot.store.hotpath import CounterSync
from antibot.store.redis import Store

from ._messages import PHONE_IP, SCANNER_IP, desk_phone_invite, svwar_invite

MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED = MODELS / "antibot-gbt.json"
T0 = 1.7e9 + 86400.0 * 30


def _request(data: bytes) -> Request:
    msg = parse_datagram(data)
    assert isinstance(msg, Request)
    return msg


def test_the_shipped_model_loads_with_this_builds_features() -> None:
    model, card = load_model(SHIPPED, FEATURE_NAMES)
    assert model.features == FEATURE_NAMES
    assert card["sha256"] == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
    assert 1 <= len(model.trees) <= 100 and card["model"]["max_depth"] <= 4
    # The target is 99.9%; scanners that copy a desk phone's exact layout from behind an office
    # NAT get their first 4 INVITEs through before the sequence rule refuses them (99.74% on the
    # shipped evaluation): a floor that catches a regression, not the target.
    assert card["metrics"]["held_out"]["scanner_sweep"]["flagged"]["recall"] >= 0.995
    assert card["metrics"]["held_out"]["low_and_slow"]["flagged"]["recall"] >= 0.95
    for ext in (".eval.json", ".eval.md", ".roc.png", ".pr.png"):
        assert (MODELS / f"antibot-gbt{ext}").stat().st_size > 0


def test_the_shipped_model_flags_a_sweep_and_passes_a_desk_phone(url: str) -> None:
    model, _ = load_model(SHIPPED, FEATURE_NAMES)

    async def run() -> tuple[list[Verdict], Verdict]:
        async with await Store.connect(url) as store:
            await store.flush_db()
            now = [T0]
            counters = LocalCounters()
            sync = CounterSync(store.hot, counters, clock=lambda: now[0])
            detector = Detector(rules=RuleSet(), model=model, counters=counters, clock=lambda: now[0])
            sweep = []
            for i in range(30):  # svwar at 20 INVITEs/s over extensions 100-129, synced as the proxy does
                now[0] = T0 + i * 0.05
                sweep.append(detector.decide(_request(svwar_invite(100 + i, i)), Addr("udp", SCANNER_IP, 5060), 0.0))
                await sync.sync()
            now[0] = T0 + 120.0
            phone = detector.decide(_request(desk_phone_invite()), Addr("udp", PHONE_IP, 5060), 0.0)
            return sweep, phone

    sweep, phone = asyncio.run(run())
    assert all(v.action in (Action.SUSPECT, Action.REJECT) for v in sweep)
    assert all(v.action is Action.REJECT for v in sweep[5:])
    assert phone.action is Action.RELAY and phone.score < 0.5
    assert sweep[-1].score > 0.9 > phone.score
