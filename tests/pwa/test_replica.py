"""A wiped phone never reuses its replica id (SYNC.md): it registers afresh and pulls everything again."""

from __future__ import annotations

from tests.pwa.helpers import open_app, wait_synced

META = "(key) => import('/static/js/store.js').then((s) => s.getMeta(key))"


def test_a_wiped_local_database_registers_a_new_replica(phone, live_server) -> None:
    context, page = open_app(phone, live_server, "rep.south@fieldbook.test")
    first = page.evaluate(META, "replica")
    records = page.evaluate("() => import('/static/js/store.js').then((s) => s.counts())")["records"]
    assert first and records > 100
    # What a browser clearing site storage does: the database goes, the session cookie stays.
    page.evaluate("() => import('/static/js/store.js').then((s) => s.wipe())")
    page.reload()
    wait_synced(page)
    second = page.evaluate(META, "replica")
    assert second and second != first
    assert page.evaluate("() => import('/static/js/store.js').then((s) => s.counts())")["records"] == records
