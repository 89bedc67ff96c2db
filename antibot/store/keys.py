"""The Redis key scheme, shared by the SIP path (:mod:`.hotpath`) and the admin API (:mod:`.redis`).

Counters (every key of one script call shares its entity's Redis Cluster hash tag)::

    ab:{<kind>:<value>}:<metric>:<window>:<bucket>    kind: src | from | to | pfx | ua | flow
    ab:{src:<ip>}:callees                             the last To numbers this source dialled
    ab:{flow:<ip>|<fp>}:callees                       ... this flow (source + stack fingerprint)
    ab:{ua:<fp>}:callees                              ... and this User-Agent fingerprint
    ab:calls                                          the call log stream

``metric`` is ``inv`` (INVITEs), ``dto`` (HyperLogLog of To numbers), ``dsrc`` (HyperLogLog
of source IPs), ``dext``/``dnbr`` (a flow's HyperLogLogs of extension-like callees and of
neighbour-spoofed caller IDs), ``high`` (high scores) or ``calls``/``failed``/``short``
(outcomes); ``window`` is ``1s``, ``10s``, ``60s``, ``1h`` or ``24h`` (a flow's outcomes over
the day); ``bucket`` is ``floor(now / W)``
for the caller's ``now``, never Redis's clock. A bucket's keys expire when it stops being the
"previous" bucket (at most 2 W after it began). ``callees`` is a sorted set scored by call
time (microseconds, the caller's clock), members ``<time>:<number>``, trimmed to the newest
few: the order dialled, whichever node synced first; it expires 1 h after the last push.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Final
from urllib.parse import quote

CALLS_STREAM: Final = "ab:calls"
#: An entity's recent To numbers, after its hash tag (see the module text).
RECENT: Final = "callees"
#: Operator feedback: call ref -> JSON ``{"label": 0|1, "features": {name: value}}``.
FEEDBACK_HASH: Final = "ab:{admin}:feedback"
WINDOWS: Final = {1: "1s", 10: "10s", 60: "60s", 3600: "1h", 86400: "24h"}

# Admin API keys (see the "admin API" section of Store). The policy, its history, the audit
# stream and the feedback hash are written together in MULTI/EXEC blocks, so they share the
# ``{admin}`` hash tag: one slot on Redis Cluster.
POLICY_KEY: Final = "ab:{admin}:policy"  # the policy document: JSON with an integer "version"
POLICY_HISTORY: Final = "ab:{admin}:policy:history"  # stream {version, ts, who, doc}
POLICY_CHANNEL: Final = "ab:policy:changed"  # pub/sub: the new version
AUDIT_STREAM: Final = "ab:{admin}:audit"  # stream {ts, who, action, detail, version}
CALL_INDEX: Final = "ab:call:"  # + call ref -> its ab:calls stream id
OUTCOME_PREFIX: Final = "ab:outcome:"  # + call ref -> hash {status, duration, ts}
STATS_PREFIX: Final = "ab:stats:"  # + "m:<epoch minute>" / "h:<epoch hour>" -> hash verdict -> count
TOP_PREFIX: Final = "ab:top:"  # + "src|ua|num:<epoch hour>" -> zset value -> suspect/reject/drop calls
VERDICTS: Final = ("pass", "suspect", "reject", "drop")
CALL_REF_MAX: Final = 128
CALL_INDEX_TTL: Final = 7 * 86400
STATS_TTL: Final = {"m": 2 * 86400, "h": 30 * 86400}
TOP_KEEP: Final = 200
HISTORY_MAXLEN: Final = 1000
AUDIT_MAXLEN: Final = 10_000

_PLAIN = re.compile(r"[!-$&-z|~]{1,96}")  # printable ASCII minus % { } and space
_QUOTE_SAFE = "!\"#$&'()*+,-./:;<=>?@[\\]^_`|~"


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    text: str
    sha: str


def _script(name: str) -> Script:
    text = files("antibot.store").joinpath("lua", name).read_text("utf-8")
    return Script(name, text, hashlib.sha1(text.encode()).hexdigest())


SYNC: Final = _script("sync.lua")
SCRIPTS: Final = (SYNC,)


def entity_prefix(kind: str, value: str) -> str:
    """``ab:{kind:value}:``; ``% { }``, spaces and non-ASCII are %-encoded, long values hashed."""
    if value and not _PLAIN.fullmatch(value):
        value = _quote(value)
    return f"ab:{{{kind}:{value}}}:"


def _quote(value: str) -> str:
    quoted = quote(value, safe=_QUOTE_SAFE, errors="surrogatepass")
    if len(quoted) <= 96:
        return quoted
    return "%h" + hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def window(now: float, w: int) -> tuple[int, int, float]:
    """``(bucket, ttl, weight)``: ``floor(now / w)``, seconds the bucket's keys stay useful
    (to the end of the next bucket, at most 2 w), and the previous bucket's weight."""
    bucket = int(now // w)  # consistent with now % w, unlike floor(now / w) at float edges
    return bucket, (bucket + 2) * w - math.floor(now), 1.0 - (now % w) / w
