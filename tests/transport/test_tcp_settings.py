"""The ``[proxy] tcp_*`` settings: read, validated with the key named, fitted to RLIMIT_NOFILE."""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable
from pathlib import Path

import pytest

from antibot.config import ConfigError, load
from antibot.run import proxy as wiring
from antibot.run.proxy import build_tcp_limits
from antibot.transport.tcp import TcpLimits, connection_budget

UPSTREAM = '[[upstream]]\nuri = "sip:127.0.0.1:5080"\n'


def config(tmp_path: Path, proxy: str) -> str:
    path = tmp_path / "antibot.toml"
    path.write_text(f"[proxy]\n{proxy}\n{UPSTREAM}")
    return str(path)


def test_the_settings_reach_the_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fitted: list[int] = []

    def budget(requested: int) -> int:  # no RLIMIT_NOFILE change in the test process
        fitted.append(requested)
        return requested

    monkeypatch.setattr(wiring, "connection_budget", budget)
    s = load(
        config(
            tmp_path,
            "tcp_max_connections = 100\ntcp_max_per_source = 4\ntcp_message_timeout = 2.5\n"
            "tcp_idle_timeout = 30.0\ntcp_max_message_size = 8192",
        ),
        {},
    )
    assert build_tcp_limits(s) == TcpLimits(100, 4, 2.5, 30.0, 8192)
    assert build_tcp_limits(load(config(tmp_path, ""), {})) == TcpLimits()
    assert fitted == [100, 4096]  # the cap is always fitted to RLIMIT_NOFILE
    assert (TcpLimits().max_per_source, TcpLimits().message_timeout, TcpLimits().max_message_size) == (64, 10.0, 65535)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("tcp_max_connections = 0", "proxy.tcp_max_connections"),
        ("tcp_max_connections = 10.5", "proxy.tcp_max_connections"),
        ('tcp_max_per_source = "64"', "tcp_max_per_source"),
        ("tcp_max_per_source = -1", "proxy.tcp_max_per_source"),
        ("tcp_message_timeout = 0", "proxy.tcp_message_timeout"),
        ("tcp_message_timeout = 1e9", "proxy.tcp_message_timeout"),
        ("tcp_idle_timeout = -5", "proxy.tcp_idle_timeout"),
        ("tcp_max_message_size = 100", "proxy.tcp_max_message_size"),
        ("tcp_max_message_size = 100000000", "proxy.tcp_max_message_size"),
        ("tcp_max_message_size = true", "tcp_max_message_size"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load(config(tmp_path, line), {})


class Limits:
    """A fake getrlimit/setrlimit pair."""

    def __init__(self, soft: int, hard: int, *, fail: bool = False) -> None:
        self.soft, self.hard, self.fail = soft, hard, fail

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def set(self, which: int, value: tuple[int, int]) -> None:
        if self.fail:
            raise ValueError("not allowed")
        self.soft, self.hard = value


def test_the_soft_file_limit_is_raised_to_the_hard_one() -> None:
    fds = Limits(1024, 65536)
    assert connection_budget(4096, fds.get, fds.set) == 4096
    assert (fds.soft, fds.hard) == (65536, 65536)


def test_the_cap_is_lowered_to_leave_descriptors_for_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    """19,990 idle connections once took every descriptor; now 1/8 (at least 128) stays free."""
    caplog.set_level(logging.WARNING, logger="antibot.tcp")
    assert connection_budget(100_000, *_pair(Limits(20000, 20000))) == 20000 - 2500
    assert connection_budget(4096, *_pair(Limits(1024, 1024))) == 1024 - 128
    assert connection_budget(4096, *_pair(Limits(256, 256))) == 128  # at most half is kept back
    assert [r.getMessage() for r in caplog.records].count("tcp_max_connections lowered to fit RLIMIT_NOFILE") == 3
    # Not allowed to raise: the cap fits the soft limit, with a warning.
    assert connection_budget(4096, *_pair(Limits(1024, 65536, fail=True))) == 1024 - 128
    assert any(r.getMessage() == "cannot raise RLIMIT_NOFILE" for r in caplog.records)


def _pair(fds: Limits) -> tuple[Callable[[int], tuple[int, int]], Callable[[int, tuple[int, int]], None]]:
    return fds.get, fds.set
