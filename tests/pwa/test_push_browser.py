"""Reminders reaching the phone: a push delivered to the service worker shows the task, and its
Done and Snooze actions edit the task with the app closed."""

from __future__ import annotations

import datetime as dt
import json
import time

import msgspec
from playwright.sync_api import expect

from server.domain.push.services import reminder_payload
from tests.pwa.helpers import tap_notification, open_app, registration_id

def _new_task(page, live_server: str, title: str, notes: str) -> str:
    page.goto(f"{live_server}/#/tasks/new")
    page.get_by_label("What to do (required)").fill(title)
    page.get_by_label("Notes").fill(notes)
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_visible()
    tasks = page.evaluate("() => import('/static/js/store.js').then((s) => s.listEntries('task'))")
    return next(t["id"] for t in tasks if t["v"]["title"] == title)


def _server_task(request, live_server: str, task_id: str, predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = request.get(f"{live_server}/api/v1/tasks/{task_id}")
        if answer.ok and predicate(answer.json()):
            return answer.json()
        assert time.monotonic() < deadline, f"the server's task never matched: {answer.text()}"
        time.sleep(0.2)


def test_gentle_offer_after_the_first_task(phone, live_server) -> None:
    context, page = open_app(phone, live_server, "rep.south@fieldbook.test")
    # Granting geolocation denied every other permission; the offer is only for an undecided phone.
    context.clear_permissions()
    assert page.evaluate("Notification.permission") == "default"
    _new_task(page, live_server, "Send the price list", "")
    offer = page.locator("#reminder-offer")
    expect(offer).to_contain_text("Get a notification on this phone when a follow-up is due?")
    offer.get_by_role("button", name="Not now").click()
    expect(offer).to_have_count(0)
    # Offered once: the second task asks nothing.
    _new_task(page, live_server, "Book the demo", "")
    expect(page.locator("#reminder-offer")).to_have_count(0)


def test_pushed_reminder_shows_and_its_actions_edit_the_task(phone, live_server) -> None:
    context, page = open_app(phone, live_server, "rep2@fieldbook.test")
    context.grant_permissions(["notifications"], origin=live_server)
    done_id = _new_task(page, live_server, "Call back Ardwick Steel", "Ask about the second line")
    snooze_id = _new_task(page, live_server, "Send the revised quote", "")
    _server_task(context.request, live_server, snooze_id, lambda t: True)

    registration = registration_id(context, page)

    def deliver(task_id: str, title: str, notes: str) -> dict:
        cdp = context.new_cdp_session(page)
        cdp.send("ServiceWorker.enable")
        remind = dt.datetime.now(dt.UTC).isoformat()
        payload = msgspec.to_builtins(reminder_payload(task_id, {"title": title, "notes": notes, "remind_at": remind}))
        cdp.send("ServiceWorker.deliverPushMessage", {"origin": live_server, "registrationId": registration, "data": json.dumps(payload)})
        return payload

    sent = deliver(done_id, "Call back Ardwick Steel", "Ask about the second line")
    # The app is closed: only the service worker is left to show and act on the notification.
    worker = context.service_workers[0]
    page.close()
    shown = tap_notification(worker, sent["tag"], "done")
    assert shown == {"title": "Call back Ardwick Steel", "body": "Ask about the second line", "tag": f"task:{done_id}", "actions": ["done", "snooze"]}
    task = _server_task(context.request, live_server, done_id, lambda t: t["done_at"] is not None)
    assert task["title"] == "Call back Ardwick Steel"

    page = context.new_page()
    page.goto(f"{live_server}/#/tasks")
    sent = deliver(snooze_id, "Send the revised quote", "")
    before = time.time()
    tap_notification(worker, sent["tag"], "snooze")
    task = _server_task(context.request, live_server, snooze_id, lambda t: t["remind_at"] is not None)
    moved = dt.datetime.fromisoformat(task["remind_at"]).timestamp() - before
    assert 55 * 60 <= moved <= 65 * 60 and task["done_at"] is None
