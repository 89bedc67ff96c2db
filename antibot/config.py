"""Settings for ``antibot run``: a TOML file, then command-line flags on top.

Every problem is reported as a :class:`ConfigError` naming the key and what is wrong.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .config_schema import check as check_schema
from .config_transports import tls_files, validate_tls, validate_ws, ws_settings
from .detect.lists import SCANNER_UAS
from .detect.rules import ISOLATED_VERDICTS, RuleError, check_knobs
from .sip.errors import SipError
from .sip.uri import parse_uri

__all__ = [
    "ConfigError",
    "ListenSpec",
    "Settings",
    "UpstreamSpec",
    "load",
    "parse_listen",
    "parse_upstream",
    "tls_files",
    "ws_settings",
]

#: Seconds between counter syncs with a Redis that several nodes share (``redis_url``): another
#: node's calls reach this node's counters within one interval (its own count at once).
SYNC_SHARED = 0.05
#: ... and with the embedded Redis, whose only writer is this node: its own counters are exact
#: without Redis, so the sync only persists them (AOF already loses up to 1 s on a crash).
SYNC_EMBEDDED = 0.5


class ConfigError(ValueError):
    """Bad configuration: the message says which setting and why."""


#: The transports of upstream URIs.
TRANSPORTS = ("udp", "tcp", "tls")
#: ... and of ``--listen``: also SIP over WebSocket (RFC 7118), plain and over TLS.
LISTEN_TRANSPORTS = (*TRANSPORTS, "ws", "wss")


@dataclass(frozen=True, slots=True)
class ListenSpec:
    transport: str
    host: str
    port: int
    advertise: str
    #: ``ws``/``wss``: the only request target upgraded (None: any).
    path: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    uri: str
    transport: str
    host: str
    port: int
    priority: int = 1
    weight: int = 1


@dataclass(slots=True)
class Settings:
    listen: list[ListenSpec] = field(default_factory=list)
    upstreams: list[UpstreamSpec] = field(default_factory=list)
    advertise: str | None = None
    probe_interval: float = 5.0
    probe_timeout: float = 2.0
    failover_timeout: float = 2.0
    #: Every upstream down by its probe and by a failed call: 503 at once (antibot/proxy/upstreams.py).
    upstream_fail_fast: bool = True
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    tcp_idle_timeout: float = 120.0
    #: TCP limits (antibot/transport/tcp.py): accepted connections in all (lowered to fit
    #: RLIMIT_NOFILE) and per source address (IPv6: per /64), the time one message may take to
    #: arrive from its first byte, and the largest message (a larger request gets 413).
    tcp_max_connections: int = 4096
    tcp_max_per_source: int = 64
    tcp_message_timeout: float = 10.0
    tcp_max_message_size: int = 65535
    #: ``[tls]`` (antibot/transport/tls.py): our certificate chain and key (PEM), the CA client
    #: certificates must chain to (None: none asked for) and whether one is required, the lowest
    #: TLS version, the handshake time limit, and the CA of upstream certificates (None: system's).
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_require_client_cert: bool = True
    tls_min_version: str = "1.2"
    tls_handshake_timeout: float = 10.0
    tls_upstream_ca: str | None = None
    #: Our Vias on TLS hops carry ``alias`` (RFC 5923): the peer may send its requests to us over
    #: the connection we opened.
    tls_alias: bool = True
    #: ``[websocket]`` (antibot/transport/ws.py): the allowed ``Origin`` values (empty: no browser
    #: page; "*": any), the largest message, and the handshake and idle time limits.
    ws_origins: list[str] = field(default_factory=list)
    ws_max_message_size: int = 65535
    ws_handshake_timeout: float = 10.0
    ws_idle_timeout: float = 300.0
    #: Key of the dialog tokens in our Record-Route; nodes that share dialogs share it. None:
    #: kept in ``<data_dir>/route.key`` (created on first start).
    route_secret: str | None = None
    #: Server transactions kept at most; beyond, new requests get a stateless 503.
    max_transactions: int = 100_000
    #: Answered calls remembered until their BYE (for their duration and remote target); beyond,
    #: the oldest is forgotten (its BYE is still relayed by its Route set).
    max_calls: int = 30_000
    #: Proxy processes sharing the SIP port (``antibot/run/workers.py``); 0: one per core.
    workers: int = 0
    #: How the workers share UDP callers: ``address`` (the kernel's 4-tuple: one trunk, one
    #: worker) or ``transaction`` (by top Via: one trunk's calls over every worker, see
    #: ``antibot/transport/steer.py``).
    udp_spread: str = "address"
    retry_after: int = 30
    shutdown_timeout: float = 32.0
    #: SIGTERM: how long answered calls still in progress keep being served (their BYE), at most.
    shutdown_call_grace: float = 10.0
    deny_user_agents: list[str] = field(default_factory=list)
    #: The destination policy (antibot/detect/policy_doc.py): refuse calls to the international
    #: premium / high-risk prefixes, except these international numbers or prefixes.
    deny_destinations: bool = True
    destination_exceptions: list[str] = field(default_factory=list)
    reject_status: int = 603
    reject_phrase: str = "Decline"
    reject_action: str = "reject"
    reason_prefix: str = "antibot"
    log_level: str = "info"
    # detection
    detect: bool = True
    #: The mode the config file seeds the shared policy with ([detect] mode).
    mode: str = "enforce"
    #: This node's own mode (``--mode``): applied over the shared policy's, never written to it.
    mode_override: str | None = None
    model: str | None = None
    suspect_threshold: float = 0.5
    reject_threshold: float = 0.9
    corroboration: float = 0.5
    #: How a high score its flow does not back is relayed: "pass" or "suspect" (score-isolated first in the reasons).
    isolated_verdict: str = "suspect-above-reject"
    store_timeout: float = 0.1
    #: None: :data:`SYNC_SHARED` with ``redis_url``, :data:`SYNC_EMBEDDED` with the embedded Redis.
    sync_interval: float | None = None
    redis_url: str | None = None
    data_dir: str = "antibot-data"
    calllog_maxlen: int = 100_000
    #: The embedded Redis (antibot/store/embedded.py): its memory limit in Redis units ("512mb",
    #: "2gb"; "0": none) and eviction policy (``volatile-*``: only keys with a TTL are evicted,
    #: never the policy, audit log or feedback), and how long a start waits while it loads its AOF.
    redis_maxmemory: str = "512mb"
    redis_maxmemory_policy: str = "volatile-lru"
    redis_load_timeout: float = 600.0
    #: Seconds Redis keeps each call's index (call ref -> call log entry) and outcome hash.
    call_ttl: int = 7 * 86400
    outcome_ttl: int = 7 * 86400
    rules: list[dict[str, Any]] = field(default_factory=list)
    flood_rate: float = 2.0
    flood_burst: float = 20.0
    flood_action: str = "503"
    premium_prefixes: list[str] | None = None
    high_risk_prefixes: list[str] | None = None
    honeypot_numbers: list[str] | None = None
    api_listen: str | None = "127.0.0.1:8080"

    def counter_sync_interval(self) -> float:
        """The configured ``sync_interval``, else :data:`SYNC_SHARED` or :data:`SYNC_EMBEDDED`."""
        if self.sync_interval is not None:
            return self.sync_interval
        return SYNC_SHARED if self.redis_url else SYNC_EMBEDDED


def parse_listen(text: str, advertise: str | None = None) -> ListenSpec:
    """``udp:127.0.0.1:5060``, ``tcp:[::1]:5060``, ``tls:127.0.0.1:5061``, ``wss:127.0.0.1:8089/ws``."""
    transport, sep, rest = text.partition(":")
    transport = transport.lower()
    if not sep or transport not in LISTEN_TRANSPORTS:
        raise ConfigError(
            f"listen {text!r}: expected udp:HOST:PORT, tcp:HOST:PORT, tls:HOST:PORT,"
            " ws:HOST:PORT[/PATH] or wss:HOST:PORT[/PATH]"
        )
    path: str | None = None
    if transport in ("ws", "wss") and "/" in rest:
        rest, slash, tail = rest.partition("/")
        path = slash + tail
        if not re.fullmatch(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*", path):
            raise ConfigError(f"listen {text!r}: bad path")
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
    else:
        host, _, port = rest.rpartition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"listen {text!r}: host must be an IP address") from None
    if not (port.isascii() and port.isdigit()) or len(port) > 5 or not 0 < int(port) < 65536:
        raise ConfigError(f"listen {text!r}: bad port")
    adv = advertise or host
    if ipaddress.ip_address(host).is_unspecified and not advertise:
        raise ConfigError(f"listen {text!r}: a wildcard address needs --advertise (the address peers reach us at)")
    return ListenSpec(transport, host, int(port), adv, path)


def parse_upstream(text: str, priority: int | None = None, weight: int | None = None) -> UpstreamSpec:
    """``sip:10.0.0.5:5060;transport=tcp;priority=1;weight=10``."""
    try:
        uri = parse_uri(text)
    except SipError as exc:
        raise ConfigError(f"upstream {text!r}: {exc.reason}") from None
    prio = priority if priority is not None else int(uri.param("priority") or 1)
    wt = weight if weight is not None else int(uri.param("weight") or 1)
    if wt < 0 or prio < 0:
        raise ConfigError(f"upstream {text!r}: priority and weight must be >= 0")
    transport = uri.transport
    if transport not in TRANSPORTS:
        raise ConfigError(f"upstream {text!r}: transport must be udp, tcp or tls")
    default_port = 5061 if transport == "tls" else 5060
    return UpstreamSpec(text, transport, uri.host.host, uri.host.port or default_port, prio, wt)


def load(path: str | None, overrides: dict[str, Any]) -> Settings:
    """Read the TOML file (if any), apply CLI overrides, validate."""
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path!r} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path!r}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
        try:  # unknown sections and keys, wrong types: <file>:<section>.<key>: ...
            check_schema(data, path)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    proxy = dict(data.get("proxy", {}))
    rules = dict(data.get("rules", {}))
    timers = dict(data.get("timers", {}))
    s = Settings()
    s.advertise = overrides.get("advertise") or proxy.get("advertise")
    for key in (
        "probe_interval",
        "probe_timeout",
        "failover_timeout",
        "upstream_fail_fast",
        "tcp_idle_timeout",
        "tcp_max_connections",
        "tcp_max_per_source",
        "tcp_message_timeout",
        "tcp_max_message_size",
        "retry_after",
        "shutdown_timeout",
        "shutdown_call_grace",
        "log_level",
        "route_secret",
        "max_transactions",
        "max_calls",
        "workers",
        "udp_spread",
    ):
        if key in proxy:
            setattr(s, key, proxy[key])
        if overrides.get(key) is not None:
            setattr(s, key, overrides[key])
    for key in ("t1", "t2", "t4"):
        if key in timers:
            setattr(s, key, float(timers[key]))
        if overrides.get(key) is not None:
            setattr(s, key, float(overrides[key]))
    listen = overrides.get("listen") or proxy.get("listen") or ["udp:127.0.0.1:5060"]
    s.listen = [parse_listen(item, s.advertise) for item in listen]
    if overrides.get("upstream"):
        s.upstreams = [parse_upstream(u) for u in overrides["upstream"]]
    else:
        for i, item in enumerate(data.get("upstream", [])):
            if "uri" not in item:
                raise ConfigError(f"[[upstream]] #{i + 1}: missing 'uri'")
            s.upstreams.append(parse_upstream(item["uri"], item.get("priority"), item.get("weight")))
    if not s.upstreams:
        raise ConfigError("no upstream: give --upstream sip:HOST:PORT or [[upstream]] in the config")
    # Known scanners are turned away out of the box; an explicit list (even empty) replaces it.
    s.deny_user_agents = list(overrides.get("deny_ua") or rules.get("deny_user_agents", SCANNER_UAS))
    for key in ("reject_status", "reject_phrase", "reject_action", "reason_prefix", "deny_destinations"):
        if key in rules:
            setattr(s, key, rules[key])
    detect = dict(data.get("detect", {}))
    store = dict(data.get("store", {}))
    flood = dict(data.get("flood", {}))
    for key in (
        "mode",
        "model",
        "suspect_threshold",
        "reject_threshold",
        "corroboration",
        "isolated_verdict",
        "store_timeout",
        "premium_prefixes",
        "high_risk_prefixes",
        "honeypot_numbers",
    ):
        if key in detect:
            setattr(s, key, detect[key])
    if "enabled" in detect:
        s.detect = bool(detect["enabled"])
    for key in (
        "redis_url",
        "data_dir",
        "calllog_maxlen",
        "sync_interval",
        "redis_maxmemory",
        "redis_maxmemory_policy",
        "redis_load_timeout",
        "call_ttl",
        "outcome_ttl",
    ):
        if key in store:
            setattr(s, key, store[key])
    for key in ("rate", "burst", "action"):
        if key in flood:
            setattr(s, f"flood_{key}", flood[key])
    websocket = dict(data.get("websocket", {}))
    for key in ("origins", "max_message_size", "handshake_timeout", "idle_timeout"):
        if key in websocket:
            setattr(s, f"ws_{key}", websocket[key])
        if overrides.get(f"ws_{key}") is not None:
            setattr(s, f"ws_{key}", overrides[f"ws_{key}"])
    tls = dict(data.get("tls", {}))
    for key in ("cert", "key", "ca", "require_client_cert", "min_version", "handshake_timeout", "upstream_ca", "alias"):
        if key in tls:
            setattr(s, f"tls_{key}", tls[key])
        if overrides.get(f"tls_{key}") is not None:
            setattr(s, f"tls_{key}", overrides[f"tls_{key}"])
    s.rules = [dict(r) for r in data.get("rule", [])]
    s.destination_exceptions = rules.get("destination_exceptions", [])
    api = dict(data.get("api", {}))
    if "listen" in api:
        s.api_listen = api["listen"] or None
    for key in ("model", "redis_url", "data_dir", "api_listen", "sync_interval"):
        if overrides.get(key) is not None:
            setattr(s, key, overrides[key])
    if overrides.get("mode") is not None:
        s.mode_override = overrides["mode"]
    if overrides.get("no_detect"):
        s.detect = False
    if overrides.get("no_api") or s.api_listen in ("", "off", "none"):
        s.api_listen = None
    _validate(s)
    return s


def _validate(s: Settings) -> None:
    for f in fields(Settings):
        value = getattr(s, f.name)
        if f.type in ("float", "int") and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{f.name} must be a number, not {value!r}")
    if not 0 < s.t1 <= s.t2:
        raise ConfigError("timers: need 0 < t1 <= t2")
    if s.t4 <= 0:
        raise ConfigError("timers: t4 must be > 0")
    _validate_tcp(s)
    validate_tls(s)
    validate_ws(s)
    if s.route_secret is not None and (not isinstance(s.route_secret, str) or len(s.route_secret) < 16):
        raise ConfigError("proxy.route_secret must be a string of at least 16 characters")
    if not 100 <= s.max_transactions <= 10_000_000:
        raise ConfigError("proxy.max_transactions must be between 100 and 10000000")
    if not 100 <= s.max_calls <= 10_000_000:
        raise ConfigError("proxy.max_calls must be between 100 and 10000000")
    if not 0 <= s.workers <= 256:
        raise ConfigError("proxy.workers must be between 0 (one per core) and 256")
    if s.udp_spread not in ("address", "transaction"):
        raise ConfigError("proxy.udp_spread must be 'address' or 'transaction'")
    if s.failover_timeout <= 0 or s.probe_timeout <= 0:
        raise ConfigError("proxy: failover_timeout and probe_timeout must be > 0")
    if s.shutdown_call_grace < 0:
        raise ConfigError("proxy.shutdown_call_grace must be >= 0")
    if not isinstance(s.upstream_fail_fast, bool):
        raise ConfigError(f"proxy.upstream_fail_fast must be true or false, not {s.upstream_fail_fast!r}")
    if s.reject_action not in ("reject", "drop"):
        raise ConfigError("rules.reject_action must be 'reject' or 'drop'")
    if not 400 <= int(s.reject_status) <= 699:
        raise ConfigError("rules.reject_status must be 400-699")
    if not isinstance(s.deny_destinations, bool):
        raise ConfigError(f"rules.deny_destinations must be true or false, not {s.deny_destinations!r}")
    exceptions = s.destination_exceptions
    if not isinstance(exceptions, list) or not all(isinstance(e, str) for e in exceptions):
        raise ConfigError(f"rules.destination_exceptions must be a list of strings, not {exceptions!r}")
    if s.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("log_level must be debug, info, warning or error")
    if s.mode not in ("enforce", "monitor"):
        raise ConfigError("detect.mode must be 'enforce' or 'monitor'")
    if s.mode_override not in (None, "enforce", "monitor"):
        raise ConfigError("--mode must be 'enforce' or 'monitor'")
    if s.isolated_verdict not in ISOLATED_VERDICTS:
        raise ConfigError("detect.isolated_verdict must be 'pass', 'suspect' or 'suspect-above-reject'")
    try:  # the policy compiler's own bounds (thresholds in [0.05, 1], corroboration in [0, 1])
        check_knobs(s.suspect_threshold, s.reject_threshold, s.corroboration, int(s.reject_status))
    except RuleError as exc:
        raise ConfigError(f"detect: {exc}") from None
    if s.sync_interval is not None:
        if isinstance(s.sync_interval, bool) or not isinstance(s.sync_interval, int | float):
            raise ConfigError(f"store.sync_interval must be a number of seconds, not {s.sync_interval!r}")
        if not 0.001 <= s.sync_interval <= 10.0:
            raise ConfigError("store.sync_interval must be between 0.001 and 10 seconds")
    if s.flood_action not in ("503", "drop"):
        raise ConfigError("flood.action must be '503' or 'drop'")
    if s.flood_rate <= 0 or s.flood_burst < 1:
        raise ConfigError("flood: need rate > 0 and burst >= 1")
    schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://", "redis+sentinel://")
    if s.redis_url is not None and not s.redis_url.startswith((*schemes, "rediss+sentinel://")):
        raise ConfigError(
            "redis_url must start with redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://"
        )
    _validate_store(s)


def _validate_tcp(s: Settings) -> None:
    """The ``[proxy] tcp_*`` limits (numbers already checked by :func:`_validate`)."""
    for key, low, high in (
        ("tcp_max_connections", 1, 1_000_000),
        ("tcp_max_per_source", 1, 1_000_000),
        ("tcp_max_message_size", 4096, 65535),  # 65535: the parser's own limit (antibot/sip/parser.py)
    ):
        value = getattr(s, key)
        if not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"proxy.{key} must be a whole number between {low} and {high}, not {value!r}")
    if not 0 < s.tcp_message_timeout <= 300:
        raise ConfigError(f"proxy.tcp_message_timeout must be > 0 and <= 300 seconds, not {s.tcp_message_timeout!r}")
    if s.tcp_idle_timeout <= 0:
        raise ConfigError(f"proxy.tcp_idle_timeout must be > 0 seconds, not {s.tcp_idle_timeout!r}")


#: ``store.call_ttl`` / ``store.outcome_ttl`` bounds: an hour to 90 days.
TTL_RANGE = (3600, 90 * 86400)


def _validate_store(s: Settings) -> None:
    """The ``[store]`` limits of the embedded Redis and the call log TTLs."""
    from .store.embedded import SAFE_POLICIES

    memory = s.redis_maxmemory
    if not isinstance(memory, str) or not re.fullmatch(r"(0|[1-9][0-9]{0,15})([kmg]b?|b)?", memory.lower()):
        raise ConfigError(f'store.redis_maxmemory must be a size such as "512mb", "2gb" or "0" (none), not {memory!r}')
    if _bytes(memory) != 0 and _bytes(memory) < 32 * 1024 * 1024:
        raise ConfigError(f"store.redis_maxmemory must be 0 (no limit) or at least 32mb, not {memory!r}")
    if s.redis_maxmemory_policy not in SAFE_POLICIES:
        raise ConfigError(
            f"store.redis_maxmemory_policy must be one of {', '.join(SAFE_POLICIES)}, not {s.redis_maxmemory_policy!r}"
            " (allkeys-* would evict the policy, the audit log and the feedback)"
        )
    if not 1.0 <= s.redis_load_timeout <= 86400.0:
        raise ConfigError(f"store.redis_load_timeout must be between 1 and 86400 seconds, not {s.redis_load_timeout!r}")
    low, high = TTL_RANGE
    for key in ("call_ttl", "outcome_ttl"):
        value = getattr(s, key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"store.{key} must be a whole number of seconds between {low} and {high}, not {value!r}")


def _bytes(size: str) -> int:
    """Redis's reading of a size: ``k``/``kb`` are 1000/1024, and so on (``64mb``: 64 MiB)."""
    text = size.lower()
    for suffix, factor in (("kb", 1024), ("mb", 1024**2), ("gb", 1024**3), ("k", 1000), ("m", 1000**2), ("g", 1000**3)):
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text.removesuffix("b"))
