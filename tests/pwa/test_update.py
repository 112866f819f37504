"""A new version of the app: the phone finds the new service worker, offers "Update now", and on
a tap the new worker takes over, the page reloads, and the old version's cache is gone.

Playwright cannot answer the browser's own fetch of the service worker script, so this test runs
a server of its own over a copy of the project, and changes the copy's sw.js as a deploy would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.pwa.conftest import PhoneFactory, _free_port, _wait_until_healthy, sign_in, stop_server
from tests.pwa.helpers import wait_synced

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PASSWORD = "updater@fieldbook.test", "a long enough password"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`fieldbook serve` from a copy of the project (so its pwa/ can change); yields the base
    URL and the copy's root."""
    root = tmp_path / "project"
    for part in ("server", "pwa", "migrations"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "FIELDBOOK_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-c", "from server.cli import main; main()"]

    def cli(*args: str, stdin: str | None = None) -> None:
        done = subprocess.run([*command, *args], env=env, cwd=root, input=stdin, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"fieldbook {' '.join(args)}: {done.stdout}{done.stderr}"

    cli("migrate")
    cli("user", "add", EMAIL, "--role", "rep", "--team", "North", stdin=PASSWORD + "\n")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([*command, "serve", "--port", str(port)], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(base_url, server, log_path)
        yield base_url, root
    finally:
        stop_server(server)


def test_a_new_version_is_offered_and_taken_on_update_now(phone: PhoneFactory, own_server: tuple[str, Path]) -> None:
    base_url, root = own_server
    context, page = phone(base_url=base_url)
    sign_in(page, base_url, EMAIL, PASSWORD)
    wait_synced(page)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
    # The copy really is what the phone runs.
    assert page.evaluate("fetch('/sw.js').then((r) => r.text())") == (root / "pwa" / "sw.js").read_text()
    old = page.evaluate("caches.keys()")
    assert any(name.startswith("fieldbook-static-") for name in old), old
    expect(page.get_by_role("button", name="Update now")).to_have_count(0)

    # A deploy: a new version of the service worker.
    sw = root / "pwa" / "sw.js"
    text = sw.read_text()
    assert "const VERSION = '" in text
    sw.write_text(text.replace("const VERSION = '", "const VERSION = 'next-", 1))
    page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")

    expect(page.get_by_text("A new version of Fieldbook is ready.")).to_be_visible(timeout=15_000)
    # Installed, not yet in control: its files are cached beside the old ones, which stay in use.
    waiting = page.evaluate("caches.keys()")
    assert set(old) < set(waiting) and any(name.startswith("fieldbook-static-next-") for name in waiting), waiting
    with page.expect_navigation(timeout=15_000):
        page.get_by_role("button", name="Update now").click()
    page.wait_for_function(
        "() => caches.keys().then((names) => names.some((n) => n.startsWith('fieldbook-static-next-')))", timeout=15_000
    )
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
    now = page.evaluate("caches.keys()")
    assert not set(old) & set(name for name in now if name.startswith("fieldbook-static-")), (old, now)
    # The reloaded app works on the new version, signed in, with no update to offer.
    wait_synced(page)
    expect(page.get_by_role("button", name="Update now")).to_have_count(0)
    context.close()
