"""Config loading: TOML, flag overrides, and clear errors for bad values."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from antibot.config import SYNC_EMBEDDED, SYNC_SHARED, ConfigError, load, parse_listen, parse_upstream
from antibot.run.policy import build_rules, seed_doc

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
    with pytest.raises(ConfigError, match="transport must be udp, tcp or tls"):
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
    with pytest.raises(ConfigError, match="odd.toml:detect.suspect_threshold: must be a number, not 'high'"):
        load(str(odd), {})
    odd.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[store]\nsync_interval = 0\n')
    with pytest.raises(ConfigError, match="sync_interval must be between"):
        load(str(odd), {})
    assert load(str(odd), {"sync_interval": 0.2}).counter_sync_interval() == 0.2  # the flag wins
    odd.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[store]\nsync_interval = "fast"\n')
    with pytest.raises(ConfigError, match="odd.toml:store.sync_interval: must be a number, not 'fast'"):
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
        ("redis_maxmemory = 512", "store.redis_maxmemory: must be a string"),
        ('redis_maxmemory = "1mb"', "store.redis_maxmemory must be 0 .no limit. or at least 32mb"),
        ('redis_maxmemory_policy = "allkeys-lru"', "store.redis_maxmemory_policy must be one of volatile-lru"),
        ("redis_load_timeout = 0", "store.redis_load_timeout must be between 1 and 86400"),
        ("call_ttl = 60", "store.call_ttl must be a whole number of seconds between 3600 and 7776000, not 60"),
        ("outcome_ttl = 1e12", "store.outcome_ttl: must be a whole number"),
        ("outcome_ttl = 1000000000000", "store.outcome_ttl must be"),
        ("outcome_ttl = 7200.5", "store.outcome_ttl: must be a whole number, not 7200.5"),
    ):
        cfg.write_text(head + line + "\n")
        with pytest.raises(ConfigError, match=message):
            load(str(cfg), {})


# ---------------------------------------------------------------- the schema of the file
UPSTREAM = '[[upstream]]\nuri = "sip:127.0.0.1:5080"\n'


def test_a_typo_exits_2_naming_the_file_and_the_key(tmp_path: Path) -> None:
    """A misspelt setting used to leave the default in force without a word."""
    cfg = tmp_path / "typo.toml"
    cfg.write_text(UPSTREAM + "[detect]\nsupect_threshold = 0.2\n")
    run = subprocess.run(
        [sys.executable, "-m", "antibot", "run", "--config", str(cfg), "--no-detect", "--listen", "udp:127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip() == (
        f"antibot: config error: {cfg}:detect.supect_threshold: unknown setting (did you mean 'suspect_threshold'?)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[detect]\nsuspect_threshold = true\n", "detect.suspect_threshold: must be a number, not True"),
        ("[proxy]\nmax_transactions = 5000.0\n", "proxy.max_transactions: must be a whole number, not 5000.0"),
        ("[proxy]\nlisten = 'udp:127.0.0.1:5060'\n", "proxy.listen: must be a list [...], not 'udp:127.0.0.1:5060'"),
        ("[rules]\nreject_phrase = 486\n", "rules.reject_phrase: must be a string (in quotes), not 486"),
        ("[rules]\ndeny_user_agents = ['x', 1]\n", "rules.deny_user_agents[2]: must be a string (in quotes), not 1"),
        ("[detect]\nenabled = 'no'\n", "detect.enabled: must be true or false, not 'no'"),
        ("[timers]\nt1 = '0.5'\n", "timers.t1: must be a number, not '0.5'"),
        ("[api]\nlisten = true\n", "api.listen: must be a string (in quotes) or false, not True"),
        ("[flood]\nrat = 5\n", "flood.rat: unknown setting (did you mean 'rate'?)"),
        ("[detecc]\nmode = 'monitor'\n", "detecc: unknown section (did you mean 'detect'?)"),
        ("log_level = 'debug'\n", "log_level: not a section: put it under [proxy]"),
        (
            "[[upstream]]\nuri = 'sip:127.0.0.1:5090'\nweigth = 2\n",
            "upstream[1].weigth: unknown setting (did you mean 'weight'?)",
        ),
        ("[[upstream]]\npriority = 2\n", "upstream[1].uri: missing (required)"),
    ],
)
def test_unknown_keys_and_wrong_types_are_refused(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text + UPSTREAM)
    with pytest.raises(ConfigError) as err:
        load(str(cfg), {})
    assert f"{cfg}:{message}" in str(err.value).splitlines()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(UPSTREAM + "[detect]\nsupect_threshold = 0.2\nreject_threshold = 'high'\n")
    with pytest.raises(ConfigError) as err:
        load(str(cfg), {})
    assert sorted(line.split(":")[1] for line in str(err.value).splitlines()) == [
        "detect.reject_threshold",
        "detect.supect_threshold",
    ]


#: Settings fields whose file key differs from their name: field -> (section, key).
RENAMED = {
    "listen": ("proxy", "listen"),
    "upstreams": ("upstream", "uri"),
    "detect": ("detect", "enabled"),
    "flood_rate": ("flood", "rate"),
    "flood_burst": ("flood", "burst"),
    "flood_action": ("flood", "action"),
    "rules": ("rule", ""),
    "api_listen": ("api", "listen"),
    "mode_override": ("detect", "mode"),  # --mode: the flag side of detect.mode, this node's own
    **{
        f"tls_{key}": ("tls", key)
        for key in (
            "cert",
            "key",
            "ca",
            "require_client_cert",
            "min_version",
            "handshake_timeout",
            "upstream_ca",
            "alias",
        )
    },
    **{f"ws_{key}": ("websocket", key) for key in ("origins", "max_message_size", "handshake_timeout", "idle_timeout")},
}


def test_every_setting_has_its_place_in_the_schema() -> None:
    """A setting added to Settings (and read by load) without a schema field would be refused
    as unknown; this names it at once."""
    from dataclasses import MISSING, fields

    from antibot.config import Settings
    from antibot.config_schema import SECTIONS, ConfigFile

    for f in fields(Settings):
        if f.name in RENAMED:
            section, key = RENAMED[f.name]
            assert section in ConfigFile.model_fields and (not key or key in SECTIONS[section].model_fields), f.name
            continue
        homes = [name for name, model in SECTIONS.items() if f.name in model.model_fields]
        assert len(homes) == 1, f"Settings.{f.name} has no single place in the schema: {homes}"
        # declared twice (the file's schema, the running settings): the defaults must agree
        if f.default is not MISSING and f.default is not None:
            schema_default = SECTIONS[homes[0]].model_fields[f.name].default
            assert schema_default == f.default, f"{f.name}: schema {schema_default!r} != Settings {f.default!r}"


def _example_keys() -> dict[str, dict[str, str]]:
    """The example file's keys per section, commented-out ones included (key -> its line)."""
    import re

    out: dict[str, dict[str, str]] = {}
    section = ""
    for line in (ROOT / "deploy" / "antibot.example.toml").read_text().splitlines():
        head = re.fullmatch(r"#?\s*\[\[?([a-z_]+)\]\]?.*", line.strip())
        if head:
            section = head.group(1)
            out.setdefault(section, {})
            continue
        item = re.fullmatch(r"#?\s*([a-z_0-9]+)\s*=\s*(.*)", line.strip())
        if item and section:
            out[section].setdefault(item.group(1), line.strip())
    return out


def test_the_example_file_passes_the_schema_and_shows_every_setting_with_its_default() -> None:
    import tomllib

    from antibot.config_schema import SECTIONS, check

    example = ROOT / "deploy" / "antibot.example.toml"
    check(tomllib.loads(example.read_text()), str(example))  # raises on any unknown key or wrong type
    shown = _example_keys()
    missing = [
        f"{section}.{key}"
        for section, model in SECTIONS.items()
        for key in model.model_fields
        if key not in shown.get(section, {})
    ]
    assert missing == [], f"deploy/antibot.example.toml does not show {missing}"
    assert "rule" in shown  # [[rule]], an example in comments
    # a commented-out setting shows the default (the value used when the key is absent)
    for section, keys in shown.items():
        model = SECTIONS.get(section)
        for key, line in keys.items():
            if model is None or not line.startswith("#") or key not in model.model_fields:
                continue
            default = model.model_fields[key].get_default(call_default_factory=True)
            if default is None:
                continue
            value = tomllib.loads(line.lstrip("# ").split("  #")[0])[key]
            assert value == default, f"{section}.{key}: the example shows {value!r}, the default is {default!r}"
    # an active line gives the default too, except where the example shows a deployment's value
    deployment = {"proxy.listen", "proxy.advertise", "store.data_dir"}
    active = tomllib.loads(example.read_text())
    for section, model in SECTIONS.items():
        values = active.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if f"{section}.{key}" not in deployment:
                assert value == model.model_fields[key].get_default(call_default_factory=True), f"{section}.{key}"


def test_config_check_validates_without_starting_anything(tmp_path: Path) -> None:
    def check(path: Path) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "antibot", "config", "check", str(path)]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=30)

    good = check(ROOT / "deploy" / "antibot.example.toml")
    assert (good.returncode, good.stdout.strip()) == (0, f"{ROOT / 'deploy' / 'antibot.example.toml'}: ok")
    cfg = tmp_path / "a.toml"
    cfg.write_text("[rules]\nreject_status = 603\n")  # no [[upstream]]: --upstream may give it at run time
    assert check(cfg).returncode == 0
    cfg.write_text("[rules]\nreject_satus = 486\n[detect]\nsuspect_threshold = 2\n")
    bad = check(cfg)
    assert bad.returncode == 2 and bad.stdout == ""
    assert (
        f"antibot: config error: {cfg}:rules.reject_satus: unknown setting (did you mean 'reject_status'?)"
        in bad.stderr
    )
    cfg.write_text("[detect]\nsuspect_threshold = 2\n")  # a value out of range, found by the checks after the schema
    assert "detect: suspect_threshold must be between" in check(cfg).stderr
    cfg.write_text("[[rule]]\nid = 'x'\nphase = 'allow'\ncidr = ['10.0.0.0/8']\n")  # the rules are compiled too
    assert "rule x: unknown field(s) cidr" in check(cfg).stderr
    assert list(tmp_path.iterdir()) == [cfg]  # nothing created (no data directory, no route key)


def test_the_mode_flag_is_this_nodes_override_not_the_seeded_mode(tmp_path: Path) -> None:
    cfg = tmp_path / "monitor.toml"
    cfg.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[detect]\nmode = "monitor"\n')
    assert (load(str(cfg), {}).mode, load(str(cfg), {}).mode_override) == ("monitor", None)  # seeds the policy
    flagged = load(str(cfg), {"mode": "enforce"})
    assert (flagged.mode, flagged.mode_override) == ("monitor", "enforce")
    assert (
        seed_doc(flagged)["mode"] == "monitor"
        and build_rules(seed_doc(flagged), flagged.mode_override).mode == "enforce"
    )


def test_udp_spread_is_address_or_transaction(tmp_path: Path) -> None:
    upstream = {"upstream": ["sip:127.0.0.1:5080"]}
    assert load(None, upstream).udp_spread == "address"
    assert load(None, {**upstream, "udp_spread": "transaction"}).udp_spread == "transaction"
    with pytest.raises(ConfigError, match="udp_spread must be 'address' or 'transaction'"):
        load(None, {**upstream, "udp_spread": "callid"})
    odd = tmp_path / "odd.toml"
    odd.write_text('[[upstream]]\nuri = "sip:127.0.0.1:5080"\n[proxy]\nudp_spread = "random"\n')
    with pytest.raises(ConfigError, match="udp_spread"):
        load(str(odd), {})
