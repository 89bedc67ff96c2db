"""The typed schema of the TOML config file: one pydantic model per section.

Unknown sections and keys, and values of the wrong type, are refused before anything starts,
each as ``<file>:<section>.<key>: <what is wrong>`` (``upstream[2].weight`` for an entry of an
array of tables). The ranges and cross-checks (``t1 <= t2``, thresholds, sizes) stay in
:func:`antibot.config._validate`, which also covers the command-line flags.

Each field's default is the value ``antibot run`` uses when the key is absent;
``deploy/antibot.example.toml`` shows every field (checked by the tests).
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .detect.lists import SCANNER_UAS


class _Section(BaseModel):
    """Strict: TOML's own types only (an integer is accepted where a number is expected)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ProxySection(_Section):
    listen: list[str] = ["udp:127.0.0.1:5060"]
    advertise: str | None = None
    probe_interval: float = 5.0
    probe_timeout: float = 2.0
    failover_timeout: float = 2.0
    upstream_fail_fast: bool = True
    tcp_idle_timeout: float = 120.0
    tcp_max_connections: int = 4096
    tcp_max_per_source: int = 64
    tcp_message_timeout: float = 10.0
    tcp_max_message_size: int = 65535
    retry_after: int = 30
    route_secret: str | None = None
    max_transactions: int = 100_000
    max_calls: int = 30_000
    workers: int = 0
    udp_spread: Literal["address", "transaction"] = "address"
    shutdown_timeout: float = 32.0
    shutdown_call_grace: float = 10.0
    log_level: str = "info"


class TlsSection(_Section):
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    require_client_cert: bool = True
    min_version: str = "1.2"
    handshake_timeout: float = 10.0
    upstream_ca: str | None = None
    alias: bool = True


class WebSocketSection(_Section):
    origins: list[str] = []
    max_message_size: int = 65535
    handshake_timeout: float = 10.0
    idle_timeout: float = 300.0


class TimersSection(_Section):
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class UpstreamEntry(_Section):
    uri: str
    priority: int | None = None
    weight: int | None = None


class RulesSection(_Section):
    deny_user_agents: list[str] = list(SCANNER_UAS)
    deny_destinations: bool = True
    destination_exceptions: list[str] = []
    reject_action: str = "reject"
    reject_status: int = 603
    reject_phrase: str = "Decline"
    reason_prefix: str = "antibot"


class DetectSection(_Section):
    enabled: bool = True
    mode: str = "enforce"
    model: str | None = None
    suspect_threshold: float = 0.5
    reject_threshold: float = 0.9
    corroboration: float = 0.5
    isolated_verdict: str = "suspect-above-reject"
    store_timeout: float = 0.1
    #: None: the built-in lists (antibot/detect/lists.py NumberLists).
    premium_prefixes: list[str] | None = None
    high_risk_prefixes: list[str] | None = None
    honeypot_numbers: list[str] | None = None


class StoreSection(_Section):
    redis_url: str | None = None
    data_dir: str = "antibot-data"
    calllog_maxlen: int = 100_000
    #: None: 0.05 s with redis_url, 0.5 s with the embedded Redis (antibot/config.py).
    sync_interval: float | None = None
    redis_maxmemory: str = "512mb"
    redis_maxmemory_policy: str = "volatile-lru"
    redis_load_timeout: float = 600.0
    call_ttl: int = 7 * 86400
    outcome_ttl: int = 7 * 86400


class FloodSection(_Section):
    rate: float = 2.0
    burst: float = 20.0
    action: str = "503"


class ApiSection(_Section):
    #: HOST:PORT; "" / "off" / false: no admin API.
    listen: str | Literal[False] = "127.0.0.1:8080"


class ConfigFile(_Section):
    proxy: ProxySection = Field(default_factory=ProxySection)
    tls: TlsSection = Field(default_factory=TlsSection)
    websocket: WebSocketSection = Field(default_factory=WebSocketSection)
    timers: TimersSection = Field(default_factory=TimersSection)
    upstream: list[UpstreamEntry] = []
    rules: RulesSection = Field(default_factory=RulesSection)
    detect: DetectSection = Field(default_factory=DetectSection)
    store: StoreSection = Field(default_factory=StoreSection)
    flood: FloodSection = Field(default_factory=FloodSection)
    #: The operator's rules ([[rule]]), checked by the policy compiler (antibot/detect/rules.py).
    rule: list[dict[str, Any]] = []
    api: ApiSection = Field(default_factory=ApiSection)


#: Section name -> its model (the arrays of tables ``upstream`` and ``rule`` included).
SECTIONS: dict[str, type[BaseModel]] = {
    "proxy": ProxySection,
    "tls": TlsSection,
    "websocket": WebSocketSection,
    "timers": TimersSection,
    "upstream": UpstreamEntry,
    "rules": RulesSection,
    "detect": DetectSection,
    "store": StoreSection,
    "flood": FloodSection,
    "api": ApiSection,
}

_KINDS = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string (in quotes)",
    "list_type": "a list [...]",
    "model_type": "a table ([section])",
    "dict_type": "a table",
}


def check(data: dict[str, Any], source: str) -> ConfigFile:
    """Validate a parsed TOML document; raise ``ValueError`` with one line per problem."""
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        # one line per key (a union reports each branch; the last one names them all)
        found = {_where(e["loc"]): _message(e) for e in exc.errors()}
        raise ValueError("\n".join(f"{source}:{where}: {message}" for where, message in found.items())) from None


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        elif part not in ("str", "list[str]", "literal[False]", "none", "bool"):  # union branch names
            out += f".{part}" if out else str(part)
    return out


def _message(error: Any) -> str:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        if len(loc) == 1:  # a key outside any section, or a misspelt section
            name = str(loc[0])
            home = [s for s, model in SECTIONS.items() if name in model.model_fields]
            if home:
                return f"not a section: put it under [{home[0]}]"
            return "unknown section" + _suggest(name, list(ConfigFile.model_fields))
        model = SECTIONS.get(str(loc[0]))
        return "unknown setting" + _suggest(str(loc[-1]), list(model.model_fields) if model else [])
    if kind == "missing":
        return "missing (required)"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, not {value!r}"
    if kind == "literal_error":
        return f"must be a string (in quotes) or false, not {value!r}"
    return str(error["msg"])


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
