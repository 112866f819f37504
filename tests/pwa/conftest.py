"""Browser test fixtures: a live server with the demo data, and Debian's Chromium shaped like a phone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Playwright, sync_playwright

#: Debian's Chromium; `make system-packages` installs it. Playwright's own download is never used.
CHROMIUM = "/usr/bin/chromium"
#: Every demo login shares it (see `fieldbook demo`).
DEMO_PASSWORD = "fieldbook"
#: Somewhere in Berlin, as precise as a phone's GPS outdoors.
GEOLOCATION = {"latitude": 52.52, "longitude": 13.405, "accuracy": 12}
PHONE = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "en-GB",
    "timezone_id": "Europe/Berlin",
}
#: A broken page should fail its test in seconds, not after Playwright's default 30.
ACTION_TIMEOUT_MS = 10_000

_FIELDBOOK = Path(sys.executable).parent / "fieldbook"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fieldbook(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([str(_FIELDBOOK), *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"`fieldbook {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`fieldbook serve` on a free port over a fresh SQLite database holding the demo data; yields its base URL.

    http://127.0.0.1 is a secure context, so the service worker and IndexedDB work without TLS.
    """
    data_dir = tmp_path_factory.mktemp("live-server-data")
    env = {**os.environ, "FIELDBOOK_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    # The database must follow the data folder, whatever the developer's shell points at.
    env.pop("DATABASE_URL", None)
    env.pop("PORT", None)
    _fieldbook(env, "migrate")
    _fieldbook(env, "demo")

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    # A file, not a pipe: nobody reads a pipe while tests run, and a full one would stall the server.
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(_FIELDBOOK), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(base_url, server, log_path)
        yield base_url
    finally:
        stop_server(server)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the live server exited ({server.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the live server did not answer /healthz within 30 s:\n{log_path.read_text()}")


# Package scope, not session: while the sync Playwright driver runs, its event loop occupies this
# thread and every later asyncio.run() (the server tests' database set-up) would fail. Closing it
# after the last test in tests/pwa frees the thread; within tests/pwa it is still launched once.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium, launched once for all the browser tests."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        # Fail, never skip: a missing browser must not pass as a green run.
        pytest.fail(f"{CHROMIUM} is missing: run `make system-packages` (Debian's chromium package)")
    args = ["--disable-gpu"]
    if os.geteuid() == 0:
        # Chromium refuses to start its sandbox as root (containers, CI); it must be told to go without.
        args.append("--no-sandbox")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    yield browser
    browser.close()


PhoneFactory = Callable[..., tuple[BrowserContext, Page]]


@pytest.fixture
def phone(browser: Browser, live_server: str) -> Iterator[PhoneFactory]:
    """Makes phones: `context, page = phone()`; each call is a fresh context (own cookies, service
    worker and IndexedDB), 360x640 at 2x with touch, geolocation granted to the live server.

    Keyword arguments override the context options, e.g. `phone(geolocation=None)`.
    Every context made is closed when the test ends.
    """
    contexts: list[BrowserContext] = []

    def make(**overrides: Any) -> tuple[BrowserContext, Page]:
        options: dict[str, Any] = {**PHONE, "base_url": live_server, "geolocation": GEOLOCATION, **overrides}
        context = browser.new_context(**options)
        contexts.append(context)
        context.grant_permissions(["geolocation"], origin=live_server)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        return context, context.new_page()

    yield make
    for context in contexts:
        try:
            context.close()
        except Error:
            pass  # already closed by the test


def sign_in(page: Page, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """Signs in through the HTML form at `/`, as a person would, and waits for the signed-in page."""
    page.goto(f"{base_url}/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    # A refused sign-in renders the form again at /login, with the reason in an alert.
    if page.url != f"{base_url}/":
        alert = page.get_by_role("alert")
        reason = alert.inner_text() if alert.count() else "no reason shown"
        raise AssertionError(f"signing in as {email} failed at {page.url}: {reason}")


def watch_console(page: Page) -> list[str]:
    """Starts collecting the page's console errors (CSP violations among them) and uncaught
    exceptions; returns the list, which fills as the page runs."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        # Chromium probes /favicon.ico by itself when a page names no icon; no code of ours asked.
        if message.type == "error" and not url.endswith("/favicon.ico"):
            problems.append(f"console: {message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    return problems

