"""Reading the call log: entry parsing, filtered newest-first paging, rule facts.

Paging scans the ``ab:calls`` stream newest first with XREVRANGE in batches and filters
each entry here; one request reads at most :data:`SCAN_BUDGET` entries, so a rare filter
can return a short (even empty) page whose ``next_cursor`` continues the scan.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from antibot.detect.explain import why
from antibot.detect.logform import read_features
from antibot.detect.rules import Facts
from antibot.proxy.effects import TlsFacts
from antibot.store.redis import Store

from .schemas import CallDetail, CallPage, CallQuery, CallSummary, Explanation, Outcome
from .schemas.calls import Reason, TlsInfo

SCAN_BATCH = 500
SCAN_BUDGET = 5000
CLOCK_SKEW = 300.0  # seconds an entry's stream id may be later than its ts (queue, retries)
MAX_ID_PART = 2**64 - 1

Entry = tuple[str, dict[str, str]]


def number(text: str | None, default: float = 0.0) -> float:
    try:
        value = float(text or "")
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def parse_outcome(fields: Mapping[str, str]) -> Outcome | None:
    if not fields or "status" not in fields:
        return None
    status = number(fields.get("status"), -1.0)
    duration = number(fields.get("duration"), -1.0)
    return Outcome(status=int(status) if 0 <= status < 1000 else 0, duration=duration if duration >= 0 else None)


def summary(entry_id: str, f: Mapping[str, str], outcome: Outcome | None = None) -> CallSummary:
    return CallSummary.model_validate(
        {
            "id": entry_id,
            "call": f.get("call", ""),
            "ts": number(f.get("ts")),
            "verdict": f.get("verdict", ""),
            "action": f.get("action", ""),
            "score": number(f.get("score")),
            "reasons": [r for r in f.get("reasons", "").split(",") if r],
            "rule": f.get("rule") or None,
            "src": f.get("src", ""),
            "from": f.get("from", ""),
            "to": f.get("to", ""),
            "ua": f.get("ua", ""),
            "status": status if 400 <= (status := int(number(f.get("status")))) <= 699 else None,
            "outcome": outcome,
            "transport": f.get("transport", ""),
        }
    )


def tls_facts(f: Mapping[str, str]) -> TlsFacts | None:
    """The entry's TLS facts (None: not over TLS, or logged before they were recorded)."""
    if "tls_version" not in f:
        return None
    return TlsFacts(
        f.get("tls_version", ""), f.get("tls_cipher", ""), f.get("tls_sni", ""), f.get("tls_client_cert") == "1"
    )


def tls_info(f: Mapping[str, str]) -> TlsInfo | None:
    tls = tls_facts(f)
    if tls is None:
        return None
    return TlsInfo(version=tls.version, cipher=tls.cipher, sni=tls.sni or None, client_cert=tls.client_cert)


def features(f: Mapping[str, str]) -> dict[str, float]:
    """The entry's features (every one; finite values only); {} when it has none readable."""
    read = read_features(f.get("features", "")) or {}
    return {name: value if math.isfinite(value) else 0.0 for name, value in read.items()}


def explanation(f: Mapping[str, str]) -> list[Explanation]:
    try:
        raw = json.loads(f.get("explanation", "") or "[]")
    except ValueError:
        return []
    out: list[Explanation] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], int | float) and math.isfinite(item[1]):
            out.append(Explanation(feature=str(item[0]), contribution=float(item[1])))
    return out


def reasons_in_words(f: Mapping[str, str], feats: Mapping[str, float], expl: list[Explanation]) -> list[Reason]:
    """The entry's reasons as an operator reads them, rendered here rather than by the proxy
    (the entry holds the codes, the explanation and the features they are made from)."""
    context = {"from": f.get("from", ""), "to": f.get("to", ""), "ua": f.get("ua", "")}
    found = why(
        [(e.feature, e.contribution) for e in expl],
        feats or None,
        [r for r in f.get("reasons", "").split(",") if r],
        rule=f.get("rule") or None,
        rule_text=f.get("rule_text", ""),
        context=context,
    )
    return [Reason.model_validate(r) for r in found]


def detail(entry_id: str, f: Mapping[str, str], outcome: Mapping[str, str]) -> CallDetail:
    base = summary(entry_id, f, parse_outcome(outcome))
    feats, expl = features(f), explanation(f)
    return CallDetail(
        **base.model_dump(by_alias=False),
        tls=tls_info(f),
        features=feats,
        explanation=expl,
        why=reasons_in_words(f, feats, expl),
        call_id=f.get("call_id", ""),
        mode=f.get("mode", ""),
    )


def facts(f: Mapping[str, str]) -> Facts:
    """What a rule sees, rebuilt from a logged call."""
    get = f.get
    return Facts(
        get("src", ""),
        get("from", ""),
        get("to", ""),
        get("ua", ""),
        number(get("score")),
        features(f),
        transport=get("transport", ""),
        tls=tls_facts(f),
    )


def _digits(text: str) -> str:
    return text.strip().lstrip("+")


def matcher(q: CallQuery) -> Callable[[Mapping[str, str]], bool]:
    """A predicate for the query's filters (all of them must hold)."""
    tests: list[Callable[[Mapping[str, str]], bool]] = [lambda f: bool(f.get("verdict"))]
    if q.verdict is not None:
        verdicts = frozenset(q.verdict.split(","))
        tests.append(lambda f: f.get("verdict") in verdicts)
    if q.since is not None or q.until is not None:
        lo, hi = q.since or 0.0, q.until if q.until is not None else math.inf
        tests.append(lambda f: lo <= number(f.get("ts")) <= hi)
    if q.src:
        tests.append(_src_test(q.src))
    if q.from_:
        caller = _digits(q.from_)
        tests.append(lambda f: _digits(f.get("from", "")).startswith(caller))
    if q.to:
        callee = _digits(q.to)
        tests.append(lambda f: _digits(f.get("to", "")).startswith(callee))
    if q.ua:
        needle = q.ua.casefold()
        tests.append(lambda f: needle in f.get("ua", "").casefold())
    if q.rule:
        rule = q.rule
        tests.append(lambda f: f.get("rule") == rule)
    if q.reason:
        code = q.reason
        tests.append(lambda f: code in f.get("reasons", "").split(","))
    if q.min_score is not None:
        low = q.min_score
        tests.append(lambda f: number(f.get("score")) >= low)
    if q.max_score is not None:
        high = q.max_score
        tests.append(lambda f: number(f.get("score")) <= high)
    return lambda f: all(test(f) for test in tests)


def _src_test(src: str) -> Callable[[Mapping[str, str]], bool]:
    if "/" not in src:
        return lambda f: f.get("src") == src
    try:
        net: Any = ipaddress.ip_network(src, strict=False)
    except ValueError:
        return lambda f: False

    def inside(f: Mapping[str, str]) -> bool:
        try:
            return ipaddress.ip_address(f.get("src", "")) in net
        except ValueError:
            return False

    return inside


def parse_id(text: str) -> tuple[int, int] | None:
    ms, _, seq = text.partition("-")
    if not (ms.isdigit() and seq.isdigit()) or int(ms) > MAX_ID_PART or int(seq) > MAX_ID_PART:
        return None
    return int(ms), int(seq)


def bounds(q: CallQuery) -> tuple[str, str] | None:
    """XREVRANGE (upper, lower) for the cursor and time filters; None when nothing can match."""
    upper, key = "+", (MAX_ID_PART, MAX_ID_PART)
    if q.cursor is not None:
        cursor = parse_id(q.cursor)
        if cursor is None or cursor == (0, 0):
            return None
        upper, key = f"({q.cursor}", cursor
    if q.until is not None:
        ms = int((q.until + CLOCK_SKEW) * 1000)
        if (ms, MAX_ID_PART) < key:
            upper = str(ms)
    lower = "-" if q.since is None else str(int(max(0.0, q.since - CLOCK_SKEW) * 1000))
    return upper, lower


async def list_calls(store: Store, q: CallQuery) -> CallPage:
    limits = bounds(q)
    if limits is None:
        return CallPage(items=[], next_cursor=None)
    upper, lower = limits
    test = matcher(q)
    found: list[Entry] = []
    scanned = 0
    cursor: str | None = None
    while True:
        count = min(SCAN_BATCH, SCAN_BUDGET - scanned)
        rows = await store.calls_between(upper, lower, count)
        scanned += len(rows)
        for entry_id, fields in rows:
            if test(fields):
                found.append((entry_id, fields))
                if len(found) == q.limit:
                    cursor = entry_id
                    break
        if cursor is not None or len(rows) < count:
            break
        upper = f"({rows[-1][0]}"
        if scanned >= SCAN_BUDGET:
            cursor = rows[-1][0]
            break
    outcomes = await store.call_outcomes([f.get("call", "") for _, f in found])
    items = [summary(i, f, parse_outcome(o)) for (i, f), o in zip(found, outcomes, strict=True)]
    return CallPage(items=items, next_cursor=cursor)


async def recent_calls(store: Store, n: int) -> list[Entry]:
    """The newest ``n`` verdict entries (outcome entries skipped), reading at most 3 n entries."""
    out: list[Entry] = []
    upper, budget = "+", 3 * n
    while len(out) < n and budget > 0:
        count = min(1000, budget)
        rows = await store.calls_between(upper, "-", count)
        budget -= len(rows)
        out.extend((i, f) for i, f in rows if f.get("verdict"))
        if len(rows) < count:
            break
        upper = f"({rows[-1][0]}"
    return out[:n]
