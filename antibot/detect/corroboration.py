"""Corroboration and campaigns: evidence attaches to the flow that produced it (pure, no I/O).

A *flow* is one client stack on one address: the source address plus the stack's
fingerprint, the User-Agent with the header order less the headers a stack adds call by call
(``"<ip>|<fp>"``, :func:`.observation.flow_of`, :func:`.fingerprint.stack_fingerprint`).
Behind a carrier SBC or an office NAT, bots and people share one address but not one flow, so
the address's ordinary calls say nothing about a new flow.

**Support.** A model that has never seen an installation scores a few of its calls high:
those false positives are *isolated*, the rest of their flow scores low. A bot's high scores
are not. So the default score thresholds act only on a call whose **support** reaches the
policy's ``corroboration`` share (0.5 by default; 0 turns it off). Support is the largest of

- the flow's share, once it has a telling outcome (below): ``(high + 1) / (calls + PRIOR)``
  over its last hour, where ``calls`` counts this INVITE and ``high`` its earlier INVITEs
  that scored at or above the suspect threshold. Only this flow's own calls count, both
  ways: an address's legitimate history (other flows) never shelters a new flow from it, and
  a bot on the address (a scanner on a PC behind an office NAT) never backs the people's
  calls. The bare address has no share;
- the User-Agent fingerprint's share, when the fingerprint was seen from at least
  :data:`SPREAD` addresses in the hour (a dialler spread over many addresses);
- nothing at all (support 0) when people answer the flow's calls: 5 or more call outcomes in
  the hour, 40 % of them or more connected; fewer, two or more connected and half of them;
  or 20 or more outcomes in 24 h, 40 % of them connected, unless the hour is a failure burst
  (5 or more outcomes, under 20 % connected) (:func:`answered`). A carrier's SBC whose
  installation the model never saw scores a share of its customers' calls high, enough for
  them to back each other; its calls are answered and talked through, a robodialler's are
  cancelled, unanswered or refused;
- 1.0 when the flow shows a *campaign signal*: callees dialled in sequence (a run of
  :data:`CAMPAIGN_RUN` steps, by the flow or by its fingerprint across addresses),
  :data:`CAMPAIGN_EXTENSIONS` distinct extensions in 60 s, or :data:`CAMPAIGN_NEIGHBOURS`
  different caller IDs copied from their callees' exchange (neighbour spoofing) making up a
  third of its calls.

A new flow's own share waits for its first telling outcome (:func:`unproven`): until one of
its calls has failed (refused, cancelled, unanswered) or talked past a hang-up
(``short_call_seconds``), or five have ended, for at most :data:`NEW_FLOW_CALLS` calls, its
earlier high scores back nothing. Whether people answer it is not known yet, and a busy office
that comes online (2 calls/s behind one NAT) would otherwise have its first dozen calls, which
the model can score high on their rate alone, back each other before the first of them has
talked long enough to say they are people's. Calls hung up at once say nothing either way
until five outcomes are in: they are known as soon as they end, a call talked through only
after ``short_call_seconds``, so a new flow's first outcomes over-count them (the new-flow
rule of :func:`answered` leaves them out too). The other supports (a spread fingerprint, a
campaign signal) do not wait.

A call that involves a number on the premium, high-risk or honeypot lists (:data:`COSTLY`)
needs no backing: one toll-fraud call is already the loss. With ``PRIOR`` = 2, once its
wait is over, a flow whose calls have all scored high backs its next one with
``(n + 1) / (n + 3)`` for ``n`` calls (2/4 after one). A high score without support is
relayed as the policy's ``isolated_verdict`` says: by default ``suspect`` from the reject
threshold up, ``pass`` below it (:class:`.rules.RuleSet`).

**Sweeps.** Extension enumeration and DID sweeps are recognised from the flow's own
behaviour, whatever its score and User-Agent (:func:`sweep_reason`, thresholds in the
policy's ``sweep`` section, :class:`SweepPolicy`): many distinct extensions in 60 s (fewer
when the PBX's answers to the flow mostly failed), or callees dialled in sequence (by the flow,
or by its User-Agent fingerprint across addresses: a botnet dealt the numbers in order). People do
neither: a receptionist calls a few extensions an hour, a call centre dials long, unrelated
numbers. Measured on the simulation: ``models/antibot-gbt.eval.md``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .counting import LocalCounters
from .observation import EXTENSION_MAX, SHARED_UA, Counters, Observation, flow_of

#: Pseudo-calls in the denominator: how much history a share needs before it counts.
PRIOR: Final = 2.0
#: Addresses a fingerprint must be seen from (in the hour) before its own share counts.
SPREAD: Final = 5.0
#: The default ``corroboration`` share of the policy.
DEFAULT_SHARE: Final = 0.5
#: Features of a call to (or from) a listed costly number: its high score acts at once.
COSTLY: Final = ("to_premium", "to_high_risk", "to_honeypot", "from_high_risk")
#: Campaign signals that back a high score (module text).
CAMPAIGN_RUN: Final = 3
CAMPAIGN_EXTENSIONS: Final = 10.0
CAMPAIGN_NEIGHBOURS: Final = 3.0
#: Calls a flow without a telling outcome may place before its own share counts (:func:`unproven`).
NEW_FLOW_CALLS: Final = 20.0
#: A flow whose calls people answer (:func:`answered`): outcomes in the hour, connected share;
#: or, for a new flow, fewer outcomes: at least :data:`FEW_CONNECTED` connected and :data:`FEW_SHARE`.
ANSWERED_CALLS: Final = 5.0
ANSWERED_SHARE: Final = 0.4
FEW_CONNECTED: Final = 1.0
FEW_SHARE: Final = 0.5
#: Or over the day: outcomes in 24 h, connected share, and the connected share under which
#: the hour's outcomes (:data:`ANSWERED_CALLS` or more) are a failure burst that the day
#: does not outweigh.
ANSWERED_DAY_CALLS: Final = 20.0
ANSWERED_DAY_SHARE: Final = ANSWERED_SHARE  # one connected share for the hour and the day
BURST_SHARE: Final = 0.2
#: Steps of a rising run looked for between other calls (:func:`rising_run`).
RISING_MAX: Final = 8
#: Actions a sweep may take.
SWEEP_ACTIONS: Final = ("suspect", "reject", "drop")


class SweepPolicy:
    """The policy's ``sweep`` section (defaults in :data:`DEFAULT_SWEEP`): a flow is sweeping when

    - it dialled ``extensions`` distinct extension-like callees (at most 6 characters) in 60 s, or
    - ``extensions_failing`` of them while at least ``failures`` of its calls in the hour failed
      (the PBX's 404/484/403/401, cancelled calls), half of its outcomes or more, or
    - this callee ends a run of ``sequential`` steps through its recent callees, each step
      at most ``step`` apart and all in one direction (400, 401, 402...), or
    - with ``self_calls`` on: the call is addressed from an extension to itself (From == To,
      as SIPVicious ``svwar`` and its kin send), next in sequence to the flow's previous
      callee, and its address sent another INVITE within the second. A phone calls itself to
      reach its voicemail, not twice a second through a run of its neighbours.

    ``action`` (reject, drop or suspect) with ``status`` (0: the policy's reject status).
    ``rising_action`` is taken instead when the run was found only between other calls of a
    User-Agent fingerprint seen on several addresses (:func:`rising_run`: a dialler behind a
    carrier's SBCs). ``suspect`` by default: a customer's call can land in the dialler's
    sequence by chance, and it must still ring.
    """

    def __init__(
        self,
        enabled: bool = True,
        extensions: int = 10,
        extensions_failing: int = 5,
        failures: int = 5,
        sequential: int = 4,
        step: int = 10,
        action: str = "reject",
        status: int = 0,
        rising_action: str = "suspect",
        self_calls: bool = True,
    ) -> None:
        for name, value, low in (
            ("extensions", extensions, 2),
            ("extensions_failing", extensions_failing, 2),
            ("failures", failures, 1),
            ("sequential", sequential, 2),
            ("step", step, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 10_000:
                raise ValueError(f"sweep.{name} must be an integer from {low} to 10000, not {value!r}")
        if sequential > 9:
            raise ValueError(f"sweep.sequential must be at most 9 (the recent callees kept), not {sequential!r}")
        for flag, on in (("enabled", enabled), ("self_calls", self_calls)):
            if not isinstance(on, bool):
                raise ValueError(f"sweep.{flag} must be true or false, not {on!r}")
        for label, choice in (("action", action), ("rising_action", rising_action)):
            if choice not in SWEEP_ACTIONS:
                raise ValueError(f"sweep.{label} must be one of {', '.join(SWEEP_ACTIONS)}, not {choice!r}")
        if isinstance(status, bool) or not isinstance(status, int) or not (status == 0 or 400 <= status <= 699):
            raise ValueError(f"sweep.status must be 0 (the reject status) or 400-699, not {status!r}")
        self.enabled = enabled
        self.extensions = extensions
        self.extensions_failing = extensions_failing
        self.failures = failures
        self.sequential = sequential
        self.step = step
        self.action = action
        self.status = status
        self.rising_action = rising_action
        self.self_calls = self_calls

    def as_doc(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DEFAULT_SWEEP}


#: The policy document's default ``sweep`` section.
DEFAULT_SWEEP: Final[dict[str, Any]] = {
    "enabled": True,
    "extensions": 10,
    "extensions_failing": 5,
    "failures": 5,
    "sequential": 4,
    "step": 10,
    "action": "reject",
    "status": 0,
    "rising_action": "suspect",
    "self_calls": True,
}


def sweep_policy(doc: Mapping[str, Any] | None) -> SweepPolicy:
    """The ``sweep`` section of a policy document (None: the defaults); ValueError naming the
    field when it is bad."""
    if doc is None:
        return SweepPolicy()
    if not isinstance(doc, Mapping):
        raise ValueError(f"sweep must be an object, not {doc!r}")
    unknown = set(doc) - set(DEFAULT_SWEEP)
    if unknown:
        raise ValueError(f"sweep: unknown field(s) {', '.join(sorted(unknown))}")
    merged = {**DEFAULT_SWEEP, **doc}
    for name, default in DEFAULT_SWEEP.items():
        # checked here, not only in SweepPolicy: compiled, a wrong type fails at the call as a TypeError
        if type(merged[name]) is not type(default):
            raise ValueError(f"sweep.{name} must be of type {type(default).__name__}, not {merged[name]!r}")
    return SweepPolicy(**merged)


def costly(values: Mapping[str, float]) -> bool:
    """Whether the call's numbers are on the premium, high-risk or honeypot lists."""
    return any(values.get(name, 0.0) > 0.0 for name in COSTLY)


def sequential_run(anchor: int, recent: Sequence[str], step: int) -> int:
    """Steps of the monotone run ending at ``anchor`` (the callee) through ``recent`` (the
    flow's earlier callees, newest first): each step non-zero, at most ``step``, one direction."""
    run = 0
    sign = 0
    prev = anchor
    for r in recent:
        if not r or len(r) > 18 or not r.isdigit() or not r.isascii():
            break
        d = prev - int(r)
        if d == 0 or d > step or d < -step or (sign > 0 and d < 0) or (sign < 0 and d > 0):
            break
        sign = 1 if d > 0 else -1
        run += 1
        prev = prev - d
    return run


def rising_run(callee: str, recent: Sequence[str], step: int) -> int:
    """Steps of the rising chain ending at ``callee`` through ``recent`` (newest first),
    skipping the calls in between: each number taken is below the one after it by at most
    ``step``. A dialler working up a number list behind a carrier's SBCs is interleaved with the
    carrier's other calls, which break :func:`sequential_run`; its own callees still rise.
    Only numbers of the callee's length count (as digit strings of one length, their text
    order is their numeric order, so most are passed over without being converted). At most
    :data:`RISING_MAX` steps are looked for: the sweep rule needs far fewer."""
    anchor = callee_value(callee)
    if anchor < 0 or not recent:
        return 0
    width = len(callee)
    low = str(max(0, anchor - step * RISING_MAX)).zfill(width)
    run = 0
    prev = anchor
    for r in recent:
        if len(r) != width or r >= callee or r < low or not r.isdigit() or not r.isascii():
            continue
        v = int(r)
        if prev - step <= v < prev:
            run += 1
            prev = v
    return run


def callee_value(to_number: str) -> int:
    """The callee as an integer for :func:`sequential_run`; -1 when it is not a number."""
    if to_number and len(to_number) <= 18 and to_number.isdigit() and to_number.isascii():
        return int(to_number)
    return -1


def flow_run(c: Counters, callee: str, step: int) -> int:
    """:func:`sequential_run` of the ``callee`` through the recent callees of
    the flow, or of its User-Agent fingerprint on every address (a botnet handed the numbers in
    order, one call per bot), whichever is longer."""
    anchor = callee_value(callee)
    if anchor < 0:
        return 0
    run = sequential_run(anchor, c.flow_recent_to, step) if c.flow_recent_to else 0
    if c.ua_recent_to and c.ua_distinct_src_1h >= SHARED_UA:
        run = max(run, sequential_run(anchor, c.ua_recent_to, step))
    return run


def judge_flow(c: Counters, callee: str, p: SweepPolicy, caller: str = "") -> tuple[int, str, str]:
    """The flow's campaign run and its sweep: ``(run, reason, action)``, reason and action ""
    when it is not sweeping. The run is :func:`flow_run`'s, or, when that is no sweep,
    :func:`rising_run` through the callees of the flow's fingerprint on two or more addresses
    if that one is (then the reason says so and the action is ``rising_action``). Extensions
    are not searched that way, and a rising run short of a sweep backs no score: phones of one
    model on several addresses calling a few hundred extensions rise by chance.
    One function for the proxy and for the evaluation's replay (``caller``: the From number)."""
    run = flow_run(c, callee, p.step)
    reason = sweep_reason(c, run, p) or self_burst(c, caller, callee, run, p)
    if (
        reason
        or run >= p.sequential
        or c.ua_distinct_src_1h < SHARED_UA
        or not c.ua_recent_to
        or len(callee) <= EXTENSION_MAX
    ):
        return run, reason, p.action if reason else ""
    rising = rising_run(callee, c.ua_recent_to, p.step)
    if rising >= p.sequential and p.enabled and c.flow_1h > 0.0:
        return (
            rising,
            f"{rising + 1} callees in rising order from this User-Agent's addresses, between their other calls",
            p.rising_action,
        )
    return run, "", ""


def campaign(c: Counters, run: int) -> bool:
    """Whether the flow shows a campaign signal that backs a high score (module text)."""
    return (
        run >= CAMPAIGN_RUN
        or c.flow_distinct_ext_60s >= CAMPAIGN_EXTENSIONS
        or (c.flow_distinct_nbr_1h >= CAMPAIGN_NEIGHBOURS and 3.0 * c.flow_distinct_nbr_1h >= c.flow_1h)
    )


def support(c: Counters, signal: bool = False) -> float:
    """The share of the last hour's calls that back this INVITE's high score (module text);
    1.0 when nothing was counted for it (no counters: act on the score alone) or when the
    flow shows a campaign ``signal``."""
    if signal or (c.src_1h <= 0.0 and c.flow_1h <= 0.0):
        return 1.0
    if answered(c):
        return 0.0
    if c.flow_1h > 0.0:
        best = 0.0 if unproven(c) else (c.flow_high_1h + 1.0) / (c.flow_1h + PRIOR)
    else:  # no flow counted (counters from before flows were kept): the address stands in
        best = (c.src_high_1h + 1.0) / (c.src_1h + PRIOR)
    if c.ua_distinct_src_1h >= SPREAD and c.ua_1h > 0.0:
        best = max(best, (c.ua_high_1h + 1.0) / (c.ua_1h + PRIOR))
    return best


def unproven(c: Counters) -> bool:
    """Whether the flow is too new for its own share to back a high score (module text): in
    24 h none of its calls failed or talked past a hang-up, fewer than
    :data:`ANSWERED_CALLS` were hung up at once, and it placed at most :data:`NEW_FLOW_CALLS`
    in the hour. A flow whose calls never end (no answer is ever let through to it) is judged
    from its 21st call."""
    day = c.flow_calls_24h
    told = day - c.flow_short_24h  # failed or talked through
    return told <= 0.0 and day < ANSWERED_CALLS and c.flow_1h <= NEW_FLOW_CALLS


def answered(c: Counters) -> bool:
    """Whether people answer the flow's calls (connected: answered and not hung up at once,
    :func:`.counting.outcome_metrics`' ``short``; a robocall answered by an IVR is no answer;
    counted as soon as the call has outlasted a hang-up, :meth:`.engine.Detector.answered`):

    - :data:`ANSWERED_CALLS` outcomes or more in the hour, at least :data:`ANSWERED_SHARE` of
      them connected; or
    - a new flow (fewer than :data:`ANSWERED_DAY_CALLS` outcomes in 24 h) in its first minutes:
      at least :data:`FEW_CONNECTED` connected and :data:`FEW_SHARE` of its outcomes (someone
      talked, no more failures than answers; before five outcomes are in, calls hung up at once
      count neither way); or
    - :data:`ANSWERED_DAY_CALLS` outcomes or more in 24 h, at least :data:`ANSWERED_DAY_SHARE`
      of them connected, unless the hour is a failure burst: :data:`ANSWERED_CALLS` outcomes
      or more, under :data:`BURST_SHARE` of them connected. A carrier's SBC in its quiet hours
      has too few calls in the hour to say, and an unlucky hour of unanswered calls; its day
      still says it, and a day of refused calls is not outweighed by one answer in the hour.

    Such a flow's high scores back nothing (a campaign signal still does): robocalls are
    cancelled, unanswered or refused."""
    calls = c.flow_calls_1h
    connected = calls - c.flow_failed_1h - c.flow_short_1h
    if calls >= ANSWERED_CALLS and connected >= ANSWERED_SHARE * calls:
        return True
    day = c.flow_calls_24h
    if day < ANSWERED_DAY_CALLS:
        # before five outcomes are in, calls hung up at once count neither way (module text)
        judged = calls - c.flow_short_1h if calls < ANSWERED_CALLS else calls
        return connected >= FEW_CONNECTED and connected >= FEW_SHARE * judged
    if day - c.flow_failed_24h - c.flow_short_24h < ANSWERED_DAY_SHARE * day:
        return False
    return calls < ANSWERED_CALLS or connected >= BURST_SHARE * calls


def sweep_reason(c: Counters, run: int, p: SweepPolicy) -> str:
    """Why the flow is sweeping, readably ("" when it is not; see :class:`SweepPolicy`)."""
    if not p.enabled or c.flow_1h <= 0.0:
        return ""
    ext = c.flow_distinct_ext_60s
    if ext >= p.extensions:
        return f"{ext:.0f} distinct extensions in 60 s from this flow"
    if run >= p.sequential:
        return f"{run + 1} callees dialled in sequence by this flow or its User-Agent"
    failed = c.flow_failed_1h
    if ext >= p.extensions_failing and failed >= p.failures and 2.0 * failed >= c.flow_calls_1h:
        return (
            f"{ext:.0f} distinct extensions in 60 s from this flow, "
            f"{failed:.0f} of its {c.flow_calls_1h:.0f} calls failed"
        )
    return ""


#: INVITEs from the address within the second (this one included) that make a self-addressed
#: call in sequence a sweep (:func:`self_burst`); ``src_1s`` is a sliding estimate.
SELF_BURST: Final = 1.5


def self_burst(c: Counters, caller: str, callee: str, run: int, p: SweepPolicy) -> str:
    """Why a self-addressed extension call is a sweep ("" when it is not, :class:`SweepPolicy`
    ``self_calls``): From == To, an extension, one step on from the flow's previous callee, and
    another INVITE from the address within the second."""
    if (
        not p.enabled
        or not p.self_calls
        or run < 1
        or caller != callee
        or len(callee) > EXTENSION_MAX
        or c.src_1s < SELF_BURST
    ):
        return ""
    return f"extension {callee} called as itself, next to the flow's last callee, within a second of its previous call"


Row = tuple[float, str, str, float, str, str, bool]
#: A row's outcome: when the proxy learns it (0: never) and the counters it adds.
Ended = tuple[float, Sequence[str]]
_NEVER: Final[Ended] = (0.0, ())


def replay_campaigns(
    rows: Iterable[Row],
    threshold: float,
    policy: SweepPolicy | None = None,
    max_entities: int = 10_000_000,
    outcomes: Iterable[Ended] | None = None,
    flows: Iterable[str] | None = None,
) -> tuple[list[float], list[tuple[str, str]]]:
    """The support and sweep ``(reason, action)`` (both "" for none, :func:`judge_flow`) of each
    of ``rows`` = ``(time, source address, fingerprint, score, callee, caller, neighbour-spoofed)``
    in time order, counted as one proxy node counts them (:class:`LocalCounters`), with each
    row's call outcome (``outcomes``, parallel to ``rows``) fed back when it is due, as the proxy
    learns it: what ``antibot evaluate`` replays with each fold model's scores. A row whose
    score reaches ``threshold`` counts as high for the rows after it. ``flows`` (parallel to
    ``rows``): each row's flow as the proxy keys it (:func:`.features.observation`; "" or
    None: the address and the fingerprint)."""
    p = policy or SweepPolicy()
    counters = LocalCounters(max_entities)
    backing: list[float] = []
    sweeps: list[tuple[str, str]] = []
    due: list[tuple[float, int, str, str, Sequence[str]]] = []
    ends = iter(outcomes) if outcomes is not None else None
    keyed = iter(flows) if flows is not None else None
    for k, (now, source, fingerprint, score, to, caller, neighbour) in enumerate(rows):
        while due and due[0][0] <= now:
            at, _, src, flow, metrics = heapq.heappop(due)
            counters.outcome(src, metrics, at, flow)
        obs = Observation(
            source,
            caller,
            to,
            to[:6] if callee_value(to) >= 0 else "",
            fingerprint,
            (next(keyed, "") if keyed is not None else "") or flow_of(source, fingerprint),
            to if len(to) <= EXTENSION_MAX else "",
            caller if neighbour else "",
        )
        c = counters.observe(obs, now)
        run, reason, action = judge_flow(c, to, p, caller)
        backing.append(support(c, campaign(c, run)))
        sweeps.append((reason, action))
        if score >= threshold:
            counters.high(obs, now)
        ended, metrics = next(ends, _NEVER) if ends is not None else _NEVER
        if ended > 0.0 and metrics:
            heapq.heappush(due, (ended, k, source, obs.flow, metrics))
    return backing, sweeps


def replay_support(
    rows: Iterable[tuple[float, str, str, float]], threshold: float, max_entities: int = 10_000_000
) -> list[float]:
    """:func:`replay_campaigns`' support of rows ``(time, source, fingerprint, score)``, numbers unknown."""
    full = ((t, src, fp, score, "", "", False) for t, src, fp, score in rows)
    return replay_campaigns(full, threshold, None, max_entities)[0]


def campaigns(
    ts: Sequence[float],
    sources: Sequence[str],
    fingerprints: Sequence[str],
    scores: Sequence[float],
    threshold: float,
    callees: Sequence[str] | None = None,
    callers: Sequence[str] | None = None,
    neighbours: Sequence[bool] | None = None,
    policy: SweepPolicy | None = None,
    outcomes: Sequence[Ended] | None = None,
    flows: Sequence[str] | None = None,
) -> tuple[list[float], list[tuple[str, str]]]:
    """:func:`replay_campaigns` over parallel columns in any order (sorted by time, stable;
    returned in the given order)."""
    n = len(ts)
    to = callees if callees is not None else [""] * n
    fr = callers if callers is not None else [""] * n
    nb = neighbours if neighbours is not None else [False] * n
    order = sorted(range(n), key=ts.__getitem__)
    rows = ((ts[i], sources[i], fingerprints[i], scores[i], to[i], fr[i], nb[i]) for i in order)
    ends = (outcomes[i] for i in order) if outcomes is not None else None
    keyed = (flows[i] for i in order) if flows is not None else None
    backing, swept = replay_campaigns(rows, threshold, policy, outcomes=ends, flows=keyed)
    out = [1.0] * n
    reasons = [("", "")] * n
    for k, i in enumerate(order):
        out[i] = backing[k]
        reasons[i] = swept[k]
    return out, reasons


def supports(
    ts: Sequence[float], sources: Sequence[str], fingerprints: Sequence[str], scores: Sequence[float], threshold: float
) -> list[float]:
    """:func:`campaigns`' support alone, numbers unknown."""
    return campaigns(ts, sources, fingerprints, scores, threshold)[0]
