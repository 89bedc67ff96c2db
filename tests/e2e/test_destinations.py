"""The destination policy end to end: a call from outside to an international premium or IRSF
range is refused before the PBX sees it, in every dialling form, with detection and without;
an admin lifts it for a number (an exception) or turns it off through the API."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from antibot.detect.features import FEATURE_NAMES
from antibot.detect.model import FORMAT

from .harness import Harness
from .peers import Proxy, Sipp, sipp_failure
from .procs import HOST, free_port, wait_for

pytestmark = pytest.mark.e2e

#: An ordinary desk phone's User-Agent (the uac_desk.xml layout is a Yealink's).
DESK_UA = "Yealink SIP-T46S 66.86.0.15"
#: uac_desk.xml dials [service][call_number]: with one call, the service plus "1".
FORMS = ("00882161234", "+882161234", "011882161234")
REASON = 'Reason: SIP;cause=603;text="antibot: premium-rate destination"'


def desk_call(e2e: Harness, proxy: Proxy, service: str, label: str) -> Sipp:
    """One call from an ordinary desk phone to ``service`` + "1"."""
    return e2e.uac(
        "uac_desk.xml",
        proxy,
        label=label,
        calls=1,
        extra=["-key", "ua", DESK_UA, "-key", "from", "14155550123", "-s", service],
    )


def assert_refused(uac: Sipp, pbx: Sipp) -> None:
    """The caller got 603 with the destination Reason (once: a stateless answer)."""
    why = sipp_failure(uac, pbx)
    assert uac.count("603_Recv") == 1, why
    answers = uac.received("SIP/2.0 603")
    assert len(answers) == 1 and answers[0].startswith("SIP/2.0 603 Decline"), answers
    assert REASON in answers[0], answers[0]


def invites_to(pbx: Sipp, number: str) -> list[str]:
    return [m for m in pbx.received("INVITE ") if m.startswith(f"INVITE sip:{number}@")]


def test_a_call_to_a_premium_destination_is_refused_in_every_form(e2e: Harness) -> None:
    """With detection and the shipped model: ``00882...``, ``+882...`` and ``011882...`` from a
    desk phone get 603 with the destination Reason and never reach the PBX; a normal call passes."""
    pbx = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{pbx.addr}"], extra=["--detect"])
    for i, service in enumerate(FORMS):
        assert_refused(desk_call(e2e, proxy, service, f"fraud-{i}"), pbx)
    normal = desk_call(e2e, proxy, "1650555", "normal")
    assert normal.stat("SuccessfulCall(C)") == 1 and normal.count("603_Recv") == 0, sipp_failure(normal, pbx)
    wait_for(lambda: len(pbx.received("INVITE ")) == 1, 5.0, "the normal call's INVITE at the PBX")
    invites = pbx.received("INVITE ")
    assert len(invites) == 1 and invites[0].startswith("INVITE sip:16505551@"), invites  # the PBX got nothing else
    stats = proxy.stop()
    assert stats.get("verdict_reject") == 3, stats


def _low_model(tmp: Path) -> Path:
    """A model that scores every ordinary call 0.018 (one split on a scanner User-Agent), so
    that only the destination policy decides these calls."""
    tree = {
        "feature": [FEATURE_NAMES.index("ua_scanner"), -1, -1],
        "threshold": [0.5, 0.0, 0.0],
        "left": [1, -1, -1],
        "right": [2, -1, -1],
        "value": [0.0, -4.0, 4.0],
    }
    raw = json.dumps({"format": FORMAT, "features": list(FEATURE_NAMES), "base": 0.0, "rate": 1.0, "trees": [tree]})
    path = tmp / "low.json"
    path.write_bytes(raw.encode())
    card = {"features": list(FEATURE_NAMES), "sha256": hashlib.sha256(raw.encode()).hexdigest()}
    (tmp / "low.card.json").write_text(json.dumps(card))
    return path


def _api(base: str, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=2.0) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


def _applied(proxy: Proxy, version: int) -> bool:
    return proxy.applied_at(version) is not None


def test_an_exception_or_turning_it_off_through_the_api_lets_the_call_through(
    e2e: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("ANTIBOT_API_TOKEN", token)
    pbx = e2e.uas("uas_answer.xml")
    api_port = free_port()
    model = _low_model(e2e.tmp)
    proxy = e2e.proxy([f"sip:{pbx.addr}"], extra=["--model", str(model), "--api-listen", f"{HOST}:{api_port}"])
    base = f"http://{HOST}:{api_port}"
    wait_for(lambda: _api(base, "GET", "/api/v1/destinations", token)[0] == 200, 15.0, f"the admin API on {base}")

    assert_refused(desk_call(e2e, proxy, "00882161234", "refused"), pbx)
    status, added = _api(base, "POST", "/api/v1/destinations/exceptions", token, {"value": "+882 16"})
    assert status == 201, added
    wait_for(lambda: _applied(proxy, added["version"]), 5.0, "the proxy to apply the exception")
    excepted = desk_call(e2e, proxy, "00882161234", "excepted")
    assert excepted.stat("SuccessfulCall(C)") == 1 and excepted.count("603_Recv") == 0, sipp_failure(excepted, pbx)
    wait_for(lambda: len(invites_to(pbx, "008821612341")) == 1, 5.0, "the excepted call at the PBX")

    assert_refused(desk_call(e2e, proxy, "+883161234", "other"), pbx)  # not excepted
    status, off = _api(base, "PATCH", "/api/v1/destinations", token, {"enabled": False})
    assert status == 200 and off["rules"] == [], off
    wait_for(lambda: _applied(proxy, off["version"]), 5.0, "the proxy to apply the change")
    allowed = desk_call(e2e, proxy, "+883161234", "off")
    assert allowed.stat("SuccessfulCall(C)") == 1 and allowed.count("603_Recv") == 0, sipp_failure(allowed, pbx)
    wait_for(lambda: len(invites_to(pbx, "+8831612341")) == 1, 5.0, "the call at the PBX once the policy is off")
    assert len(pbx.received("INVITE ")) == 2, pbx.received("INVITE ")


def test_without_detection_the_config_policy_refuses_them_too(e2e: Harness) -> None:
    """``--no-detect``: the same destination policy from the config (its lists, no model)."""
    pbx = e2e.uas("uas_answer.xml")
    proxy = e2e.proxy([f"sip:{pbx.addr}"])
    for i, service in enumerate(FORMS):
        assert_refused(desk_call(e2e, proxy, service, f"fraud-{i}"), pbx)
    normal = desk_call(e2e, proxy, "1650555", "normal")
    assert normal.stat("SuccessfulCall(C)") == 1, sipp_failure(normal, pbx)
    wait_for(lambda: len(pbx.received("INVITE ")) == 1, 5.0, "the normal call's INVITE at the PBX")
    assert re.match(r"INVITE sip:16505551@", pbx.received("INVITE ")[0]), pbx.received("INVITE ")
