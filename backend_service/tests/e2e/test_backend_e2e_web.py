"""End-to-end test of the web pages: Playwright drives Debian's Chromium against uvicorn.

The real app (``create_app``) is served by uvicorn on ``127.0.0.1`` (a free port) in a
background thread, with a fake gateway prober (no real gateway) and the AstrBot fixture
files configured through the settings, so a pull succeeds. The browser logs in through the
form, opens ``/web/status`` and ``/web/models``, presses the pull button and reads the
banner and the models table. Screenshots go to ``tests/output/screenshots/`` of the
repository (ignored by git).

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/bootstrap.sh`` installs the
``chromium`` package); Playwright's own browser downloads are not used. When it is missing
the test fails with a message saying so: it is never skipped.
"""

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from backend_helpers import astr_app

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parents[1]
SCREENSHOTS = REPO / "tests" / "output" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium on a machine without network (see the machine notes): no GPU, no
# sandbox (root), and none of Chromium's own background connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIXTURE_PROVIDERS = ("gpt-4o-mini", "deepseek-chat", "gemini-flash")
TIMEOUT_MS = 15_000


@dataclass
class LiveServer:
    """A running uvicorn serving the app: its base URL and the tokens it must never show."""

    base_url: str
    api_token: str
    gateway_token: str


def _free_loopback_socket() -> socket.socket:
    """A listening-ready TCP socket bound to a free port of 127.0.0.1 (handed to uvicorn)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Serve a fresh app with uvicorn in a background thread; stop it after the test."""
    api_token = secrets.token_urlsafe(32)
    gateway_token = secrets.token_urlsafe(32)
    # no codex process, ever
    app = astr_app(tmp_path, api_token, gateway_token, executor_enabled=False)

    sock = _free_loopback_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting; see the log above"
        assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", api_token, gateway_token)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop within 15 s"


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright; fails (never skips) when it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium package "
            "(scripts/bootstrap.sh does: apt-get install chromium)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        # Playwright gives every launch() a new, empty profile (--user-data-dir) of its own.
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def _shot(page: Page, name: str) -> None:
    """Save a full-page screenshot as ``tests/output/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _assert_no_token(page: Page, server: LiveServer) -> None:
    """Neither token is in the page's HTML nor in its URL."""
    shown = page.content() + "\n" + page.url
    assert server.api_token not in shown, f"{page.url} shows the API token"
    assert server.gateway_token not in shown, f"{page.url} shows the gateway token"


def test_login_status_models_pull(browser: Browser, live_server: LiveServer) -> None:
    """Log in through the form, see the status, pull from AstrBot, see the providers."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{live_server.base_url}/web/status")
        expect(page.locator("#token")).to_be_visible()  # redirected to the login form
        assert page.url.startswith(f"{live_server.base_url}/web/login?next="), page.url
        _assert_no_token(page, live_server)
        _shot(page, "01-login")

        page.fill("#token", live_server.api_token)
        page.click("#login")
        expect(page).to_have_url(f"{live_server.base_url}/web/status")
        expect(page.locator("#diagnosis")).to_have_text("ok")  # the fake prober's result
        expect(page.locator("#http-status")).to_have_text("200")
        expect(page.locator("#gateway-url")).to_have_text("http://127.0.0.1:18789")
        _assert_no_token(page, live_server)
        _shot(page, "02-status")

        page.goto(f"{live_server.base_url}/web/models")
        expect(page.locator("#no-models")).to_be_visible()
        _assert_no_token(page, live_server)
        _shot(page, "03-models-empty")

        page.click("#pull")
        expect(page).to_have_url(f"{live_server.base_url}/web/models?pull=ok&count=3")
        banner = page.locator("#banner")
        expect(banner).to_have_attribute("data-code", "ok")
        expect(banner).to_have_text("Pulled 3 provider(s) from AstrBot.")
        rows = page.locator("#models tbody tr")
        expect(rows).to_have_count(len(FIXTURE_PROVIDERS))
        for provider in FIXTURE_PROVIDERS:
            expect(page.locator(f'#models tr[data-provider-id="{provider}"]')).to_be_visible()
        expect(page.locator("#last-sync")).to_contain_text("3 provider(s)")
        _assert_no_token(page, live_server)
        _shot(page, "04-models-pulled")
    finally:
        context.close()
