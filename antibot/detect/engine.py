"""The decision hook with detection: features + shared counters + model + operator rules.

``Detector.decide(request, source, now)`` is the proxy core's decision hook for every new
INVITE from outside. It never waits: the counters are the node's
:class:`~antibot.detect.counting.LocalCounters` (synced with Redis in the background every
few tens of milliseconds), then pure Python (features, model, rules), and one non-blocking
put into the call-log queue. Any internal failure degrades to a verdict from what is still
known (Redis unreachable: this node's own counts, and the reason ``store-unavailable``) and
never raises: a call is never lost to a bug. ``bench/scoring.py`` measures each part.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from ..logs import WarnLimiter
from ..proxy.decision import ACTION_LABELS, ACTION_VALUES, Action, Verdict, phrase_for
from ..proxy.effects import Addr
from ..sip.message import Request
from .corroboration import campaign, costly, judge_flow, support
from .counting import LocalCounters, outcome_metrics
from .explain import reason_codes
from .features import feature_vector, invite_features
from .lists import NumberLists
from .logform import explanation_json, features_text, link_fields
from .model import Model
from .numbers import Number, parties
from .observation import Counters
from .rules import ISOLATED, Decision, Facts, RuleSet, dialled
from .unscored import INTERNAL_ERROR, internal_error, rules_only

#: The decision's rule when a flow is sweeping (:func:`.corroboration.sweep_reason`).
SWEEP: Final = "sweep"
#: Decisions of the score thresholds, which a sweep overrides (operator rules are not).
SCORE_RULES: Final = (ISOLATED, "score-suspect", "score-reject")
#: How far each action goes: a sweep never softens the thresholds' decision.
SEVERITY: Final = {Action.RELAY: 0, Action.SUSPECT: 1, Action.REJECT: 2, Action.DROP: 2}
#: Call refs whose flow is remembered until their outcome (outcomes count per flow too).
FLOW_REFS: Final = 65536


def with_sweep(decision: Decision, reason: str, action: str, status: int) -> Decision:
    """``decision`` once the flow's sweep (:func:`.corroboration.judge_flow`; ``reason`` ""
    for none) is weighed: it overrides the score thresholds, never an operator rule (they come
    first), and never softens the thresholds' decision (a high score rejected stays rejected
    when the sweep would only mark it suspect)."""
    if not reason or not (decision.rule is None or decision.rule in SCORE_RULES):
        return decision
    swept = Action(action)
    if SEVERITY[decision.action] > SEVERITY[swept]:
        return decision
    return Decision(swept, SWEEP, status, reason)


class CallSink(Protocol):
    def submit(self, entry: dict[str, str]) -> bool: ...


@dataclass
class DetectorStats:
    decisions: int = 0
    store_errors: int = 0
    #: Decisions that failed inside and fell back to the lists and rules (``internal-error``).
    internal_errors: int = 0
    #: High scores the thresholds did not act on (``score-isolated``, see :mod:`.corroboration`).
    isolated: int = 0
    #: Calls a sweeping flow placed (rule ``sweep``, see :func:`.corroboration.sweep_reason`).
    sweeps: int = 0
    by_action: dict[str, int] = field(default_factory=dict)


class Detector:
    """Scores new INVITEs and applies the operator's rules."""

    def __init__(
        self,
        *,
        rules: RuleSet,
        model: Model | None,
        counters: LocalCounters | None,
        calllog: CallSink | None = None,
        lists: NumberLists | None = None,
        reason_prefix: str = "antibot",
        reject_phrase: str | None = None,
        short_call_seconds: float = 6.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self.model = model
        self.counters = counters
        self.calllog = calllog
        self.lists = lists or NumberLists()
        self.reason_prefix = reason_prefix
        #: The phrase of the policy's ``reject_status`` (config ``[rules] reject_phrase``).
        self.reject_phrase = reject_phrase
        self.short_call_seconds = short_call_seconds
        self.clock = clock
        self.stats = DetectorStats()
        #: Call refs: a random prefix per process, then a counter (unique, no syscall per call).
        self._node = secrets.token_hex(4)
        self._calls = 0
        self._warner = WarnLimiter("antibot.detect")
        #: Call ref -> flow of the INVITEs still awaiting their outcome (oldest first, bounded).
        self._flows: dict[str, str] = {}
        #: Call ref -> (when it has talked ``short_call_seconds``, flow) of answered calls still
        #: up, in answer order (:meth:`answered`).
        self._talking: dict[str, tuple[float, str]] = {}
        #: Call refs remembered for their outcome's flow at most (oldest forgotten first).
        self.flow_refs = FLOW_REFS

    def decide(self, req: Request, source: Addr, now: float) -> Verdict:
        """The decision hook (DESIGN.md contract), synchronous; never raises. ``now`` is the
        proxy's monotonic clock; the counters use wall-clock time so that every node buckets
        alike. A request other than INVITE (REGISTER, OPTIONS, MESSAGE...) is screened by the
        lists and rules only; a failure inside falls back to :func:`.unscored.internal_error`."""
        try:
            if req.method != "INVITE":
                return rules_only(
                    self.rules, req, source, reason_prefix=self.reason_prefix, reject_phrase=self.reject_phrase
                )
            return self._decide(req, source)
        except Exception as exc:  # noqa: BLE001 - never a free pass, never a lost call
            return self._failed(req, source, exc)

    def _failed(self, req: Request, source: Addr, exc: Exception) -> Verdict:
        """Deciding failed: lists and rules still apply, the call is marked and logged."""
        self.stats.internal_errors += 1
        self._warn("decide", "deciding failed; lists and rules applied, call marked suspect", exc)
        source_ip = source.host
        call_ref = self._next_ref() if req.method == "INVITE" else ""
        verdict = internal_error(
            self.rules,
            req,
            source,
            reason_prefix=self.reason_prefix,
            reject_phrase=self.reject_phrase,
            call_ref=call_ref,
        )
        if self.calllog is not None and call_ref:
            try:
                self.calllog.submit(
                    {
                        "call": call_ref,
                        "ts": f"{self.clock():.3f}",
                        "verdict": ACTION_LABELS[verdict.action],
                        "action": ACTION_VALUES[verdict.action],
                        "mode": self.rules.mode,
                        "score": "0.0000",
                        "reasons": ",".join(verdict.reasons),
                        "rule": verdict.rule or INTERNAL_ERROR,
                        "status": str(verdict.status) if verdict.action is Action.REJECT else "",
                        "src": source_ip,
                        "ua": (req.header("user-agent") or "")[:200],
                        "call_id": req.call_id[:200],
                        "error": repr(exc)[:200],
                        **link_fields(source),
                    }
                )
            except Exception as log_exc:  # noqa: BLE001
                self._warn("calllog", "could not log a failed decision", log_exc)
        return verdict

    def _next_ref(self) -> str:
        self._calls += 1
        return self._node + hex(self._calls)[2:].rjust(8, "0")  # mypyc runs a format spec through str.format

    def _decide(self, req: Request, source: Addr) -> Verdict:
        wall = self.clock()
        source_ip = source.host
        static, obs, both = invite_features(req, source_ip, self.lists)
        counters = Counters()
        degraded = False
        counted = False
        local = self.counters
        if local is not None:
            try:
                if self._talking:
                    self._talked(wall)
                counters = local.observe(obs, wall)
                degraded = not local.in_sync
                counted = True
            except Exception as exc:  # noqa: BLE001 - a counting bug degrades, never blocks a call
                degraded = True
                self.stats.store_errors += 1
                self._warn("observe", "counters unavailable; deciding without them", exc)
        verdict = self.verdict(
            req, source_ip, static, counters, wall, degraded=degraded, both=both, counted=counted, source=source
        )
        if counted and obs.flow:
            flows = self._flows
            if len(flows) >= self.flow_refs:
                del flows[next(iter(flows))]  # the oldest: its outcome never came
            flows[verdict.call_ref] = obs.flow
        if counted and local is not None and verdict.score >= self.rules.suspect_threshold:
            try:
                local.high(obs, wall)
            except Exception as exc:  # noqa: BLE001
                self.stats.store_errors += 1
                self._warn("high", "could not count a high score", exc)
        return verdict

    def verdict(
        self,
        req: Request,
        source_ip: str,
        static: dict[str, float],
        counters: Counters,
        wall: float,
        *,
        degraded: bool = False,
        both: tuple[Number, Number] | None = None,
        counted: bool = True,
        source: Addr | None = None,
    ) -> Verdict:
        """Pure part of the decision: model score, explanation, rules, mode, headers, call log
        (``both``: the caller and callee numbers, when already known; ``counted``: ``counters``
        hold this INVITE, so they can corroborate its score, see :mod:`.corroboration`;
        ``source``: the address it came from, with its transport and TLS facts; None: UDP)."""
        values, vector = feature_vector(static, counters)
        score, top = self.model.explain(vector) if self.model is not None else (0.0, [])
        caller, callee = both if both is not None else parties(req)
        ua = req.header("user-agent") or ""
        # the thresholds weigh support only for a high score
        high = score >= self.rules.suspect_threshold
        # campaigns are judged per flow (source + fingerprint), see .corroboration
        sweep = self.rules.sweep
        run, swept, swept_action = judge_flow(counters, callee.text, sweep, caller.text) if counted else (0, "", "")
        backing = support(counters, campaign(counters, run)) if high and counted and not costly(values) else 1.0
        dests = dialled(req, callee) if self.rules.reads_destinations else ()
        transport, tls = ("udp", None) if source is None else (source.transport, source.tls)
        decision = self.rules.decide(
            Facts(source_ip, caller.text, callee.text, ua, score, values, backing, dests, transport, tls)
        )
        if swept:
            weighed = with_sweep(decision, swept, swept_action, sweep.status or self.rules.reject_status)
            if weighed is not decision:
                self.stats.sweeps += 1
                decision = weighed
        reasons = reason_codes(top, values)  # short codes that agree with the values (.explain)
        if decision.rule is not None:
            reasons.insert(0, decision.rule)
        if degraded:
            reasons.append("store-unavailable")
        call_ref = self._next_ref()
        action = decision.action
        enforced = action if self.rules.mode == "enforce" else Action.RELAY
        label = ACTION_LABELS[action]
        value = ACTION_VALUES[action]
        headers: tuple[tuple[str, str], ...]
        if self.rules.mode == "monitor":
            headers = (("X-Antibot-Verdict", label),)
        else:
            headers = (
                ("X-Antibot-Verdict", label),
                ("X-Antibot-Score", f"{score:.3f}"),
                ("X-Antibot-Reasons", ",".join(reasons[:4]) or "none"),
                ("X-Antibot-Call", call_ref),
            )
        text = f"{self.reason_prefix}: {decision.reason}" if decision.reason else self.reason_prefix
        verdict = Verdict(
            enforced,
            score=score,
            reasons=tuple(reasons),
            rule=decision.rule,
            status=decision.status,
            phrase=self.reject_phrase
            if self.reject_phrase and decision.status == self.rules.reject_status
            else phrase_for(decision.status),
            reason_text=text,
            headers=headers,
            call_ref=call_ref,
            explanation=tuple(top),
            stateless=decision.stateless,
        )
        self.stats.decisions += 1
        self.stats.by_action[value] = self.stats.by_action.get(value, 0) + 1
        if decision.rule == ISOLATED:
            self.stats.isolated += 1
        if self.calllog is not None:
            self.calllog.submit(
                {
                    "call": call_ref,
                    "ts": f"{wall:.3f}",
                    "verdict": label,
                    "action": ACTION_VALUES[enforced],
                    "mode": self.rules.mode,
                    "score": f"{score:.4f}",
                    "reasons": ",".join(reasons),
                    "rule": decision.rule or "",
                    "rule_text": decision.reason,
                    "status": str(decision.status) if enforced is Action.REJECT else "",
                    "src": source_ip,
                    "from": caller.text,
                    "to": callee.text,
                    "ua": ua[:200],
                    "call_id": req.call_id[:200],
                    "explanation": explanation_json(top),
                    "features": features_text(vector),
                    **link_fields(source),
                }
            )
        return verdict

    def answered(self, call_ref: str) -> None:
        """A decided call was answered: once it has lasted ``short_call_seconds`` (no BYE by
        then, so not hung up at once) it counts as connected for its flow, without waiting for
        its end. People talk for minutes while the calls they did not take fail within seconds:
        counted only at their BYE, a new flow's answered calls would be missing from its outcomes
        (:func:`.corroboration.answered`) just when it needs them. Its source's counters (model
        features) still take the call at its end, as the model was trained."""
        flow = self._flows.get(call_ref, "") if call_ref else ""
        if flow:
            talking = self._talking
            if len(talking) >= self.flow_refs:
                del talking[next(iter(talking))]  # the oldest: its BYE never came
            talking[call_ref] = (self.clock() + self.short_call_seconds, flow)

    def _talked(self, wall: float) -> None:
        """Count as connected for their flows the answered calls that have talked long enough
        by ``wall`` (:meth:`answered`); their BYE will count for their source only."""
        talking = self._talking
        counters = self.counters
        while talking:
            call_ref, (due, flow) = next(iter(talking.items()))
            if due > wall:
                break
            del talking[call_ref]
            if call_ref in self._flows:
                self._flows[call_ref] = ""  # counted for the flow now, not again at its end
            if counters is not None:
                counters.outcome("", ("calls",), wall, flow)

    def outcome(self, call_ref: str, source_ip: str, status: int, duration: float | None) -> None:
        """Feed a call's outcome back into the failure and short-call counters of its source
        and its flow (counted locally, synced with the rest) and the call log. An answered call
        that talked long enough was counted for its flow already (:meth:`answered`)."""
        flow = self._flows.pop(call_ref, "") if call_ref else ""
        if call_ref:
            self._talking.pop(call_ref, None)
        if self.counters is not None:
            try:
                if self._talking:
                    self._talked(self.clock())
                self.counters.outcome(
                    source_ip, outcome_metrics(status, duration, self.short_call_seconds), self.clock(), flow
                )
            except Exception as exc:  # noqa: BLE001
                self.stats.store_errors += 1
                self._warn("outcome", "could not record outcome", exc)
        if self.calllog is not None and call_ref:
            self.calllog.submit(
                {
                    "call": call_ref,
                    "outcome": str(status),
                    "duration": "" if duration is None else f"{duration:.1f}",
                    "ts": f"{self.clock():.3f}",
                }
            )

    def _warn(self, key: str, msg: str, exc: Exception) -> None:
        """Log ``msg`` at most once per 10 s per ``key``, with the count since."""
        self._warner.warn(key, msg, exc)
