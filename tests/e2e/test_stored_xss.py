"""Stored XSS, end to end: calls whose User-Agent, From and To display names and Call-ID carry
markup and script go through a real ``antibot run`` (detection, embedded Redis, admin API) to a
raw UDP PBX and are logged; the dashboard is then opened in headless Chromium, every call's
drawer included. The test fails if a dialog opens, a payload's script runs (``window.__xss``),
an injected element appears in the page, or the Content-Security-Policy reports a violation.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from .harness import Harness
from .procs import HOST, free_port, wait_for
from .rawsip import RawCaller, RawPbx
from .test_dashboard import (
    CSP_REPORTER,
    DASHBOARD_PATH,
    UI_TIMEOUT_MS,
    _assert_security_headers,
    _chromium,
    _collect_errors,
    _get,
    _playwright,
)

pytestmark = pytest.mark.e2e

UA = 'Zoiper <script>window.__xss=1</script><img data-xss src=x onerror="window.__xss=2;alert(2)">'
FROM = '"<img data-xss src=x onerror=alert(3)><script>window.__xss=3</script>" <sip:4401@127.0.0.1>'
TO = '"<svg data-xss onload=alert(4)>" <sip:200@{proxy}>'
CALL_ID = "<b/data-xss>x</b><script>window.__xss=5</script><img/src/onerror=alert(5)>{n}@127.0.0.1"
#: What an injected element would look like in the DOM.
INJECTED = "[data-xss], img[src='x'], svg[onload], img[onerror], script:not([src])"


@pytest.fixture
def raw_pbx() -> Iterator[RawPbx]:
    pbx = RawPbx()
    yield pbx
    pbx.close()


def test_hostile_call_fields_are_shown_as_text(e2e: Harness, raw_pbx: RawPbx, monkeypatch: pytest.MonkeyPatch) -> None:
    sync_playwright, expect = _playwright()
    admin = secrets.token_urlsafe(24)
    monkeypatch.setenv("ANTIBOT_API_TOKEN", admin)
    monkeypatch.delenv("ANTIBOT_API_TOKENS_FILE", raising=False)
    api_port = free_port()
    proxy = e2e.proxy(
        [f"sip:{raw_pbx.addr}"],
        extra=["--data-dir", str(e2e.tmp / "data"), "--api-listen", f"{HOST}:{api_port}"],
    )
    base = f"http://{HOST}:{api_port}"
    wait_for(lambda: _get(base, "/api/v1/me", admin)[0] == 200, 15.0, f"the admin API on {base}")

    caller = RawCaller(proxy.port)
    call_ids = [CALL_ID.format(n=f"{i}-{time.monotonic_ns()}") for i in range(3)]
    try:
        for call_id in call_ids:
            to = TO.format(proxy=proxy.addr)
            caller.request("INVITE", f"sip:200@{proxy.addr}", call_id=call_id, from_=FROM, to=to, ua=UA)
            assert caller.final(call_id) is not None, call_id
    finally:
        caller.close()

    def logged() -> list[dict[str, object]]:
        status, page = _get(base, "/api/v1/calls?limit=50", admin)
        items = page["items"] if status == 200 and page else []
        return [c for c in items if c.get("ua") == UA]  # stored verbatim: the dashboard gets the payloads

    listed = wait_for(lambda: len(logged()) == len(call_ids) and logged(), 15.0, "the hostile calls in the call log")
    calls = [_get(base, f"/api/v1/calls/{c['call']}", admin)[1] for c in listed]
    assert sorted(c["call_id"] for c in calls) == sorted(call_ids), calls

    with _chromium(sync_playwright, e2e.tmp / "chromium-profile") as context:
        context.add_init_script(script=CSP_REPORTER)
        errors: list[str] = []
        page = context.new_page()
        _collect_errors(page, errors)  # uncaught errors, any dialog, any CSP violation
        page.set_default_timeout(UI_TIMEOUT_MS)
        landed = page.goto(base + DASHBOARD_PATH)
        assert landed is not None
        _assert_security_headers(landed.all_headers())
        page.get_by_test_id("login-token").fill(admin)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("role-badge")).to_have_text("admin")
        page.get_by_test_id("filter-verdict").select_option("all")
        for call in calls:
            row = page.locator(f'[data-testid=call-row][data-call="{call["call"]}"]')
            expect(row).to_have_count(1)
            expect(row.get_by_test_id("call-ua")).to_have_text(UA)
            row.click()
            detail = page.get_by_test_id("call-detail")
            expect(detail).to_be_visible()
            expect(detail.get_by_test_id("detail-summary")).to_contain_text(str(call["call_id"]))
            expect(detail.get_by_test_id("detail-summary")).to_contain_text(UA)
            assert page.locator(INJECTED).count() == 0, page.content()[:3000]
            detail.get_by_test_id("detail-close").click()
        page.get_by_test_id("tab-calls").click()
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.__xss") is None
        assert page.locator(INJECTED).count() == 0
        assert errors == [], errors
