"""Approvals on real phones: a rep's refused discount asked for offline, a manager deciding offline,
the decision reaching the rep (applied, or stale when the deal moved on), and the manager's
Approve action on a pushed notification with the app closed."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.pwa.helpers import tap_notification, local_entry, open_app, registration_id, sync

REP = "rep@fieldbook.test"
MANAGER = "manager@fieldbook.test"
RULE = re.compile("needs a manager's approval", re.I)

#: Each test takes its own deal of the rep's, so tests sharing the live server never meet.
REP_DEALS = """([stage, index]) => Promise.all([
    import('/static/js/store.js').then((s) => s.listEntries('deal')),
    import('/static/js/store.js').then((s) => s.getMeta('me')),
  ]).then(([deals, me]) => deals
    .filter((d) => d.v.owner === me.id && d.v.stage === stage && Number(d.v.discount || 0) <= 15)
    .sort((a, b) => a.id.localeCompare(b.id))[index])"""

APPROVALS_OF = """(deal) => import('/static/js/store.js')
  .then((s) => s.listEntries('approval'))
  .then((all) => all.filter((a) => a.v.deal === deal))"""


def _name(page: Page) -> str:
    """The demo's full name of whoever is signed in on this phone."""
    return page.evaluate("() => import('/static/js/store.js').then((s) => s.getMeta('me')).then((me) => me.name)")


def _deal(page: Page, index: int) -> dict[str, Any]:
    deal = page.evaluate(REP_DEALS, ["proposal", index])
    assert deal, f"the rep has no proposal deal number {index}"
    return deal


def _server_deal(context: BrowserContext, live_server: str, deal_id: str) -> dict[str, Any]:
    answer = context.request.get(f"{live_server}/api/v1/deals/{deal_id}")
    assert answer.ok, answer.text()
    return answer.json()


def _ask_for_discount_offline(context: BrowserContext, page: Page, live_server: str, deal: dict[str, Any]) -> dict[str, Any]:
    """The rep gives 25 % offline; the app refuses it and the rep asks instead. Returns the request."""
    context.set_offline(True)
    page.goto(f"{live_server}/#/deals/{deal['id']}")
    page.get_by_role("button", name="Edit deal").click()
    page.get_by_label("Discount (%)").fill("25")
    page.get_by_role("button", name="Save", exact=True).click()
    panel = page.locator(".ask-panel")
    expect(panel.get_by_role("alert")).to_contain_text(RULE)
    expect(panel.get_by_role("alert")).to_contain_text("over 15 %")
    expect(page.get_by_label("Discount (%)")).to_have_attribute("aria-invalid", "true")
    # Nothing was saved: the deal is as it was, and nothing waits to be sent.
    assert local_entry(page, "deal", deal["id"])["state"] == deal["state"]
    panel.get_by_label("Reason for your manager (required)").fill("They sign this week at 25 % off")
    panel.get_by_role("button", name="Ask for approval").click()
    status = page.locator("#approval-status")
    expect(status).to_have_attribute("data-status", "pending")
    expect(status).to_contain_text("Waiting for a manager")
    expect(page.locator("#status")).to_contain_text("1 pending")
    expect(page.locator("#history-note")).to_contain_text("needs a connection")
    [asked] = page.evaluate(APPROVALS_OF, deal["id"])
    v = asked["v"]
    assert v["changes"] == {"discount": "25"} and v["status"] == "pending" and v["reason"] == "They sign this week at 25 % off"
    assert v["deal_vv"] == deal["state"]["vv"] and v["snapshot"]["discount"] == deal["v"].get("discount", "0")
    context.set_offline(False)
    return asked


def _decide_offline(context: BrowserContext, page: Page, live_server: str, approval_id: str, comment: str, rep_name: str) -> None:
    context.set_offline(True)
    page.goto(f"{live_server}/#/approvals/{approval_id}")
    card = page.locator(f"article[data-approval='{approval_id}']")
    expect(card).to_contain_text(f"{rep_name} asks for Discount 25 %")
    expect(card).to_contain_text("They sign this week at 25 % off")
    card.get_by_label(re.compile("^Comment for")).fill(comment)
    card.get_by_role("button", name="Approve").click()
    expect(page.locator("#approvals-result")).to_contain_text("Approved")
    expect(page.locator("#approvals-result")).to_contain_text("back online")
    expect(card).to_have_count(0)
    assert local_entry(page, "approval", approval_id)["v"]["status"] == "approved"
    context.set_offline(False)


def test_manager_approves_offline_and_the_rep_sees_it_applied(phone, live_server) -> None:
    rep_ctx, rep = open_app(phone, live_server, REP)
    boss_ctx, boss = open_app(phone, live_server, MANAGER)
    deal = _deal(rep, 0)
    asked = _ask_for_discount_offline(rep_ctx, rep, live_server, deal)
    sync(rep)
    assert _server_deal(rep_ctx, live_server, deal["id"])["discount"] == deal["v"].get("discount", "0")

    sync(boss)
    boss.goto(f"{live_server}/#/today")
    expect(boss.locator("#today")).to_contain_text("Approvals waiting")
    expect(boss.locator(f"#today a[href='#/approvals/{asked['id']}']")).to_be_visible()
    boss.goto(f"{live_server}/#/approvals/{asked['id']}")
    card = boss.locator(f"article[data-approval='{asked['id']}']")
    expect(card).to_contain_text("Changed since the request")
    expect(card).to_contain_text("Nothing")
    expect(card.locator(".moved")).to_have_count(0)
    _decide_offline(boss_ctx, boss, live_server, asked["id"], "Fine for this customer", _name(rep))
    sync(boss)

    sync(rep)
    rep.goto(f"{live_server}/#/deals/{deal['id']}")
    status = rep.locator("#approval-status")
    expect(status).to_have_attribute("data-status", "approved")
    expect(status).to_contain_text(f"{_name(boss)} decided")
    expect(status).to_contain_text("Fine for this customer")
    expect(rep.locator(".facts")).to_contain_text("25 %")
    assert _server_deal(rep_ctx, live_server, deal["id"])["discount"] == "25"
    history = rep.locator("#deal-history")
    decision = history.locator("li[data-field='approval']")
    expect(decision).to_contain_text("Approved")
    expect(decision).to_contain_text("Fine for this customer")
    expect(decision).to_contain_text(_name(boss))
    expect(history.locator("li[data-field='discount']").first).to_contain_text("→ 25 %")
    expect(history.locator("li[data-field='discount']").first).to_contain_text("from the server")


def test_a_decision_on_a_deal_changed_meanwhile_ends_stale_and_the_rep_asks_again(phone, live_server) -> None:
    rep_ctx, rep = open_app(phone, live_server, REP)
    boss_ctx, boss = open_app(phone, live_server, MANAGER)
    deal = _deal(rep, 1)
    asked = _ask_for_discount_offline(rep_ctx, rep, live_server, deal)
    sync(rep)
    sync(boss)

    # The rep raises the amount while the manager, without a signal, approves what they saw.
    rep.goto(f"{live_server}/#/deals/{deal['id']}")
    rep.get_by_role("button", name="Edit deal").click()
    rep.get_by_label("Amount").fill("43210")
    rep.get_by_role("button", name="Save", exact=True).click()
    expect(rep.get_by_role("button", name="Edit deal")).to_be_visible()
    sync(rep)
    _decide_offline(boss_ctx, boss, live_server, asked["id"], "OK, go", _name(rep))
    sync(boss)

    boss.goto(f"{live_server}/#/approvals")
    expect(boss.locator(f"#approvals-decided-list li[data-approval='{asked['id']}']")).to_have_attribute("data-status", "stale")
    server = _server_deal(rep_ctx, live_server, deal["id"])
    assert server["amount"] == "43210" and server["discount"] == deal["v"].get("discount", "0")

    sync(rep)
    rep.goto(f"{live_server}/#/deals/{deal['id']}")
    status = rep.locator("#approval-status")
    expect(status).to_have_attribute("data-status", "stale")
    expect(status).to_contain_text("The deal changed after you asked: ask again")
    decisions = rep.locator("#deal-history li[data-field='approval']")
    # Newest first: the server marked it stale after the manager's approval arrived too late.
    expect(decisions).to_have_count(2)
    expect(decisions.nth(0)).to_contain_text("Marked stale")
    expect(decisions.nth(1)).to_contain_text("not applied")
    # Asking again takes the same request against the deal as it is now.
    status.get_by_role("button", name="Ask again").click()
    panel = rep.locator(".ask-panel")
    expect(panel.get_by_label("Reason for your manager (required)")).to_have_value("They sign this week at 25 % off")
    panel.get_by_role("button", name="Ask for approval").click()
    expect(rep.locator("#approval-status")).to_have_attribute("data-status", "pending")
    again = [a for a in rep.evaluate(APPROVALS_OF, deal["id"]) if a["id"] != asked["id"]]
    assert len(again) == 1 and again[0]["v"]["changes"] == {"discount": "25"}
    assert again[0]["v"]["deal_vv"] == local_entry(rep, "deal", deal["id"])["state"]["vv"]


ASK = """([deal, reason]) => Promise.all([import('/static/js/approval-ask.js'), import('/static/js/store.js')])
  .then(([m, s]) => s.getMeta('me').then((me) => m.askApproval({ dealId: deal, changes: { stage: 'won' }, reason, me })))"""


def test_the_managers_approve_action_on_a_push_decides_with_the_app_closed(phone, live_server) -> None:
    rep_ctx, rep = open_app(phone, live_server, REP)
    boss_ctx, boss = open_app(phone, live_server, MANAGER)
    boss_ctx.grant_permissions(["notifications"], origin=live_server)
    deal = _deal(rep, 2)
    approval_id = rep.evaluate(ASK, [deal["id"], "Signed today"])
    sync(rep)
    sync(boss)

    registration = registration_id(boss_ctx, boss)
    # What the server sends a team's managers on a new request (server/domain/approvals/services.py).
    payload = {
        "type": "approval",
        "title": f"Approval asked: {deal['v']['title']}",
        "body": "Rep asks: Signed today",
        "url": f"/#/approvals/{approval_id}",
        "tag": f"approval:{approval_id}",
        "record": {"type": "approval", "id": approval_id},
        "actions": [{"action": "approve", "title": "Approve"}, {"action": "reject", "title": "Reject"}],
    }
    cdp = boss_ctx.new_cdp_session(boss)
    cdp.send("ServiceWorker.enable")
    cdp.send("ServiceWorker.deliverPushMessage", {"origin": live_server, "registrationId": registration, "data": json.dumps(payload)})
    worker = boss_ctx.service_workers[0]
    boss.close()
    shown = tap_notification(worker, payload["tag"], "approve")
    assert shown["actions"] == ["approve", "reject"] and shown["title"] == payload["title"]
    deadline = time.monotonic() + 15
    while _server_deal(rep_ctx, live_server, deal["id"])["stage"] != "won":
        assert time.monotonic() < deadline, "the approval from the notification never reached the server"
        time.sleep(0.2)
    sync(rep)
    rep.goto(f"{live_server}/#/deals/{deal['id']}")
    expect(rep.locator("#approval-status")).to_have_attribute("data-status", "approved")
    expect(rep.locator("#approval-status")).to_contain_text("decided")
