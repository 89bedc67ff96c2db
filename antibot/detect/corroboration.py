"""Corroboration: a high score is acted on when the caller's recent calls back it (pure, no I/O).

A model that has never seen an installation scores most of its calls low but a few of them
high: one odd header layout, one burst of failed calls, one carrier call without an identity
header. Those calls are the false positives, and they are *isolated*: the same address's
other calls of the last hour score low. A bot's high scores are not: a robodialer's address,
a scanner's, a botnet's shared dialler all score high call after call. So the default score
thresholds (suspect, reject) act only on a call whose **support** reaches the policy's
``corroboration`` share (0.5 by default; 0 turns it off):

    support = (high + 1) / (calls + PRIOR)

over the last hour (the sliding-window counters), where ``calls`` counts this INVITE and
``high`` the earlier INVITEs that scored at or above the suspect threshold, for

- the source address, always, and
- the User-Agent fingerprint (User-Agent text + header order), when it was seen from at least
  :data:`SPREAD` addresses in the hour: a dialler spread over many addresses (low-and-slow
  bots call each from its own address a few times an hour, too few for the address alone).
  A fingerprint seen from fewer addresses is those addresses' own traffic, already judged
  through them; on its own it is only the slice of their calls that share one header layout,
  which is exactly how a model's blind spot looks.

The larger of the two counts. A call that involves a number on the operator's premium,
high-risk or honeypot lists (:data:`COSTLY`) needs no backing: one toll-fraud call or one
returned wangiri call is already the loss, and people rarely call those numbers.

With ``PRIOR`` = 2, the first high-scoring call from a new
address has support 1/3 and is relayed (``X-Antibot-Reasons: score-isolated,...``); a second
one in a row has 2/4 and is acted on. Operator rules, including those on the score, are
never held back. Measured on the simulation: ``models/antibot-gbt.eval.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from .counting import LocalCounters
from .observation import Counters, Observation

#: Pseudo-calls in the denominator: how much history a share needs before it counts.
PRIOR: Final = 2.0
#: Addresses a fingerprint must be seen from (in the hour) before its own share counts.
SPREAD: Final = 5.0
#: The default ``corroboration`` share of the policy.
DEFAULT_SHARE: Final = 0.5
#: Features of a call to (or from) a listed costly number: its high score acts at once.
COSTLY: Final = ("to_premium", "to_high_risk", "to_honeypot", "from_high_risk")


def costly(values: Mapping[str, float]) -> bool:
    """Whether the call's numbers are on the premium, high-risk or honeypot lists."""
    return any(values.get(name, 0.0) > 0.0 for name in COSTLY)


def support(c: Counters) -> float:
    """The share of the last hour's calls that back this INVITE's high score (module text);
    1.0 when nothing was counted for its source (no counters: act on the score alone)."""
    if c.src_1h <= 0.0:
        return 1.0
    best = (c.src_high_1h + 1.0) / (c.src_1h + PRIOR)
    if c.ua_distinct_src_1h >= SPREAD and c.ua_1h > 0.0:
        best = max(best, (c.ua_high_1h + 1.0) / (c.ua_1h + PRIOR))
    return best


def replay_support(
    rows: Iterable[tuple[float, str, str, float]], threshold: float, max_entities: int = 10_000_000
) -> list[float]:
    """The support of each of ``rows`` = ``(time, source address, fingerprint, score)`` in time
    order, counted as one proxy node counts them (:class:`LocalCounters`): what ``antibot
    evaluate`` replays with each fold model's scores. A row whose score reaches ``threshold``
    counts as high for the rows after it."""
    counters = LocalCounters(max_entities)
    out: list[float] = []
    for now, source, fingerprint, score in rows:
        obs = Observation(source, "", "", "", fingerprint)
        out.append(support(counters.observe(obs, now)))
        if score >= threshold:
            counters.high(obs, now)
    return out


def supports(
    ts: Sequence[float], sources: Sequence[str], fingerprints: Sequence[str], scores: Sequence[float], threshold: float
) -> list[float]:
    """:func:`replay_support` over parallel columns in any order (sorted by time, stable;
    returned in the given order)."""
    order = sorted(range(len(ts)), key=ts.__getitem__)
    replayed = replay_support(((ts[i], sources[i], fingerprints[i], scores[i]) for i in order), threshold)
    out = [1.0] * len(ts)
    for i, value in zip(order, replayed, strict=True):
        out[i] = value
    return out
