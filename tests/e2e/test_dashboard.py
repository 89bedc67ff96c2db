"""The dashboard, end to end, with real parts: sipp PBX and callers, ``antibot run`` with detection
and the admin API in the same process (embedded Redis in a temporary data dir), and headless
Chromium (Debian's /usr/bin/chromium driven by Playwright).

The story an operator lives: a caller whose User-Agent is deny-listed ("friendly-scanner") is
declined with 603; in the dashboard the operator finds the blocked call, opens it and clicks
"Not a bot: allowlist caller"; the same caller then reaches the PBX and is answered. A viewer sees
the same dashboard with every editing control disabled. Along the way: a refused call reads
"rejected by antibot (603)", a score bar's colour follows the verdict and the score, every control
fits its text at 1280 px, and the model tab is a page of tables, bars and plots rather than JSON.
The test leaves screenshots in docs/: dashboard.png (calls), dashboard-call.png (a call's detail)
and dashboard-model.png (the model tab).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from antibot.detect.features import FEATURE_NAMES

from .harness import REPO, Harness
from .peers import Proxy, Sipp, header_values, sipp_failure
from .procs import HOST, free_port, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The caller of scenarios/dash_caller.xml (From user part) and its User-Agent.
CALLER = "3312345678"
SCANNER_UA = "friendly-scanner"
#: The User-Agent of scenarios/dash_hostile_ua.xml (From 4420): markup the dashboard must not run.
HOSTILE_UA = "friendly-scanner<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
TITLE = "antibot · dashboard"
SCREENSHOT = REPO / "docs" / "dashboard.png"
CALL_SCREENSHOT = REPO / "docs" / "dashboard-call.png"
MODEL_SCREENSHOT = REPO / "docs" / "dashboard-model.png"
#: The model tab's height at 1280 px; the card as raw JSON was about 4,400 px.
MODEL_PAGE_MAX_PX = 3600
#: The --pass colour of style.css, which a pass scored at or above the suspect threshold must not get.
PASS_RGB = "rgb(63, 174, 106)"
#: The visible controls under ``root`` whose text does not fit: a select's longest option, an
#: input's value or placeholder (measured in the control's own font against its content box; the
#: selects draw their arrow in padding-right), or anything whose scrollWidth exceeds its
#: clientWidth (a button). A select's scrollWidth alone never shows a clipped option in Chromium.
UNFIT_CONTROLS = """(root) => {
  const ctx = document.createElement('canvas').getContext('2d');
  const out = [];
  for (const el of document.querySelector(root).querySelectorAll('select, input, button')) {
    if (!el.getClientRects().length || ['checkbox', 'radio', 'hidden'].includes(el.type)) continue;
    const cs = getComputedStyle(el);
    ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const texts = el.tagName === 'SELECT' ? Array.from(el.options, (o) => o.text)
      : el.tagName === 'INPUT' ? [el.value, el.placeholder] : [];
    const need = Math.max(0, ...texts.map((t) => ctx.measureText(t).width));
    if (need > room + 0.5 || el.scrollWidth > el.clientWidth) {
      out.push(`${el.dataset.testid || el.name || el.tagName}: text ${need.toFixed(0)} px in ${room.toFixed(0)} px`
        + ` (scroll ${el.scrollWidth}/${el.clientWidth})`);
    }
  }
  return out;
}"""
#: The dashboard's address on the admin API's port.
DASHBOARD_PATH = "/"
UI_TIMEOUT_MS = 10_000
#: Headers the dashboard must be served with; the CSP is checked directive by directive.
SECURITY_HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
#: Logs every Content-Security-Policy violation on the console, where _collect_errors sees it
#: (Chromium logs most itself; this catches them all, with the directive).
CSP_REPORTER = """
document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${where}`);
});
"""


def test_dashboard_allowlists_a_blocked_caller(e2e: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    sync_playwright, expect = _playwright()
    admin_token, viewer_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    tokens_file = e2e.tmp / "api-tokens"
    tokens_file.write_text(f"viewer:{hashlib.sha256(viewer_token.encode()).hexdigest()}\n")
    monkeypatch.setenv("ANTIBOT_API_TOKEN", admin_token)
    monkeypatch.setenv("ANTIBOT_API_TOKENS_FILE", str(tokens_file))

    # 1. The PBX, and the proxy with detection (embedded Redis in tmp) and the admin API.
    uas = e2e.uas("uas_answer.xml")
    api_port = free_port()
    proxy = e2e.proxy(
        [f"sip:{uas.addr}"],
        extra=[
            "--data-dir",
            str(e2e.tmp / "antibot-data"),
            "--deny-ua",
            SCANNER_UA,
            "--api-listen",
            f"{HOST}:{api_port}",
        ],
    )
    base = f"http://{HOST}:{api_port}"
    wait_for(lambda: _get(base, "/api/v1/me", admin_token)[0] == 200, 15.0, f"the admin API on {base}")
    assert _get(base, "/api/v1/me", None)[0] == 401
    status, me = _get(base, "/api/v1/me", viewer_token)
    assert (status, me and me.get("role")) == (200, "viewer"), me

    # Some traffic for the table and the chart: people calling (relayed or not: the model's call),
    # and scanners turned away by the deny list.
    people = e2e.uac("dash_person.xml", proxy, label="people", calls=4)
    scanners = e2e.uac("uac_scanner.xml", proxy, label="scanners", calls=3)
    assert people.proc.returncode == 0, sipp_failure(people, uas)
    assert scanners.proc.returncode == 0, sipp_failure(scanners)
    people_relayed = people.count("4_200_Recv")

    # 2. The caller is declined: 603 from the proxy, nothing reaches the PBX.
    first = e2e.uac("dash_caller.xml", proxy, label="caller-1")
    assert first.proc.returncode == 0, sipp_failure(first)
    assert (first.count("4_603_Recv"), first.count("3_200_Recv")) == (1, 0), sipp_failure(first)
    assert "declined: SIP/2.0 603 Decline" in first.actions(), first.actions()
    assert not _invites_from(uas, CALLER)
    hostile = e2e.uac("dash_hostile_ua.xml", proxy, label="hostile")
    assert hostile.proc.returncode == 0 and hostile.count("603_Recv") == 1, sipp_failure(hostile)

    with _chromium(sync_playwright, e2e.tmp / "chromium-profile") as context:
        context.add_init_script(script=CSP_REPORTER)
        errors: list[str] = []
        page = context.new_page()
        _collect_errors(page, errors)
        page.set_default_timeout(UI_TIMEOUT_MS)
        landed = page.goto(base + DASHBOARD_PATH)
        assert landed is not None and landed.url.endswith("/index.html")
        _assert_security_headers(landed.all_headers())

        # 3. Log in (a wrong token first), find the blocked call, allowlist its caller.
        _assert_controls_fit(page, "#login")
        page.get_by_test_id("login-token").fill("not-the-token-" + "x" * 16)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("login-error")).to_contain_text("refused")
        page.get_by_test_id("login-token").fill(admin_token)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("role-badge")).to_have_text("admin")
        expect(page.get_by_test_id("filter-verdict")).to_have_value("blocked")
        _assert_controls_fit(page, "#app")

        # What callers send is shown as text, never run: the User-Agent here is markup.
        expect(page.locator('[data-testid=call-row][data-from="4420"]').get_by_test_id("call-ua")).to_have_text(
            HOSTILE_UA
        )
        expect(page.get_by_test_id("top-uas")).to_contain_text(HOSTILE_UA)
        assert page.locator("main img, main script").count() == 0

        row = page.locator(f'[data-testid=call-row][data-from="{CALLER}"]')
        expect(row).to_have_count(1)  # the call log is written in the background: the table polls
        expect(row.get_by_test_id("verdict")).to_have_text("reject")
        expect(row.get_by_test_id("call-ua")).to_have_text(SCANNER_UA)
        # A refused call's outcome is antibot's answer, with the status it sent (603), not "–".
        expect(row.get_by_test_id("call-outcome")).to_have_text("rejected by antibot (603)")
        row.click()
        detail = page.get_by_test_id("call-detail")
        expect(detail).to_be_visible()
        expect(detail.get_by_test_id("detail-summary")).to_contain_text(SCANNER_UA)
        expect(detail.get_by_test_id("detail-summary")).to_contain_text("deny-list:ua")
        expect(detail.get_by_test_id("features-table")).to_contain_text("ua_scanner")
        _assert_reasons_read_as_seen(detail, expect, base, admin_token, row.get_attribute("data-call") or "")
        expect(detail.get_by_test_id("detail-summary")).to_contain_text("rejected by antibot (603)")
        expect(detail.get_by_test_id("score-fill")).to_have_attribute("data-tone", "reject")
        _assert_controls_fit(page, "#detail")
        page.mouse.move(0, 0)
        page.screenshot(path=str(CALL_SCREENSHOT))
        detail.get_by_test_id("feedback-allow-caller").click()
        confirm = detail.get_by_test_id("feedback-confirm")
        expect(confirm).to_be_visible()
        expect(confirm).to_contain_text(f"Allowlisted caller {CALLER}")
        status, lists = _get(base, "/api/v1/lists", admin_token)
        assert status == 200 and CALLER in lists["allow"]["numbers"], lists
        version = lists["version"]
        wait_for(lambda: _policy_applied(proxy, version), 10.0, f"the proxy to apply policy version {version}")

        # 4. The same caller again: relayed to the PBX, answered.
        second = e2e.uac("dash_caller.xml", proxy, label="caller-2")
        assert second.proc.returncode == 0, sipp_failure(second, uas)
        assert (second.count("3_200_Recv"), second.count("4_603_Recv")) == (1, 0), sipp_failure(second, uas)
        assert "answered and hung up" in second.actions(), second.actions()
        uas.settle(people_relayed + 1)
        invites = _invites_from(uas, CALLER)
        assert len(invites) == 1, sipp_failure(uas)
        assert header_values(invites[0], "User-Agent") == [SCANNER_UA]
        # Other callers with that User-Agent are still declined: the deny list outlived the edit.
        rescan = e2e.uac("uac_scanner.xml", proxy, label="scanners-again", calls=1)
        assert rescan.proc.returncode == 0 and rescan.count("603_Recv") == 1, sipp_failure(rescan)

        # The table shows the relayed call too (live refresh), with every verdict.
        detail.get_by_test_id("detail-close").click()
        expect(detail).to_be_hidden()
        page.get_by_test_id("filter-verdict").select_option("all")
        expect(row).to_have_count(2)
        expect(row.first.get_by_test_id("verdict")).to_have_text("pass")
        # The allowlisted caller still looks like a scanner: a pass with a high score, whose bar
        # must not be the pass green (tables and drawer); every other bar follows its verdict.
        _assert_score_tones(page, expect, base, admin_token)
        table = page.get_by_test_id("calls-table")  # every column fits at 1280 px: no sideways scrolling
        assert table.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")
        row.first.click()
        expect(detail.get_by_test_id("score-fill")).to_have_attribute("data-tone", "warn")
        detail.get_by_test_id("detail-close").click()
        expect(page.get_by_test_id("call-row")).to_have_count(4 + 3 + 1 + 2 + 1)
        expect(page.get_by_test_id("chart-bar").first).to_be_attached()
        expect(page.get_by_test_id("top-sources")).to_contain_text(HOST)

        # A reason's short code filters the table: the declined call's "scanner-ua" lists the
        # calls that carried the same reason, and only those.
        row.last.click()
        detail.get_by_test_id("why-code").filter(has_text="scanner-ua").click()
        expect(detail).to_be_hidden()
        expect(page.get_by_test_id("filter-reason")).to_have_value("scanner-ua")
        expect(row).to_have_count(2)
        expect(page.get_by_test_id("call-row")).to_have_count(3 + 2 + 1 + 1)  # scanners, caller, hostile, rescan
        page.get_by_test_id("filter-reset").click()
        expect(page.get_by_test_id("filter-reason")).to_have_value("")

        # A viewer (its own tab, so its own sessionStorage) sees everything and can edit nothing.
        viewer = context.new_page()
        _collect_errors(viewer, errors)
        viewer.set_default_timeout(UI_TIMEOUT_MS)
        viewer.goto(base + DASHBOARD_PATH)
        viewer.get_by_test_id("login-token").fill(viewer_token)
        viewer.get_by_test_id("login-submit").click()
        expect(viewer.get_by_test_id("role-badge")).to_have_text("viewer")
        viewer.locator(f'[data-testid=call-row][data-from="{CALLER}"]').first.click()
        for button in ("feedback-allow-caller", "feedback-allow-source", "feedback-bot"):
            expect(viewer.get_by_test_id(button)).to_be_disabled()
        viewer.get_by_test_id("detail-close").click()
        viewer.get_by_test_id("tab-policy").click()
        expect(viewer.get_by_test_id("viewer-note")).to_be_visible()
        expect(viewer.get_by_test_id("list-allow-numbers")).to_contain_text(CALLER)
        expect(viewer.get_by_test_id("list-deny-user_agents")).to_contain_text(SCANNER_UA)  # seeded by the config
        for control in ("settings-save", "settings-mode", "list-add-allow-numbers", "rule-create"):
            expect(viewer.get_by_test_id(control)).to_be_disabled()
        viewer.get_by_test_id("logout").click()
        expect(viewer.get_by_test_id("login-token")).to_be_visible()
        viewer.close()

        # The admin tunes corroboration in the settings form; the policy document changes with it.
        page.bring_to_front()
        page.get_by_test_id("tab-policy").click()
        expect(page.get_by_test_id("settings-corroboration")).to_have_value("0.5")
        page.get_by_test_id("settings-corroboration").fill("0.3")
        page.get_by_test_id("settings-save").click()
        expect(page.get_by_test_id("settings-ok")).to_contain_text("Saved")
        status, settings = _get(base, "/api/v1/settings", admin_token)
        assert status == 200 and settings["corroboration"] == 0.3, settings
        page.get_by_test_id("rule-editor").locator("summary").click()
        _assert_controls_fit(page, "#view-policy")

        # The model tab: the card as a page (tables, bars, plots), the raw JSON only on request.
        page.get_by_test_id("tab-model").click()
        _assert_model_page(page, expect, base, admin_token)
        page.get_by_test_id("tab-calls").click()

        # 5. The screenshot for the docs: the calls view with its chart, after one more refresh.
        page.evaluate("window.scrollTo(0, 0)")
        page.mouse.move(0, 0)
        page.wait_for_timeout(2500)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert page.title() == TITLE  # no injected script ran
        assert errors == [], errors  # including no CSP violation, on any page, all along

        # The browser enforces the policy: script put inline into the page does not run, and
        # the violation is reported (so the check above would have seen one).
        with page.expect_console_message(lambda m: "CSP violation: script-src" in m.text) as violation:
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.injected = 1'; document.body.append(s); }"
            )
        assert "inline" in violation.value.text, violation.value.text
        assert page.evaluate("() => window.injected") is None

    for shot, most in ((SCREENSHOT, 300_000), (CALL_SCREENSHOT, 300_000), (MODEL_SCREENSHOT, 900_000)):
        size = shot.stat().st_size
        assert 10_000 < size < most, f"{shot}: {size} bytes"
    proxy.stop()


# ---------------------------------------------------------------------- helpers
def _assert_reasons_read_as_seen(detail: Any, expect: Any, base: str, token: str, call: str) -> None:
    """The drawer's "Why" says what the call carried, in the API's words: the deny-list rule
    first, then the model's reasons ("User-Agent names a known scanner (friendly-scanner)", "no
    P-Asserted-Identity..."), never a feature name with a weight."""
    status, found = _get(base, f"/api/v1/calls/{call}", token)
    assert status == 200 and found is not None, (status, found)
    texts = [r["text"] for r in found["why"]]
    assert texts[0] == "User-Agent on the deny list", texts
    assert f"User-Agent names a known scanner ({SCANNER_UA})" in texts, texts
    rows = detail.get_by_test_id("why-row")
    expect(rows.get_by_test_id("why-text")).to_have_text(texts)
    expect(rows.get_by_test_id("why-code")).to_have_text([r["code"] for r in found["why"]])
    shown = detail.get_by_test_id("why").inner_text()
    named = [name for name in FEATURE_NAMES if name in shown]
    assert not named, f"feature names in the drawer's reasons: {named}"


def _assert_controls_fit(page: Any, root: str) -> None:
    """Every visible control under ``root`` shows its whole text at 1280 px; the verdict filter's
    own scrollWidth check is there too, as the simplest statement of it."""
    assert page.viewport_size["width"] == 1280
    unfit = page.evaluate(UNFIT_CONTROLS, root)
    assert unfit == [], f"controls that cut their text off under {root}: {unfit}"
    verdict = page.get_by_test_id("filter-verdict")
    assert verdict.evaluate("e => e.scrollWidth <= e.clientWidth")


def _assert_score_tones(page: Any, expect: Any, base: str, token: str) -> None:
    """Each row's score bar has the tone docs/dashboard.md gives: its verdict's colour, except a
    pass scored at or above the suspect threshold, which is "warn" (and not the pass green)."""
    status, settings = _get(base, "/api/v1/settings", token)
    assert status == 200, settings
    status, page_ = _get(base, "/api/v1/calls?limit=200", token)
    assert status == 200, page_
    expected = {
        c["call"]: "warn" if c["verdict"] == "pass" and c["score"] >= settings["suspect_threshold"] else c["verdict"]
        for c in page_["items"]
    }
    assert "warn" in expected.values(), page_["items"]  # the allowlisted scanner-like caller
    for call, tone in expected.items():
        fill = page.locator(f'[data-testid=call-row][data-call="{call}"]').get_by_test_id("score-fill")
        expect(fill).to_have_attribute("data-tone", tone)
    warn = page.locator("[data-testid=call-row] [data-testid=score-fill][data-tone=warn]").first
    look = warn.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).backgroundImage]")
    assert look[0] != PASS_RGB and "gradient" in look[1], look


def _assert_model_page(page: Any, expect: Any, base: str, token: str) -> None:
    """The model tab reads as a page: training data, held-out figures and features in tables and
    bars, both plots, no JSON on show (it is behind "Raw card"), and not 4,400 px tall."""
    card, report, importance = (_get(base, f"/api/v1/model{p}", token)[1] for p in ("", "/report", "/importance"))
    assert card and report and importance, (card, report, importance)
    model = page.get_by_test_id("model-card")
    training = model.get_by_test_id("training-table")
    expect(training).to_contain_text("24 h")  # the simulated day
    expect(training).to_contain_text(f"{card['training_data']['rows']:,}")
    expect(model.get_by_test_id("family-table").locator("tbody tr")).to_have_count(
        len(card["training_data"]["by_family"])
    )
    attacks = [x for x in report["held_out"] if x["kind"] != "legitimate"] + report["held_out_families"]
    expect(model.get_by_test_id("heldout-attacks").locator("tbody tr")).to_have_count(len(attacks))
    people = [x for x in report["held_out"] if x["kind"] == "legitimate"]
    expect(model.get_by_test_id("heldout-people").locator("tbody tr")).to_have_count(len(people))
    expect(model.get_by_test_id("overall-table").locator("tbody tr")).to_have_count(2)
    expect(model.get_by_test_id("profile-table").locator("tbody tr")).to_have_count(
        len(card["evaluation_data"]["by_profile"])
    )
    expect(model.get_by_test_id("heldout-attacks")).to_contain_text("scanner_sweep")
    bars = model.get_by_test_id("feature-bar")
    top = [f["name"] for f in importance["features"][:15]]
    expect(bars).to_have_count(len(top))
    assert [b.get_attribute("data-feature") for b in bars.all()] == top
    widths = [b.locator(".fbar").evaluate("e => e.getBoundingClientRect().width") for b in bars.all()]
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0, widths
    for name in ("roc", "pr"):
        plot = model.get_by_test_id(f"plot-{name}")
        expect(plot).to_be_visible()
        assert plot.evaluate("e => e.complete && e.naturalWidth") == 880
    # No JSON on show: the raw card is there, closed.
    raw = model.get_by_test_id("model-raw")
    expect(raw.locator("pre")).to_be_hidden()
    assert model.locator("pre:visible").count() == 0
    shown = model.inner_text()
    assert '"training_data"' not in shown and card["sha256"] not in shown, shown[:400]
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= MODEL_PAGE_MAX_PX, f"the model tab is {height} px tall"
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(0, 0)
    page.screenshot(path=str(MODEL_SCREENSHOT), full_page=True)
    raw.locator("summary").click()
    expect(raw.locator("pre")).to_contain_text('"training_data"')
    raw.locator("summary").click()


def _playwright() -> tuple[Any, Any]:
    """Playwright's sync API, or a failure (never a skip): the dashboard test needs it."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]' (the test extra has it)", pytrace=False)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)", pytrace=False)
    return sync_playwright, expect


@contextmanager
def _chromium(sync_playwright: Any, profile: Path) -> Iterator[Any]:
    """Headless Debian Chromium with a fresh profile directory; no download, no network but loopback."""
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
            timezone_id="UTC",
        )
        try:
            yield context
        finally:
            context.close()


def _collect_errors(page: Any, errors: list[str]) -> None:
    """Append ``page``'s uncaught JavaScript errors, any dialog it opens and any Content-Security-Policy
    violation reported on its console to ``errors`` as they happen."""
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on("dialog", lambda dialog: errors.append(f"{page.url}: unexpected dialog: {dialog.message}"))
    page.on("console", lambda message: _csp_error(page, message.text, errors))


def _csp_error(page: Any, text: str, errors: list[str]) -> None:
    if "Content Security Policy" in text or "CSP violation" in text:
        errors.append(f"{page.url}: {text}")


def _assert_security_headers(headers: dict[str, str]) -> None:
    """The dashboard's headers: a strict CSP (nothing inline, nothing from elsewhere, no framing) and friends."""
    assert {k: headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS, headers
    csp = {d.split()[0]: d.split()[1:] for d in headers.get("content-security-policy", "").split(";") if d.strip()}
    for directive, sources in {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
    }.items():
        assert csp.get(directive) == sources, (directive, csp)


def _get(base: str, path: str, token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(base + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2.0) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


def _invites_from(uas: Sipp, number: str) -> list[str]:
    """The INVITEs the PBX received whose From is ``number``."""
    return [m for m in uas.received("INVITE ") if any(f"sip:{number}@" in v for v in header_values(m, "From"))]


def _policy_applied(proxy: Proxy, version: int) -> bool:
    """Every process of the proxy logged that it rebuilt its rules from policy ``version``."""
    return proxy.applied_at(version, "policy") is not None
