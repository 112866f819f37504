"""Approvals: team rules on every writer, decisions bound to the deal's version, who may decide,
pushes both ways and the deal's audit trail."""

from __future__ import annotations

from typing import Any

import msgspec

import sync
from server.domain.push.tables import PushMessage
from tests.server.conftest import Env
from tests.server.test_sync_api import Phone, new_id

RULE = "needs a manager's approval"


def _deal(env: Env, who: str = "rep", **fields: Any) -> dict:
    response = env.as_(who).post("/api/v1/deals", json={"title": "Boiler room refit", "amount": "80000.00", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _errors(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.text
    return {e["key"]: e["message"] for e in response.json()["extra"]}


def _ask(env: Env, phone: Phone, deal: sync.Record, **changes: Any) -> sync.Record:
    rep = env.world.users["rep"]
    shown = sync.visible(deal)
    return phone.edit(
        "approval",
        new_id(),
        deal=deal.id,
        owner=rep.id,
        reason="Customer signs today if we close at this price",
        deal_vv=dict(deal.vv),
        changes=changes,
        snapshot={k: shown.get(k) for k in ("stage", "amount", "currency", "discount", "expected_close")},
    )


def _messages(env: Env, who: str) -> list[dict]:
    user = env.world.users[who].id

    async def read() -> list[dict]:
        rows = await PushMessage.select(PushMessage.payload).where(PushMessage.recipient == user)
        return [msgspec.json.decode(r["payload"]) for r in rows]

    return env.call(read)


def test_rules_default_per_team_and_only_an_admin_changes_them(env: Env) -> None:
    rules = env.as_("rep").get("/api/v1/rules").json()["items"]
    assert rules == [{"team": env.world.north, "team_name": "North", "max_discount": "15", "won_amount_limit": "50000"}]
    assert len(env.as_("admin").get("/api/v1/rules").json()["items"]) == 2
    body = {"max_discount": "10", "won_amount_limit": "20000"}
    for who in ("rep", "manager"):
        assert env.as_(who).request("PUT", f"/api/v1/rules/{env.world.north}", json=body).status_code == 403
    assert env.as_("admin").request("PUT", "/api/v1/rules/999999", json=body).status_code == 404
    bad = env.as_("admin").request("PUT", f"/api/v1/rules/{env.world.north}", json={"max_discount": "lots", "won_amount_limit": "1"})
    assert "max_discount" in _errors(bad)
    changed = env.as_("admin").request("PUT", f"/api/v1/rules/{env.world.north}", json=body)
    assert changed.status_code == 200 and changed.json()["max_discount"] == "10"
    assert env.as_("manager").get("/api/v1/rules").json()["items"][0]["won_amount_limit"] == "20000"
    # The new limit holds at once: 30,000 is now too much to close as won without approval.
    deal = _deal(env, amount="30000")
    assert "stage" in _errors(env.as_("rep").patch(f"/api/v1/deals/{deal['id']}", json={"stage": "won"}))


def test_a_rep_cannot_close_a_big_deal_or_give_a_big_discount_alone(env: Env) -> None:
    deal = _deal(env)
    rep = env.as_("rep")
    assert RULE in _errors(rep.patch(f"/api/v1/deals/{deal['id']}", json={"stage": "won"}))["stage"]
    assert RULE in _errors(rep.patch(f"/api/v1/deals/{deal['id']}", json={"discount": "20"}))["discount"]
    assert rep.get(f"/api/v1/deals/{deal['id']}").json()["stage"] == "lead"  # nothing stored
    assert rep.patch(f"/api/v1/deals/{deal['id']}", json={"discount": "15"}).status_code == 200
    small = _deal(env, amount="50000")
    assert rep.patch(f"/api/v1/deals/{small['id']}", json={"stage": "won"}).status_code == 200
    # A manager is trusted with the team's deals.
    assert env.as_("manager").patch(f"/api/v1/deals/{deal['id']}", json={"stage": "won"}).status_code == 200


def test_the_same_rules_hold_for_a_phone_push(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    rep = env.world.users["rep"].id
    won = phone.edit("deal", new_id(), title="Big win", owner=rep, amount="90000", stage="won")
    discounted = phone.edit("deal", new_id(), title="Generous", owner=rep, amount="1000", discount="30")
    fine = phone.edit("deal", new_id(), title="Fine", owner=rep, amount="1000", discount="5")
    results = phone.push(won, discounted, fine)
    assert [r["status"] for r in results] == ["rejected", "rejected", "ok"]
    assert "stage" in {e["field"] for e in results[0]["errors"]}
    assert all(RULE in e["message"] for e in results[0]["errors"])
    assert [e["field"] for e in results[1]["errors"]] == ["discount"]


def test_approved_decision_made_before_the_deal_changed_applies_the_change(env: Env) -> None:
    rep_phone, manager_phone = Phone(env.as_("rep")), Phone(env.as_("manager"))
    rep = env.world.users["rep"].id
    deal = rep_phone.edit("deal", new_id(), title="Boiler room refit", owner=rep, amount="80000", discount="5")
    assert rep_phone.push(deal)[0]["status"] == "ok"
    ask = _ask(env, rep_phone, rep_phone.states[deal.id], stage="won", discount="18")
    assert rep_phone.push(ask)[0]["status"] == "ok"
    [asked] = [m for m in _messages(env, "manager") if m["type"] == "approval"]
    assert asked["actions"] == [{"action": "approve", "title": "Approve"}, {"action": "reject", "title": "Reject"}]
    assert "Boiler room refit" in asked["title"] and asked["record"] == {"type": "approval", "id": ask.id}

    manager_phone.pull()
    decided = manager_phone.edit("approval", ask.id, status="approved", decided_by=env.world.users["manager"].id, comment="Go ahead")
    assert manager_phone.push(decided)[0]["status"] == "ok"

    shown = env.as_("rep").get(f"/api/v1/deals/{deal.id}").json()
    assert (shown["stage"], shown["discount"]) == ("won", "18")
    rep_phone.pull()
    assert sync.visible(rep_phone.states[ask.id])["status"] == "approved"
    [told] = [m for m in _messages(env, "rep") if m["type"] == "approval-decision"]
    assert told["title"] == "Approved: Boiler room refit" and told["body"] == "Go ahead"

    trail = env.as_("rep").get(f"/api/v1/deals/{deal.id}/history").json()["items"]
    assert [(e["field"], e["old"], e["new"]) for e in trail] == [
        ("stage", None, "lead"),
        ("amount", None, "80000"),
        ("discount", None, "5"),
        ("approval", "pending", "approved"),
        ("stage", "lead", "won"),
        ("discount", "5", "18"),
    ]
    assert trail[0]["replica"] == rep_phone.replica and trail[0]["user_name"] == "Rep"
    assert trail[3]["replica"] == manager_phone.replica and trail[3]["comment"] == "Go ahead"
    assert trail[4]["replica"] == "s" and trail[4]["user_name"] == "Manager"
    assert env.as_("rep_south").get(f"/api/v1/deals/{deal.id}/history").status_code == 404


def test_decision_made_after_the_deal_changed_ends_stale(env: Env) -> None:
    rep_phone, manager_phone = Phone(env.as_("rep")), Phone(env.as_("manager"))
    rep = env.world.users["rep"].id
    deal = rep_phone.edit("deal", new_id(), title="Kitchen extension", owner=rep, amount="70000")
    rep_phone.push(deal)
    ask = _ask(env, rep_phone, rep_phone.states[deal.id], stage="won")
    rep_phone.push(ask)
    manager_phone.pull()
    # The rep raises the amount while the manager, offline, approves what they saw.
    rep_phone.push(rep_phone.edit("deal", deal.id, amount="95000"))
    decided = manager_phone.edit("approval", ask.id, status="approved", decided_by=env.world.users["manager"].id)
    assert manager_phone.push(decided)[0]["status"] == "ok"

    shown = env.as_("rep").get(f"/api/v1/deals/{deal.id}").json()
    assert (shown["stage"], shown["amount"]) == ("lead", "95000")
    rep_phone.pull()
    manager_phone.pull()
    for phone in (rep_phone, manager_phone):
        state = phone.states[ask.id]
        assert sync.visible(state)["status"] == "stale" and not sync.conflicts(state)
    [told] = [m for m in _messages(env, "rep") if m["type"] == "approval-decision"]
    assert told["title"].startswith("Ask again")
    decisions = [e for e in env.as_("rep").get(f"/api/v1/deals/{deal.id}/history").json()["items"] if e["field"] == "approval"]
    assert [(e["old"], e["new"], e["replica"]) for e in decisions] == [
        ("pending", "approved", manager_phone.replica),
        ("approved", "stale", "s"),
    ]


def test_only_a_manager_of_the_reps_team_or_an_admin_decides(env: Env) -> None:
    rep_phone = Phone(env.as_("rep"))
    rep = env.world.users["rep"].id
    deal = rep_phone.edit("deal", new_id(), title="Roof", owner=rep, amount="60000")
    rep_phone.push(deal)
    ask = _ask(env, rep_phone, rep_phone.states[deal.id], stage="won")
    rep_phone.push(ask)

    own = rep_phone.edit("approval", ask.id, status="approved", decided_by=rep)
    [result] = rep_phone.push(own)
    assert result["status"] == "rejected" and result["errors"][0]["field"] == "status"
    rep_phone.states[ask.id] = ask

    south = Phone(env.as_("manager_south"))
    south.states[ask.id] = ask
    [result] = south.push(south.edit("approval", ask.id, status="approved", decided_by=env.world.users["manager_south"].id))
    assert result["status"] == "rejected" and result["errors"][0]["field"] == "id"

    manager = Phone(env.as_("manager"))
    manager.pull()
    [result] = manager.push(manager.edit("approval", ask.id, status="stale"))
    assert result["status"] == "rejected" and result["errors"][0]["field"] == "status"
    manager.pull()
    [result] = manager.push(manager.edit("approval", ask.id, status="approved", decided_by=rep))
    assert result["status"] == "rejected" and result["errors"][0]["field"] == "decided_by"
    assert env.as_("rep").get(f"/api/v1/deals/{deal.id}").json()["stage"] == "lead"

    admin = Phone(env.as_("admin"))
    admin.pull()
    [result] = admin.push(admin.edit("approval", ask.id, status="approved", decided_by=env.world.users["admin"].id))
    assert result["status"] == "ok"
    assert env.as_("rep").get(f"/api/v1/deals/{deal.id}").json()["stage"] == "won"


def test_a_decided_or_stale_request_stays_as_it_ended(env: Env) -> None:
    rep_phone, manager_phone = Phone(env.as_("rep")), Phone(env.as_("manager"))
    rep, manager = env.world.users["rep"].id, env.world.users["manager"].id
    deal = rep_phone.edit("deal", new_id(), title="Loft", owner=rep, amount="60000")
    rep_phone.push(deal)
    ask = _ask(env, rep_phone, rep_phone.states[deal.id], stage="won")
    rep_phone.push(ask)
    manager_phone.pull()
    assert manager_phone.push(manager_phone.edit("approval", ask.id, status="rejected", decided_by=manager))[0]["status"] == "ok"

    # The rep's phone, still holding the pending request, asks again on the same record.
    [result] = rep_phone.push(rep_phone.edit("approval", ask.id, status="pending", reason="Please look again"))
    assert result["status"] == "rejected"
    assert [(e["field"], "already rejected" in e["message"]) for e in result["errors"]] == [("status", True)]
    # A second manager's concurrent approval does not overturn the first decision either.
    admin = Phone(env.as_("admin"))
    admin.states[ask.id] = ask
    [result] = admin.push(admin.edit("approval", ask.id, status="approved", decided_by=env.world.users["admin"].id))
    assert result["status"] == "rejected" and result["errors"][0]["field"] == "status"
    # A write of other fields still goes through.
    manager_phone.pull()
    assert manager_phone.push(manager_phone.edit("approval", ask.id, comment="Too deep a cut"))[0]["status"] == "ok"
    rep_phone.states.pop(ask.id)
    rep_phone.pull()
    shown = sync.visible(rep_phone.states[ask.id])
    assert (shown["status"], shown["comment"], shown["reason"]) == ("rejected", "Too deep a cut", sync.visible(ask)["reason"])
    assert env.as_("rep").get(f"/api/v1/deals/{deal.id}").json()["stage"] == "lead"


def test_an_approval_may_only_ask_for_deal_changes_that_are_valid(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    rep = env.world.users["rep"].id
    deal = phone.edit("deal", new_id(), title="Windows", owner=rep, amount="1000")
    phone.push(deal)
    results = phone.push(
        _ask(env, phone, phone.states[deal.id], title="Renamed"),
        _ask(env, phone, phone.states[deal.id], stage="closed"),
        _ask(env, phone, phone.states[deal.id], discount="25"),
    )
    assert [r["status"] for r in results] == ["rejected", "rejected", "ok"]
    assert [r["errors"][0]["field"] for r in results[:2]] == ["changes", "changes"]


def test_team_people_for_the_phone(env: Env) -> None:
    names = {u["name"] for u in env.as_("rep").get("/api/v1/users").json()["items"]}
    assert names == {"Admin", "Manager", "Rep", "Rep2"}
    assert len(env.as_("admin").get("/api/v1/users").json()["items"]) == 6
