"""The operator's policy without scores or counters: the decision hook of ``antibot run --no-detect``,
the screen of requests other than INVITE, and the fallback when deciding fails.

The same policy document and :class:`~antibot.detect.rules.RuleSet` as with detection (allow
lists, deny lists such as the built-in scanner User-Agents, CIDR / number / User-Agent rules), so
there is one rule path; only what needs a score or features (score thresholds, rules on the score
or on a feature) is left out. Cheap: no features are computed, and the caller and callee numbers
are parsed only when a rule reads them.
"""

from __future__ import annotations

from typing import Final

from ..logs import WarnLimiter
from ..proxy.decision import ACTION_VALUES, Action, Verdict, phrase_for
from ..proxy.effects import Addr
from ..sip.message import Request
from .numbers import parties
from .rules import Facts, RuleSet, dialled

_RELAY = Verdict(Action.RELAY)
#: The reason a verdict carries when deciding failed inside (a bug, or input no stage expected).
INTERNAL_ERROR: Final = "internal-error"


def rules_only(
    rules: RuleSet,
    req: Request,
    source: Addr,
    *,
    reason_prefix: str = "antibot",
    reject_phrase: str | None = None,
    numbers: bool = True,
) -> Verdict:
    """Reject or drop what a list or rule denies, relay the rest; a ``suspect`` rule, or any
    rule in monitor mode, relays with ``X-Antibot-Verdict``. ``reject_phrase`` overrides the
    phrase of the policy's ``reject_status``; ``numbers=False`` leaves the caller and callee
    numbers unread; ``source``: the address it came from, with its transport and TLS facts.
    May raise on input no stage expected."""
    caller = callee = ""
    if numbers and rules.reads_numbers:
        a, b = parties(req)
        caller, callee = a.text, b.text
    # the destination policy is about calls: the number an INVITE dials
    dests = dialled(req) if numbers and rules.reads_destinations and req.method == "INVITE" else ()
    ua = req.header("user-agent") or ""
    d = rules.decide(
        Facts(source.host, caller, callee, ua, 0.0, {}, 1.0, dests, source.transport, source.tls), scored=False
    )
    if d.rule is None:
        return _RELAY
    if d.action is Action.RELAY:  # an allow list or rule
        return Verdict(Action.RELAY, reasons=(d.rule,), rule=d.rule)
    if d.action is Action.SUSPECT or rules.mode == "monitor":  # relayed, the verdict in a header
        action = Action.SUSPECT if d.action is Action.SUSPECT else Action.RELAY
        label = ACTION_VALUES[d.action]
        return Verdict(action, reasons=(d.rule,), rule=d.rule, headers=(("X-Antibot-Verdict", label),))
    phrase = phrase_for(d.status)
    if reject_phrase and d.status == rules.reject_status:
        phrase = reject_phrase
    return Verdict(
        d.action,
        reasons=(d.rule,),
        rule=d.rule,
        status=d.status,
        phrase=phrase,
        reason_text=f"{reason_prefix}: {d.reason}" if d.reason else reason_prefix,
        stateless=d.stateless,
    )


def internal_error(
    rules: RuleSet,
    req: Request,
    source: Addr,
    *,
    reason_prefix: str = "antibot",
    reject_phrase: str | None = None,
    call_ref: str = "",
) -> Verdict:
    """The verdict when deciding failed inside: the allow and deny lists and the operator's
    rules still apply (a deny-listed caller is still refused), and whatever they relay goes to
    the PBX marked ``suspect`` with the reason ``internal-error``: never a free pass, never a
    lost call."""
    try:
        ruled = rules_only(rules, req, source, reason_prefix=reason_prefix, reject_phrase=reject_phrase)
    except Exception:  # noqa: BLE001 - the numbers may be what failed: the CIDR and User-Agent rules still apply
        try:
            ruled = rules_only(
                rules, req, source, reason_prefix=reason_prefix, reject_phrase=reject_phrase, numbers=False
            )
        except Exception:  # noqa: BLE001 - nothing could be read: suspect, relayed
            ruled = _RELAY
    reasons = (INTERNAL_ERROR, *ruled.reasons)
    if ruled.action in (Action.REJECT, Action.DROP):
        return Verdict(
            ruled.action,
            reasons=reasons,
            rule=ruled.rule,
            status=ruled.status,
            phrase=ruled.phrase,
            reason_text=ruled.reason_text,
            stateless=ruled.stateless,
            call_ref=call_ref,
        )
    headers = [("X-Antibot-Verdict", "suspect"), ("X-Antibot-Reasons", ",".join(reasons[:4]))]
    if call_ref:
        headers.append(("X-Antibot-Call", call_ref))
    return Verdict(Action.SUSPECT, reasons=reasons, rule=ruled.rule, headers=tuple(headers), call_ref=call_ref)


class UnscoredRules:
    """``decide(request, source, now)`` with :func:`rules_only`; never raises (see :func:`internal_error`)."""

    def __init__(self, rules: RuleSet, *, reason_prefix: str = "antibot", reject_phrase: str | None = None) -> None:
        self.rules = rules
        self.reason_prefix = reason_prefix
        self.reject_phrase = reject_phrase
        self.internal_errors = 0
        self._warn = WarnLimiter("antibot.detect")

    def decide(self, req: Request, source: Addr, now: float) -> Verdict:
        prefix, phrase = self.reason_prefix, self.reject_phrase
        try:
            return rules_only(self.rules, req, source, reason_prefix=prefix, reject_phrase=phrase)
        except Exception as exc:  # noqa: BLE001 - a failure applies the lists, marks the call, never lets it pass
            self.internal_errors += 1
            self._warn.warn("decide", "deciding failed; lists and rules applied, call marked suspect", exc)
            return internal_error(self.rules, req, source, reason_prefix=prefix, reject_phrase=phrase)
