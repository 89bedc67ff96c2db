"""Where the API listens and what it serves; refuses to expose an unauthenticated API."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .auth import TokenStore

DEFAULT_LISTEN = "127.0.0.1:8080"
STATIC_DIR = Path(__file__).resolve().parent / "static"


class InsecureSettingsError(RuntimeError):
    """The settings would expose the API beyond this host without any token."""


def is_loopback(host: str) -> bool:
    """True for loopback addresses and for names that resolve only to loopback addresses."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def check_listen(host: str, tokens: TokenStore) -> None:
    """Raise :class:`InsecureSettingsError` for a non-loopback address with no token configured."""
    if not tokens.configured and not is_loopback(host):
        raise InsecureSettingsError(
            f"refusing to serve the admin API on {host} without a token: set ANTIBOT_API_TOKEN "
            "(or ANTIBOT_API_TOKENS_FILE), or listen on 127.0.0.1"
        )


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (on 127.0.0.1) -> ``(host, port)``."""
    text = text.strip()
    bad = ValueError(f"bad listen address {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN} or [::1]:8080")
    if text.isdigit():
        host, port_text = "127.0.0.1", text
    elif text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise bad
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:  # a bare IPv6 address needs brackets
            raise bad
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        raise bad
    return host, int(port_text)


class ApiSettings(BaseModel):
    """Everything ``create_app``/``serve`` need; invalid or insecure combinations are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    redis_url: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    model_card: Path | None = None
    static_dir: Path | None = STATIC_DIR
    tokens: TokenStore = Field(default_factory=TokenStore)

    @model_validator(mode="after")
    def _refuse_insecure(self) -> ApiSettings:
        check_listen(self.host, self.tokens)
        return self
