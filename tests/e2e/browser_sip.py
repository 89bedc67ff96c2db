"""A browser phone for the WebSocket e2e test: SIP.js (pinned, from its npm tarball, checked
against the registry's sha512 and cached) on a page served from 127.0.0.1, run by headless
Chromium under Playwright with a fake microphone.

SIP.js ships ES modules without dependencies, so the page imports ``lib/index.js`` as it is:
no bundler, no node."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SIPJS_VERSION = "0.21.2"
SIPJS_URL = f"https://registry.npmjs.org/sip.js/-/sip.js-{SIPJS_VERSION}.tgz"
#: The registry's ``dist.integrity`` of that tarball.
SIPJS_SHA512 = "tSqTcIgrOd2IhP/rd70JablvAp+fSfLSxO4hGNY6LkWRY1SKygTO7OtJEV/BQb8oIxtMRx0LE7nUF2MaqGbFzA=="
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

#: The page: register nothing, call ``sip:100@127.0.0.1`` through the proxy's WebSocket, hang
#: up once the call is established; ``window.states`` lists the session's states, ``window.done``
#: is set when it is over (or has failed: ``window.error``).
PAGE = """<!doctype html>
<meta charset="utf-8"><title>antibot WebSocket phone</title><link rel="icon" href="data:,">
<script type="module">
import { UserAgent, Inviter, SessionState } from "./lib/index.js";
window.states = [];
window.done = false;
try {
  const ua = new UserAgent({
    uri: UserAgent.makeURI("sip:alice@example.com"),
    transportOptions: { server: "__SERVER__" },
    sessionDescriptionHandlerFactoryOptions: {
      iceGatheringTimeout: 500,
      peerConnectionConfiguration: { iceServers: [] },
    },
    logLevel: "warn",
  });
  await ua.start();
  const inviter = new Inviter(ua, UserAgent.makeURI("sip:100@127.0.0.1"), {
    sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
  });
  inviter.stateChange.addListener((state) => {
    window.states.push(state);
    if (state === SessionState.Established) setTimeout(() => inviter.bye(), 300);
    if (state === SessionState.Terminated) window.done = true;
  });
  await inviter.invite();
} catch (e) {
  window.error = String(e);
  window.done = true;
}
</script>
"""


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "antibot-test"


def _integrity(data: bytes) -> str:
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def sipjs_tarball() -> Path:
    """The pinned tarball, from the cache or fetched once; AssertionError if it does not match."""
    path = cache_dir() / f"sip.js-{SIPJS_VERSION}.tgz"
    if path.exists() and _integrity(path.read_bytes()) == SIPJS_SHA512:
        return path
    with urllib.request.urlopen(SIPJS_URL, timeout=60) as answer:
        data = answer.read()
    assert _integrity(data) == SIPJS_SHA512, f"{SIPJS_URL}: sha512 does not match the pinned one"
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.write_bytes(data)
    part.replace(path)
    return path


def site(where: Path, server: str) -> Path:
    """The page and SIP.js's ``lib/`` under ``where``; ``server``: the ws:// URL to call through."""
    where.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sipjs_tarball()) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/lib/") and m.name.endswith(".js")]
        for m in members:
            m.name = m.name.removeprefix("package/")
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+ (Debian 12's 3.11.2 has no filters)
            tar.extractall(where, members=members, filter="data")
        else:  # the members are SIP.js's lib/*.js files, checked by name above
            tar.extractall(where, members=members)  # noqa: S202
    (where / "index.html").write_text(PAGE.replace("__SERVER__", server))
    return where


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def http_server(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port) in a thread; yields its origin."""
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def call_from_browser(origin: str, profile: Path, timeout_ms: int = 20_000) -> dict[str, Any]:
    """Load the page in headless Chromium; its session states, error and console lines when done."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            page.goto(f"{origin}/index.html")
            page.wait_for_function("window.done === true", timeout=timeout_ms)
            result: dict[str, Any] = page.evaluate("({states: window.states, error: window.error || null})")
            result["console"] = console
            return result
        finally:
            context.close()


def browser_missing() -> str | None:
    """Why the browser test cannot run here (None: it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None
