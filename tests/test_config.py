"""Config loading: TOML, flag overrides, and clear errors for bad values."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from antibot.config import SYNC_EMBEDDED, SYNC_SHARED, ConfigError, load, parse_listen, parse_upstream

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_loads() -> None:
    s = load(str(ROOT / "deploy" / "antibot.example.toml"), {})
    assert [(x.transport, x.host, x.port, x.advertise) for x in s.listen] == [
        ("udp", "0.0.0.0", 5060, "203.0.113.10"),
        ("tcp", "0.0.0.0", 5060, "203.0.113.10"),
    ]
    assert [(u.host, u.port, u.transport, u.priority, u.weight) for u in s.upstreams] == [
        ("10.0.0.5", 5060, "udp", 1, 10),
        ("10.0.0.6", 5060, "tcp", 2, 1),
    ]
    assert "friendly-scanner" in s.deny_user_agents and s.t1 == 0.5
    assert (s.mode, s.suspect_threshold, s.reject_threshold, s.corroboration) == ("enforce", 0.5, 0.9, 0.5)
    assert (s.data_dir, s.sync_interval) == ("/var/lib/antibot", None)
    assert s.counter_sync_interval() == SYNC_EMBEDDED  # no redis_url: this node is Redis's only writer
    s.redis_url = "redis://10.0.0.7:6379/0"
    assert s.counter_sync_interval() == SYNC_SHARED


def test_flags_override_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text(
        '[proxy]\nlisten = ["udp:127.0.0.1:5070"]\nfailover_timeout = 3.0\n[[upstream]]\nuri = "sip:127.0.0.1:5080"\n'
    )
    s = load(str(cfg), {"upstream": ["sip:127.0.0.1:6000;priority=3"], "failover_timeout": 1.5, "t1": 0.2})
    assert [(u.port, u.priority) for u in s.upstreams] == [(6000, 3)]
    assert s.failover_timeout == 1.5 and s.t1 == 0.2 and s.listen[0].port == 5070


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sctp:127.0.0.1:5060", "expected udp:HOST:PORT"),
        ("udp:example.com:5060", "host must be an IP address"),
        ("udp:127.0.0.1:99999", "bad port"),
        ("udp:127.0.0.1:50\u00b2", "bad port"),  # str.isdigit() takes "²", int() does not
        ("udp:0.0.0.0:5060", "needs --advertise"),
    ],
)
def test_bad_listen(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_listen(text)


def test_ipv6_listen_and_bad_upstream() -> None:
    assert parse_listen("tcp:[::1]:5062").host == "::1"
    with pytest.raises(ConfigError, match="transport must be udp or tcp"):
        parse_upstream("sip:127.0.0.1:5080;transport=sctp")
    with pytest.raises(ConfigError, match="unsupported URI scheme"):
        parse_upstream("http://pbx")


def test_missing_upstream_and_bad_timers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no upstream"):
        load(None, {})
    with pytest.raises(ConfigError, match="t1 <= t2"):
        load(None, {"upstream": ["sip:127.0.0.1:5080"], "t1": 5.0, "t2": 1.0})
    odd = tmp_path / "odd.toml"
    odd.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[detect]\ncorroboration = 2\n')
    with pytest.raises(ConfigError, match="corroboration"):
        load(str(odd), {})
    odd.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[detect]\nsuspect_threshold = "high"\n')
    with pytest.raises(ConfigError, match="suspect_threshold must be a number, not 'high'"):
        load(str(odd), {})
    odd.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[store]\nsync_interval = 0\n')
    with pytest.raises(ConfigError, match="sync_interval must be between"):
        load(str(odd), {})
    assert load(str(odd), {"sync_interval": 0.2}).counter_sync_interval() == 0.2  # the flag wins
    odd.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[store]\nsync_interval = "fast"\n')
    with pytest.raises(ConfigError, match="sync_interval must be a number of seconds, not 'fast'"):
        load(str(odd), {})
    bad = tmp_path / "bad.toml"
    bad.write_text("[proxy\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load(str(bad), {})


def test_cli_reports_config_errors_and_version() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "antibot", "run", "--upstream", "nonsense"], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2 and "config error" in run.stderr
    version = subprocess.run([sys.executable, "-m", "antibot", "--version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith("antibot ")


def test_startup_errors_are_reported_not_raised(tmp_path: Path) -> None:
    model = tmp_path / "broken.json"
    model.write_text("{}")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "antibot",
            "run",
            "--upstream",
            "sip:127.0.0.1:5080",
            "--listen",
            "udp:127.0.0.1:5999",
            "--model",
            str(model),
            "--data-dir",
            str(tmp_path / "data"),
            "--no-api",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "config error: model refused" in run.stderr and "Traceback" not in run.stderr


def test_busy_sip_port_is_a_config_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "antibot", "run", "--upstream", "sip:127.0.0.1:5080"]
            + ["--listen", f"udp:127.0.0.1:{port}", "--no-detect", "--no-api"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"config error: cannot listen on udp:127.0.0.1:{port}" in run.stderr and "Traceback" not in run.stderr


def test_store_limits_have_bounded_defaults_and_clear_errors(tmp_path: Path) -> None:
    """The embedded Redis's memory limit and eviction policy, its load wait, and the call log TTLs."""
    s = load(str(ROOT / "deploy" / "antibot.example.toml"), {})
    assert (s.redis_maxmemory, s.redis_maxmemory_policy, s.redis_load_timeout) == ("512mb", "volatile-lru", 600.0)
    assert (s.call_ttl, s.outcome_ttl) == (7 * 86400, 7 * 86400)
    cfg = tmp_path / "store.toml"
    head = '[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[store]\n'
    cfg.write_text(
        head + 'redis_maxmemory = "2gb"\nredis_maxmemory_policy = "volatile-ttl"\nredis_load_timeout = 1800\n'
        "call_ttl = 86400\noutcome_ttl = 3600\n"
    )
    s = load(str(cfg), {})
    assert (s.redis_maxmemory, s.redis_maxmemory_policy, s.redis_load_timeout) == ("2gb", "volatile-ttl", 1800)
    assert (s.call_ttl, s.outcome_ttl) == (86400, 3600)
    for line, message in (
        ('redis_maxmemory = "lots"', 'store.redis_maxmemory must be a size such as "512mb"'),
        ("redis_maxmemory = 512", "store.redis_maxmemory must be a size"),
        ('redis_maxmemory = "1mb"', "store.redis_maxmemory must be 0 .no limit. or at least 32mb"),
        ('redis_maxmemory_policy = "allkeys-lru"', "store.redis_maxmemory_policy must be one of volatile-lru"),
        ("redis_load_timeout = 0", "store.redis_load_timeout must be between 1 and 86400"),
        ("call_ttl = 60", "store.call_ttl must be a whole number of seconds between 3600 and 7776000, not 60"),
        ("outcome_ttl = 1e12", "store.outcome_ttl must be"),
        ("outcome_ttl = 7200.5", "store.outcome_ttl must be a whole number"),
    ):
        cfg.write_text(head + line + "\n")
        with pytest.raises(ConfigError, match=message):
            load(str(cfg), {})
