"""The phone app in a real Chromium: installable, offline, visits, conflicts, refusals, first sync."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from playwright.sync_api import expect

from tests.pwa.conftest import sign_in, watch_console
from tests.pwa.helpers import first_contact, local_entry, open_app, pending, sync, wait_synced

PWA = Path(__file__).resolve().parents[2] / "pwa"


def _precache_list() -> list[str]:
    text = (PWA / "sw.js").read_text()
    block = re.search(r"PRECACHE = \[(.*?)\];", text, re.S)
    assert block, "sw.js has no PRECACHE list"
    return ["/shell" if item == "SHELL" else item.strip("'") for item in re.findall(r"'[^']+'|SHELL", block.group(1))]


def test_manifest_icons_and_service_worker_control_the_page(phone, live_server) -> None:
    context, page = phone()
    problems = watch_console(page)
    sign_in(page, live_server, "rep@fieldbook.test")
    wait_synced(page)

    manifest = page.request.get(f"{live_server}/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = manifest.json()
    assert data["display"] == "standalone" and data["start_url"] == "/" and data["short_name"]
    assert re.fullmatch(r"#[0-9a-f]{6}", data["theme_color"])
    sizes = set()
    for icon in data["icons"]:
        png = page.request.get(f"{live_server}{icon['src']}")
        assert png.ok and png.headers["content-type"] == "image/png", icon
        width, height = struct.unpack(">II", png.body()[16:24])
        assert f"{width}x{height}" == icon["sizes"], icon
        sizes.add((width, icon.get("purpose", "any")))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes

    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == f"{live_server}/sw.js"
    version = re.search(r"const VERSION = '([^']+)'", (PWA / "sw.js").read_text()).group(1)
    assert f"fieldbook-static-{version}" in page.evaluate("caches.keys()")
    for url in _precache_list():
        assert page.request.get(f"{live_server}{url}").ok, f"{url} is precached but not served"
    assert problems == []


def test_offline_reload_still_shows_contacts_and_deals(phone, live_server) -> None:
    context, page = open_app(phone, live_server, "rep@fieldbook.test")
    name = first_contact(page)["v"]["name"]
    context.set_offline(True)
    page.goto(f"{live_server}/#/contacts")
    page.reload()
    expect(page.locator("#status")).to_contain_text("Offline")
    expect(page.locator("#contact-list")).to_contain_text(name)
    page.fill("#contact-search", name)
    expect(page.locator("#contact-count")).to_contain_text("found")
    expect(page.locator("#contact-list li").first).to_contain_text(name)
    page.get_by_role("link", name="Deals").click()
    expect(page.get_by_role("heading", name=re.compile("^Lead"))).to_be_visible()
    expect(page.locator("#pipeline .deal").first).to_be_visible()


def test_visit_logged_offline_reaches_the_server_with_its_position(phone, live_server) -> None:
    context, page = open_app(phone, live_server, "rep2@fieldbook.test")
    contact = first_contact(page, skip=3)
    context.set_offline(True)
    page.goto(f"{live_server}/")
    expect(page.locator("#status")).to_contain_text("Offline")
    # Three taps at most from opening: the tab bar's "Log visit" opens the form.
    page.get_by_role("link", name="Log visit").click()
    page.get_by_label("Contact", exact=True).fill(contact["v"]["name"])
    page.locator("#visit-suggestions button").first.click()
    expect(page.locator("#visit-position")).to_contain_text("accurate to 12 m")
    page.get_by_label("Outcome").select_option("Order placed")
    page.get_by_label("Notes").fill("Offline visit from the car park")
    page.get_by_role("button", name="Save visit").click()
    expect(page.locator("#status")).to_contain_text("1 pending")

    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#status")).to_contain_text("All sent", timeout=20_000)
    me = page.request.get(f"{live_server}/api/v1/auth/me").json()
    answer = page.request.get(f"{live_server}/api/v1/activities?limit=200&owner={me['id']}")
    visits = [a for a in answer.json()["items"] if a["notes"] == "Offline visit from the car park"]
    assert len(visits) == 1, answer.text()
    visit = visits[0]
    assert visit["kind"] == "visit" and visit["outcome"] == "Order placed" and visit["contact"] == contact["id"]
    assert (visit["latitude"], visit["longitude"], visit["accuracy"]) == (52.52, 13.405, 12)


def test_two_phones_merge_different_fields_and_settle_a_conflict_on_one(phone, live_server) -> None:
    ctx_a, a = open_app(phone, live_server, "rep@fieldbook.test")
    ctx_b, b = open_app(phone, live_server, "rep2@fieldbook.test")
    contact = first_contact(a, skip=7)
    path = f"{live_server}/#/contacts/{contact['id']}"

    def edit(page, label: str, value: str) -> None:
        page.goto(path)
        page.get_by_role("button", name="Edit contact").click()
        page.get_by_label(label).fill(value)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("button", name="Edit contact")).to_be_visible()

    # Different fields, offline on both: they merge with nothing to settle.
    ctx_a.set_offline(True)
    ctx_b.set_offline(True)
    edit(a, "Job title", "Head of Buying")
    edit(b, "Notes", "Prefers calls after 10")
    ctx_a.set_offline(False)
    ctx_b.set_offline(False)
    for page in (a, b, a):
        sync(page)
    for page in (a, b):
        v = local_entry(page, "contact", contact["id"])["v"]
        assert (v["title"], v["notes"]) == ("Head of Buying", "Prefers calls after 10")
        page.goto(path)
        expect(page.locator("#status")).not_to_contain_text("to settle")

    # The same field: both phones show the conflict.
    ctx_a.set_offline(True)
    ctx_b.set_offline(True)
    edit(a, "Job title", "Chief Buyer")
    edit(b, "Job title", "Buying Director")
    ctx_a.set_offline(False)
    ctx_b.set_offline(False)
    for page in (a, b, a):
        sync(page)
    for page in (a, b):
        page.goto(f"{live_server}/#/conflicts")
        card = page.locator(f"article[data-record='{contact['id']}']")
        expect(card).to_contain_text("Chief Buyer")
        expect(card).to_contain_text("Buying Director")
        expect(page.locator("#status")).to_contain_text("1 to settle")

    # Settled on one phone, cleared on both after sync.
    a.get_by_role("button", name="Keep “Buying Director” for Job title").click()
    expect(a.locator(f"article[data-record='{contact['id']}']")).to_have_count(0)
    sync(a)
    sync(b)
    for page in (a, b):
        page.goto(f"{live_server}/#/conflicts")
        expect(page.locator(f"article[data-record='{contact['id']}']")).to_have_count(0)
        assert local_entry(page, "contact", contact["id"])["v"]["title"] == "Buying Director"
        assert "flag" not in local_entry(page, "contact", contact["id"])
    server = a.request.get(f"{live_server}/api/v1/contacts/{contact['id']}").json()
    assert server["title"] == "Buying Director" and server["conflicts"] == []


def test_invalid_edit_made_offline_comes_back_refused_and_is_fixed(phone, live_server) -> None:
    context, page = open_app(phone, live_server, "manager@fieldbook.test")
    contact = first_contact(page, skip=11)
    path = f"{live_server}/#/contacts/{contact['id']}"
    context.set_offline(True)
    page.goto(path)
    page.get_by_role("button", name="Edit contact").click()
    page.get_by_label("E-mail addresses").fill("not-an-email")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("button", name="Edit contact")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("1 pending")

    context.set_offline(False)
    sync(page)
    page.goto(path)
    expect(page.get_by_role("alert").first).to_contain_text("emails")
    field = page.get_by_label("E-mail addresses")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_contain_text("The server refused this")
    assert pending(page) == 0  # held for the user, not retried blindly
    server = page.request.get(f"{live_server}/api/v1/contacts/{contact['id']}").json()
    assert "not-an-email" not in server["emails"]

    field.fill("buyer@example.com")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("button", name="Edit contact")).to_be_visible()
    sync(page)
    server = page.request.get(f"{live_server}/api/v1/contacts/{contact['id']}").json()
    assert server["emails"] == ["buyer@example.com"]
    assert "held" not in local_entry(page, "contact", contact["id"])


def test_first_sync_shows_progress_and_completes(phone, live_server) -> None:
    context, page = phone()
    sign_in(page, live_server, "admin@fieldbook.test")
    bar = page.locator("#first-sync-progress")
    expect(bar).to_be_attached(timeout=15_000)
    expect(page.locator("#first-sync")).to_contain_text("Done: everything is on this phone", timeout=60_000)
    assert bar.get_attribute("value") == "100"
    stored = page.evaluate("() => import('/static/js/store.js').then((s) => s.counts())")["records"]
    totals = sum(
        page.request.get(f"{live_server}/api/v1/{kind}?limit=1").json()["total"]
        for kind in ("companies", "contacts", "deals", "activities", "tasks")
    )
    assert stored >= totals > 2000
