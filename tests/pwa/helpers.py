"""What the browser tests do again and again: open the app signed in, sync, read the local state."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.pwa.conftest import sign_in

#: The app's own sync, the one the "Sync now" button and the timers run.
SYNC = "() => import('/static/js/sync.js').then((m) => m.syncNow())"


def open_app(phone: Any, base_url: str, email: str) -> tuple[BrowserContext, Page]:
    """A fresh phone, signed in, with its first sync done and the service worker in control."""
    context, page = phone()
    sign_in(page, base_url, email)
    wait_synced(page)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
    return context, page


def wait_synced(page: Page) -> None:
    expect(page.locator("#status")).to_contain_text("Synced", timeout=30_000)
    expect(page.locator("#status")).not_to_contain_text("never", timeout=30_000)


def sync(page: Page) -> None:
    assert page.evaluate(SYNC) is True, "the sync did not complete"


def pending(page: Page) -> int:
    return int(page.locator("#status [data-pending]").get_attribute("data-pending") or "-1")


def local_entry(page: Page, kind: str, record_id: str) -> dict[str, Any] | None:
    return page.evaluate(
        "([t, id]) => import('/static/js/store.js').then((s) => s.getEntry(t, id))", [kind, record_id]
    )


def first_contact(page: Page, skip: int = 0) -> dict[str, Any]:
    """A contact from the phone's own list: tests pick different ones so they never share a record."""
    entries = page.evaluate("() => import('/static/js/store.js').then((s) => s.listEntries('contact'))")
    return entries[skip]


def registration_id(context: BrowserContext, page: Page) -> str:
    """The DevTools id of the page's service worker registration, for ServiceWorker.deliverPushMessage."""
    cdp = context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(r["registrationId"] for r in e["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not registrations:
        assert time.monotonic() < deadline, "no service worker registration reported"
        page.wait_for_timeout(100)
    return registrations[0]


_TAP = """async ([tag, action]) => {
  // Wait for the notification (a push is shown asynchronously), read it, and tap the action.
  for (let tries = 0; tries < 100; tries += 1) {
    const [n] = await self.registration.getNotifications({ tag });
    if (n) {
      const shown = { title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => a.action) };
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n, action }));
      return shown;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}"""


def tap_notification(worker: Any, tag: str, action: str) -> dict[str, Any]:
    """A tap on a notification's action, done in the service worker (the page may be closed);
    answers what the notification showed."""
    shown = worker.evaluate(_TAP, [tag, action])
    assert shown, f"no notification tagged {tag} to tap"
    return shown
