"""Bearer tokens with two roles, kept only as SHA-256 digests and compared in constant time.

``ANTIBOT_API_TOKEN`` gives one admin token (refused when short or a placeholder);
``ANTIBOT_API_TOKENS_FILE`` names a file of ``role:sha256hex`` lines (``#`` comments and blank
lines ignored), e.g. made with ``printf %s "$TOKEN" | sha256sum``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROLES = ("viewer", "admin")
MIN_TOKEN_LENGTH = 16
_PLACEHOLDERS = frozenset({"changethis", "changeme", "secret", "password", "token", "admin"})
_DIGEST = re.compile(r"[0-9a-f]{64}")


class TokenError(ValueError):
    """A token or tokens file that cannot be used; the message says why and where."""


def hash_token(token: str) -> str:
    """The stored form of a token: lowercase hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the token's role and a short id (the digest's first 8 hex digits)."""

    role: str
    id: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def who(self) -> str:
        """How the audit log names this caller."""
        return f"{self.role}:{self.id}"


class TokenStore:
    """The accepted tokens, as ``(role, sha256 hex digest)`` pairs."""

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self._entries: list[tuple[str, str]] = []
        for role, digest in entries:
            self.add_digest(role, digest)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenStore:
        """Tokens from ``ANTIBOT_API_TOKEN`` (admin) and ``ANTIBOT_API_TOKENS_FILE``."""
        env = os.environ if environ is None else environ
        store = cls()
        token = env.get("ANTIBOT_API_TOKEN", "")
        if token:
            store.add_token("admin", token, source="ANTIBOT_API_TOKEN")
        path = env.get("ANTIBOT_API_TOKENS_FILE", "")
        if path:
            store.load_file(Path(path))
        return store

    @classmethod
    def with_ephemeral_admin(cls) -> tuple[TokenStore, str]:
        """A store holding one fresh random admin token, and that token (show it once)."""
        token = secrets.token_urlsafe(24)
        store = cls()
        store.add_token("admin", token)
        return store, token

    @property
    def configured(self) -> bool:
        return bool(self._entries)

    def add_digest(self, role: str, digest: str, where: str = "token") -> None:
        if role not in ROLES:
            raise TokenError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
        if not _DIGEST.fullmatch(digest):
            raise TokenError(f"{where}: expected a lowercase hex SHA-256 digest (64 characters)")
        self._entries.append((role, digest))

    def add_token(self, role: str, token: str, source: str = "token") -> None:
        if not (token.isascii() and token.isprintable()) or " " in token:
            raise TokenError(f"{source}: an API token is printable ASCII without spaces (it travels in a header)")
        if len(token) < MIN_TOKEN_LENGTH or token.strip().lower() in _PLACEHOLDERS:
            raise TokenError(
                f"{source}: refusing a weak API token; use at least {MIN_TOKEN_LENGTH} random characters, "
                'e.g. python3 -c "import secrets; print(secrets.token_urlsafe(24))"'
            )
        self.add_digest(role, hash_token(token), source)

    def load_file(self, path: Path) -> None:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeError) as exc:
            raise TokenError(f"cannot read tokens file {path}: {exc}") from None
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            role, sep, digest = line.partition(":")
            if not sep:
                raise TokenError(f"{path}:{number}: expected role:sha256hex")
            self.add_digest(role.strip(), digest.strip().lower(), f"{path}:{number}")

    def authenticate(self, token: str) -> Principal | None:
        """The principal whose token this is, or None; every stored digest is compared."""
        digest = hash_token(token)
        found: Principal | None = None
        for role, stored in self._entries:
            if hmac.compare_digest(digest, stored) and found is None:
                found = Principal(role, digest[:8])
        return found
