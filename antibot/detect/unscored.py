"""The operator's policy without scores or counters: the decision hook of ``antibot run --no-detect``.

The same policy document and :class:`~antibot.detect.rules.RuleSet` as with detection (allow
lists, deny lists such as the built-in scanner User-Agents, CIDR / number / User-Agent rules), so
there is one rule path; only what needs a score or features (score thresholds, rules on the score
or on a feature) is left out. Cheap: no features are computed, and the caller and callee numbers
are parsed only when a rule reads them.
"""

from __future__ import annotations

from ..sip.message import Request
from .numbers import parties
from .rules import Facts, RuleSet
from .verdict import ACTION_VALUES, Action, Verdict, phrase_for

_RELAY = Verdict(Action.RELAY)


class UnscoredRules:
    """``decide(request, source, now)``: reject or drop what a list or rule denies, relay the rest;
    a ``suspect`` rule, or any rule in monitor mode, relays with ``X-Antibot-Verdict``.
    ``reject_phrase`` overrides the phrase of ``reject_status``."""

    def __init__(self, rules: RuleSet, *, reason_prefix: str = "antibot", reject_phrase: str | None = None) -> None:
        self.rules = rules
        self.reason_prefix = reason_prefix
        self.reject_phrase = reject_phrase

    def decide(self, req: Request, source: object, now: float) -> Verdict:
        caller = callee = ""
        if self.rules.reads_numbers:
            a, b = parties(req)
            caller, callee = a.text, b.text
        ua = req.header("user-agent") or ""
        facts = Facts(str(getattr(source, "host", source)), caller, callee, ua, 0.0, {})
        d = self.rules.decide(facts, scored=False)
        if d.rule is None or d.action is Action.RELAY:
            return _RELAY
        if d.action is Action.SUSPECT or self.rules.mode == "monitor":  # relayed, the verdict in a header
            action = Action.SUSPECT if d.action is Action.SUSPECT else Action.RELAY
            label = ACTION_VALUES[d.action]
            return Verdict(action, reasons=(d.rule,), rule=d.rule, headers=(("X-Antibot-Verdict", label),))
        phrase = phrase_for(d.status)
        if self.reject_phrase and d.status == self.rules.reject_status:
            phrase = self.reject_phrase
        return Verdict(
            d.action,
            reasons=(d.rule,),
            rule=d.rule,
            status=d.status,
            phrase=phrase,
            reason_text=f"{self.reason_prefix}: {d.reason}" if d.reason else self.reason_prefix,
        )
