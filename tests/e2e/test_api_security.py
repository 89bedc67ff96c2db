"""The admin API of a real ``antibot run`` (embedded Redis, detection, API on loopback), with an
admin token (``ANTIBOT_API_TOKEN``) and a viewer token (``ANTIBOT_API_TOKENS_FILE``):

- every ``/api/v1`` operation of its own OpenAPI document answers 401 without a token, and every
  non-GET one answers 403 to the viewer;
- no CORS: neither a preflight nor a cross-origin GET gets ``Access-Control-Allow-Origin``;
- schemathesis against the live server, as the viewer and as the admin: no 5xx (bounded: a few
  examples per operation, about a minute in all).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import urllib.error
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from .harness import Harness
from .procs import HOST, free_port, wait_for

pytestmark = pytest.mark.e2e

#: Examples per operation and mode, per token: bounded for CI.
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 2}
METHODS = ("get", "post", "put", "patch", "delete")
#: POSTs that write nothing (a rule tried on the call log), open to viewers by design.
READ_ONLY_POSTS = {("POST", "/api/v1/rules/dry-run")}


def _request(base: str, method: str, path: str, token: str | None, headers: dict[str, str] | None = None) -> Any:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    request = urllib.request.Request(base + path, method=method, data=body)
    request.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5.0) as response:
            return response.status, dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items())


def _json(base: str, path: str, token: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5.0) as response:
        return json.loads(response.read())


def _operations(base: str) -> list[tuple[str, str]]:
    """(METHOD, concrete path) of every /api/v1 operation in the live OpenAPI document."""
    with urllib.request.urlopen(base + "/openapi.json", timeout=5.0) as response:
        doc = json.loads(response.read())
    out = []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        out.extend((method.upper(), concrete) for method in item if method in METHODS)
    return out


def _fuzz(operation: Any, token: str, mode: GenerationMode, examples: int) -> None:
    """Send ``examples`` generated requests to ``operation`` with ``token``; raise on a 5xx."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

    run()


def test_live_api_tokens_roles_cors_and_fuzzing(e2e: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    admin, viewer = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    tokens_file = e2e.tmp / "api-tokens"
    tokens_file.write_text(f"viewer:{hashlib.sha256(viewer.encode()).hexdigest()}\n")
    monkeypatch.setenv("ANTIBOT_API_TOKEN", admin)
    monkeypatch.setenv("ANTIBOT_API_TOKENS_FILE", str(tokens_file))
    pbx = e2e.uas("uas_answer.xml")
    api_port = free_port()
    data_dir = e2e.tmp / "data"
    e2e.proxy([f"sip:{pbx.addr}"], extra=["--data-dir", str(data_dir), "--api-listen", f"{HOST}:{api_port}"])
    base = f"http://{HOST}:{api_port}"
    wait_for(lambda: _request(base, "GET", "/api/v1/me", admin)[0] == 200, 15.0, f"the admin API on {base}")

    # 1. No token: 401 everywhere. The viewer: 403 on every write, and reads work.
    operations = _operations(base)
    writes = [op for op in operations if op[0] != "GET" and op not in READ_ONLY_POSTS]
    assert len(operations) >= 20 and len(writes) >= 8, operations
    unauthenticated = {op: _request(base, *op, None)[0] for op in operations}
    assert set(unauthenticated.values()) == {401}, unauthenticated
    before = _json(base, "/api/v1/settings", admin)["version"]
    as_viewer = {op: _request(base, *op, viewer)[0] for op in writes}
    assert set(as_viewer.values()) == {403}, as_viewer
    assert {_request(base, *op, viewer)[0] for op in READ_ONLY_POSTS} == {422}  # let in, and the body checked
    assert _json(base, "/api/v1/settings", admin)["version"] == before  # nothing was written
    assert _request(base, "GET", "/api/v1/settings", viewer)[0] == 200

    # 2. No CORS: a preflight and a cross-origin request get no Access-Control-* header back.
    origin = {"Origin": "https://evil.example"}
    preflight = {**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    for method, path, token, headers in (
        ("OPTIONS", "/api/v1/rules", None, preflight),
        ("OPTIONS", "/api/v1/rules", admin, preflight),
        ("GET", "/api/v1/rules", admin, origin),
        ("GET", "/", None, origin),
    ):
        status, got = _request(base, method, path, token, headers)
        allowed = {k: v for k, v in got.items() if k.lower().startswith("access-control-")}
        assert allowed == {}, (method, path, status, allowed)

    # 3. schemathesis against the live server, as the viewer and as the admin: no 5xx.
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for token in (viewer, admin):
            for mode, examples in EXAMPLES.items():
                try:
                    _fuzz(operation, token, mode, examples)
                    ran += 1
                except Unsatisfiable:
                    continue
                except Exception as exc:  # noqa: BLE001 - collect them all, report together
                    role = "viewer" if token == viewer else "admin"
                    failures.append(f"{operation.label} ({mode}, {role}): {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert ran >= 40, ran
