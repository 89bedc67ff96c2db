"""``ws:``/``wss:`` listeners and the ``[websocket]`` settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from antibot.config import ConfigError, load, parse_listen, ws_settings
from antibot.run.proxy import build_tls, build_ws
from antibot.transport.ws import WsSettings

from .tlscerts import make_certs

UPSTREAM = "sip:127.0.0.1:5080"


def test_ws_listeners_take_an_optional_path() -> None:
    plain = parse_listen("ws:127.0.0.1:8088")
    assert (plain.transport, plain.port, plain.path) == ("ws", 8088, None)
    secure = parse_listen("WSS:[::1]:8089/ws")
    assert (secure.transport, secure.host, secure.port, secure.path) == ("wss", "::1", 8089, "/ws")
    with pytest.raises(ConfigError, match="bad path"):
        parse_listen("ws:127.0.0.1:8088/a b")
    with pytest.raises(ConfigError, match="bad port"):
        parse_listen("tcp:127.0.0.1:5060/x")  # a path only on ws/wss


def test_websocket_section_and_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text('[websocket]\norigins = ["https://phone.example.com"]\nmax_message_size = 8192\nidle_timeout = 60\n')
    s = load(str(cfg), {"upstream": [UPSTREAM], "listen": ["ws:127.0.0.1:8088"]})
    assert ws_settings(s) == WsSettings(("https://phone.example.com",), 8192, 10.0, 60)
    assert build_ws(s) == ws_settings(s)
    flags = load(str(cfg), {"upstream": [UPSTREAM], "ws_origins": ["*"]})
    assert flags.ws_origins == ["*"] and build_ws(flags) is None  # no ws listener: not built


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('origins = ["phone.example.com"]', 'not "\\*" nor scheme://host'),
        ("origins = []\nmax_message_size = 100000", "between 4096 and 65535"),
        ("handshake_timeout = 0", "handshake_timeout must be > 0"),
        ("idle_timeout = -1", "idle_timeout must be > 0"),
    ],
)
def test_bad_websocket_settings(tmp_path: Path, section: str, message: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[websocket]\n{section}\n")
    with pytest.raises(ConfigError, match=message):
        load(str(cfg), {"upstream": [UPSTREAM]})


def test_a_wss_listener_needs_the_tls_files_and_one_worker(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs \\[tls\\] cert and key"):
        load(None, {"upstream": [UPSTREAM], "listen": ["wss:127.0.0.1:8089"]})
    with pytest.raises(ConfigError, match="workers = 1"):
        load(None, {"upstream": [UPSTREAM], "listen": ["ws:127.0.0.1:8088"], "workers": 2})
    certs = make_certs(tmp_path)
    s = load(None, {"upstream": [UPSTREAM], "listen": ["wss:127.0.0.1:8089"], "tls_cert": str(certs.cert),
                    "tls_key": str(certs.key)})  # fmt: skip
    tls = build_tls(s)
    assert tls is not None and tls.server is not None
