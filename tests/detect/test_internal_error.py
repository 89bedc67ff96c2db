"""A decision that fails inside is never a free pass: lists and rules still apply, the call is marked and logged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from antibot.detect import engine, unscored
from antibot.detect.counting import LocalCounters
from antibot.detect.engine import Detector
from antibot.detect.policy_doc import default_doc, ruleset_from_doc
from antibot.detect.unscored import UnscoredRules
from antibot.proxy.decision import Action
from antibot.proxy.effects import Addr
from antibot.sip.message import Request

from .test_unscored import invite


class Log:
    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []

    def submit(self, entry: dict[str, str]) -> bool:
        self.entries.append(entry)
        return True


def _rules(**doc: Any) -> Any:
    base = default_doc()
    base["lists"]["deny"]["user_agents"] = ["friendly-scanner"]
    base["lists"]["deny"]["cidrs"] = ["203.0.113.0/24"]
    base.update(doc)
    return ruleset_from_doc(base)


def _boom(*args: object, **kw: object) -> Any:
    raise IndexError("a stage met input it did not expect")


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Feature extraction raises, as a malformed header once made it (8 exception types were found)."""
    monkeypatch.setattr(engine, "invite_features", _boom)


SRC = Addr("udp", "198.51.100.7", 5060)
#: The failures are injected by replacing module functions, which compiled code does not look up:
#: these tests run on the pure-Python build (``make test-pure``, in CI), the same source.
pure_only = pytest.mark.skipif(
    str(engine.__file__).endswith(".so"), reason="compiled build: module functions cannot be replaced"
)


@pure_only
def test_a_deny_listed_user_agent_is_still_rejected(broken: None) -> None:
    log = Log()
    d = Detector(rules=_rules(), model=None, counters=LocalCounters(), calllog=log)
    v = d.decide(invite(ua="friendly-scanner"), SRC, 0.0)
    assert (v.action, v.status, v.rule) == (Action.REJECT, 603, "deny-list:ua")
    assert "internal-error" in v.reasons and v.stateless
    assert d.stats.internal_errors == 1


@pure_only
def test_a_deny_listed_cidr_is_still_rejected(broken: None) -> None:
    d = Detector(rules=_rules(), model=None, counters=LocalCounters())
    v = d.decide(invite(), Addr("udp", "203.0.113.5", 5060), 0.0)
    assert (v.action, v.rule) == (Action.REJECT, "deny-list:cidr")


@pure_only
def test_anything_else_is_relayed_marked_suspect_and_logged(broken: None) -> None:
    log = Log()
    d = Detector(rules=_rules(), model=None, counters=LocalCounters(), calllog=log)
    v = d.decide(invite(), SRC, 0.0)
    assert v.action is Action.SUSPECT and v.reasons[0] == "internal-error"
    headers = dict(v.headers)
    assert headers["X-Antibot-Verdict"] == "suspect" and headers["X-Antibot-Reasons"] == "internal-error"
    assert headers["X-Antibot-Call"] == v.call_ref != ""
    (entry,) = log.entries
    assert entry["verdict"] == "suspect" and entry["reasons"] == "internal-error" and entry["call"] == v.call_ref
    assert "IndexError" in entry["error"] and entry["src"] == "198.51.100.7"


@pure_only
def test_an_allow_list_still_wins_but_the_call_is_marked(broken: None) -> None:
    doc = {"lists": {"allow": {"cidrs": ["198.51.100.0/24"]}, "deny": {"user_agents": ["friendly-scanner"]}}}
    d = Detector(rules=_rules(**doc), model=None, counters=LocalCounters())
    v = d.decide(invite(ua="friendly-scanner"), SRC, 0.0)
    assert v.action is Action.SUSPECT and "allow-list:cidr" in v.reasons and "internal-error" in v.reasons


@pure_only
def test_numbers_that_cannot_be_read_still_leave_the_user_agent_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules themselves fail on the numbers: the CIDR and User-Agent lists still apply."""
    monkeypatch.setattr(engine, "invite_features", _boom)
    monkeypatch.setattr(unscored, "parties", _boom)
    rules = _rules(rules=[{"id": "premium", "to_prefixes": ["900"]}])
    v = Detector(rules=rules, model=None, counters=None).decide(invite(ua="friendly-scanner"), SRC, 0.0)
    assert (v.action, v.rule) == (Action.REJECT, "deny-list:ua")


@pure_only
def test_unscored_rules_fall_back_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Request] = []

    def numbers(req: Request) -> Any:
        calls.append(req)
        raise ValueError("bad number")

    monkeypatch.setattr(unscored, "parties", numbers)
    hook = UnscoredRules(_rules(rules=[{"id": "premium", "to_prefixes": ["900"]}]))
    v = hook.decide(invite(ua="friendly-scanner"), SRC, 0.0)
    assert (v.action, v.rule) == (Action.REJECT, "deny-list:ua") and "internal-error" in v.reasons
    v = hook.decide(invite(), SRC, 0.0)
    assert v.action is Action.SUSPECT and dict(v.headers)["X-Antibot-Verdict"] == "suspect"
    assert hook.internal_errors == 2 and calls


def test_requests_other_than_invite_are_screened_by_the_lists_only() -> None:
    log = Log()
    counters = LocalCounters()
    d = Detector(rules=_rules(), model=None, counters=counters, calllog=log)
    register = invite(ua="friendly-scanner")
    register.method = "REGISTER"
    assert d.decide(register, SRC, 0.0).action is Action.REJECT
    register2 = invite()
    register2.method = "REGISTER"
    assert d.decide(register2, SRC, 0.0).action is Action.RELAY
    assert log.entries == [] and counters.entities == {}  # not counted as calls


def test_a_failure_in_a_compiled_build_falls_back_too() -> None:
    """Injected through the clock (a plain callable the compiled Detector calls): its first reading
    fails, as any stage of the decision might."""

    def failing_once() -> Callable[[], float]:
        calls = [0]

        def clock() -> float:
            calls[0] += 1
            if calls[0] == 1:
                raise RuntimeError("clock")
            return 1_700_000_000.0

        return clock

    log = Log()
    d = Detector(rules=_rules(), model=None, counters=LocalCounters(), calllog=log, clock=failing_once())
    v = d.decide(invite(ua="friendly-scanner"), SRC, 0.0)
    assert (v.action, v.rule) == (Action.REJECT, "deny-list:ua") and "internal-error" in v.reasons
    d = Detector(rules=_rules(), model=None, counters=None, calllog=log, clock=failing_once())
    v = d.decide(invite(), SRC, 0.0)
    assert v.action is Action.SUSPECT and dict(v.headers)["X-Antibot-Verdict"] == "suspect"
    assert [e["verdict"] for e in log.entries] == ["reject", "suspect"]
    assert d.stats.internal_errors == 1


@pure_only
def test_the_fallback_answers_with_the_configured_reject_phrase(broken: None) -> None:
    d = Detector(rules=_rules(), model=None, counters=None, reject_phrase="Go Away")
    v = d.decide(invite(ua="friendly-scanner"), SRC, 0.0)
    assert (v.action, v.status, v.phrase) == (Action.REJECT, 603, "Go Away") and "internal-error" in v.reasons
