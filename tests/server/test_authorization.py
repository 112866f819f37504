"""Who may see and write which records: each role against each endpoint, own and foreign records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.server.conftest import Env

ROLES = ("admin", "manager", "rep", "rep2", "manager_south", "rep_south")
PLURAL = {"company": "companies", "contact": "contacts", "deal": "deals", "activity": "activities", "task": "tasks"}
WHEN = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc).isoformat()


def _create(env: Env, who: str, kind: str, body: dict[str, Any]) -> str:
    response = env.as_(who).post(f"/api/v1/{PLURAL[kind]}", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _records(env: Env) -> dict[str, tuple[str, str]]:
    """One record of each kind in each place that matters; name -> (kind, id)."""
    users = env.world.users
    out: dict[str, tuple[str, str]] = {}
    out["company_north"] = ("company", _create(env, "rep", "company", {"name": "North Mill"}))
    out["company_south"] = ("company", _create(env, "rep_south", "company", {"name": "South Pier"}))
    out["contact_north"] = ("contact", _create(env, "rep2", "contact", {"name": "Nora North"}))
    out["contact_south"] = ("contact", _create(env, "manager_south", "contact", {"name": "Sam South"}))
    out["deal_rep"] = ("deal", _create(env, "rep", "deal", {"title": "Rep deal"}))
    out["deal_rep2"] = ("deal", _create(env, "manager", "deal", {"title": "Rep2 deal", "owner": users["rep2"].id}))
    out["deal_south"] = ("deal", _create(env, "rep_south", "deal", {"title": "South deal"}))
    out["activity_rep"] = ("activity", _create(env, "rep", "activity", {"kind": "call", "occurred_at": WHEN}))
    out["activity_south"] = ("activity", _create(env, "rep_south", "activity", {"kind": "visit", "occurred_at": WHEN}))
    out["task_rep_own"] = ("task", _create(env, "rep", "task", {"title": "Own task"}))
    out["task_manager_to_rep"] = ("task", _create(env, "manager", "task", {"title": "For rep", "assignee": users["rep"].id}))
    out["task_manager_to_rep2"] = ("task", _create(env, "manager", "task", {"title": "For rep2", "assignee": users["rep2"].id}))
    out["task_south"] = ("task", _create(env, "rep_south", "task", {"title": "South task"}))
    return out


NORTH_SHARED = {"company_north", "contact_north"}
SOUTH_SHARED = {"company_south", "contact_south"}
VISIBLE = {
    "admin": None,  # everything
    "manager": NORTH_SHARED | {"deal_rep", "deal_rep2", "activity_rep", "task_rep_own", "task_manager_to_rep", "task_manager_to_rep2"},
    "rep": NORTH_SHARED | {"deal_rep", "activity_rep", "task_rep_own", "task_manager_to_rep"},
    "rep2": NORTH_SHARED | {"deal_rep2", "task_manager_to_rep2"},
    "manager_south": SOUTH_SHARED | {"deal_south", "activity_south", "task_south"},
    "rep_south": SOUTH_SHARED | {"deal_south", "activity_south", "task_south"},
}
PATCH = {"company": {"name": "Renamed"}, "contact": {"title": "Boss"}, "deal": {"stage": "qualified"}, "activity": {"notes": "hello"}, "task": {"notes": "later"}}
FOREIGN_PATCH = {"company": {"name": "HACKED"}, "contact": {"title": "HACKED"}, "deal": {"title": "HACKED"}, "activity": {"notes": "HACKED"}, "task": {"notes": "HACKED"}}


def test_each_role_sees_reads_and_writes_exactly_its_records(env: Env) -> None:
    records = _records(env)
    for role in ROLES:
        expected = set(records) if VISIBLE[role] is None else VISIBLE[role]
        api = env.as_(role)
        for name, (kind, record_id) in records.items():
            url = f"/api/v1/{PLURAL[kind]}/{record_id}"
            got = api.get(url)
            listed = {item["id"] for item in api.get(f"/api/v1/{PLURAL[kind]}", params={"limit": 200}).json()["items"]}
            if name in expected:
                assert got.status_code == 200, (role, name)
                assert record_id in listed, (role, name)
                assert api.patch(url, json=PATCH[kind]).status_code == 200, (role, name)
            else:
                assert got.status_code == 404, (role, name)
                assert record_id not in listed, (role, name)
                assert api.patch(url, json=FOREIGN_PATCH[kind]).status_code == 404, (role, name)
                assert api.delete(url).status_code == 404, (role, name)
    # Nothing a foreign user tried reached a record they could not see.
    for kind, record_id in records.values():
        record = env.as_("admin").get(f"/api/v1/{PLURAL[kind]}/{record_id}").json()
        assert "HACKED" not in str(record)
        assert all(record[k] == v for k, v in PATCH[kind].items())


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_delete_what_it_sees(env: Env, role: str) -> None:
    records = _records(env)
    api = env.as_(role)
    expected = set(records) if VISIBLE[role] is None else VISIBLE[role]
    for name in sorted(expected):
        kind, record_id = records[name]
        url = f"/api/v1/{PLURAL[kind]}/{record_id}"
        assert api.delete(url).status_code == 204, (role, name)
        assert api.get(url).status_code == 404, (role, name)
        assert record_id not in {i["id"] for i in api.get(f"/api/v1/{PLURAL[kind]}", params={"limit": 200}).json()["items"]}
    # Deletion is a tombstone: a second delete finds nothing to delete.
    kind, record_id = records[sorted(expected)[0]]
    assert api.delete(f"/api/v1/{PLURAL[kind]}/{record_id}").status_code == 404


def _error_keys(response: Any) -> set[str]:
    return {e["key"] for e in response.json().get("extra", [])}


def test_a_rep_cannot_give_a_deal_to_another_rep_or_take_one(env: Env) -> None:
    users = env.world.users
    rep = env.as_("rep")
    refused = rep.post("/api/v1/deals", json={"title": "For rep2", "owner": users["rep2"].id})
    assert refused.status_code == 400 and _error_keys(refused) == {"owner"}
    deal = _create(env, "rep", "deal", {"title": "Mine"})
    moved = rep.patch(f"/api/v1/deals/{deal}", json={"owner": users["rep2"].id})
    assert moved.status_code == 400 and _error_keys(moved) == {"owner"}
    assert rep.get(f"/api/v1/deals/{deal}").json()["owner"] == users["rep"].id


def test_a_manager_reassigns_within_the_team_only(env: Env) -> None:
    users = env.world.users
    manager = env.as_("manager")
    deal = _create(env, "rep", "deal", {"title": "Handover"})
    assert manager.patch(f"/api/v1/deals/{deal}", json={"owner": users["rep2"].id}).json()["owner"] == users["rep2"].id
    assert env.as_("rep").get(f"/api/v1/deals/{deal}").status_code == 404
    assert env.as_("rep2").get(f"/api/v1/deals/{deal}").status_code == 200
    away = manager.patch(f"/api/v1/deals/{deal}", json={"owner": users["rep_south"].id})
    assert away.status_code == 400 and _error_keys(away) == {"owner"}


def test_team_records_stay_in_the_writers_team(env: Env) -> None:
    rep = env.as_("rep")
    refused = rep.post("/api/v1/companies", json={"name": "Elsewhere", "team": env.world.south})
    assert refused.status_code == 400 and _error_keys(refused) == {"team"}
    admin = env.as_("admin")
    no_team = admin.post("/api/v1/companies", json={"name": "Nowhere"})
    assert no_team.status_code == 400 and _error_keys(no_team) == {"team"}
    made = admin.post("/api/v1/companies", json={"name": "South Co", "team": env.world.south})
    assert made.status_code == 201 and made.json()["team"] == env.world.south
    assert env.as_("rep_south").get(f"/api/v1/companies/{made.json()['id']}").status_code == 200


def test_references_to_records_the_user_cannot_see_are_refused(env: Env) -> None:
    south_company = _create(env, "rep_south", "company", {"name": "South Pier"})
    south_deal = _create(env, "rep_south", "deal", {"title": "South deal"})
    rep = env.as_("rep")
    contact = rep.post("/api/v1/contacts", json={"name": "X", "company": south_company})
    assert contact.status_code == 400 and _error_keys(contact) == {"company"}
    activity = rep.post("/api/v1/activities", json={"kind": "note", "occurred_at": WHEN, "deal": south_deal})
    assert activity.status_code == 400 and _error_keys(activity) == {"deal"}
    task = rep.post("/api/v1/tasks", json={"title": "Spy", "related_type": "deal", "related_id": south_deal})
    assert task.status_code == 400 and _error_keys(task) == {"related_id"}
    assert rep.get("/api/v1/contacts").json()["total"] == 0
    assert rep.get("/api/v1/activities").json()["total"] == 0
    assert rep.get("/api/v1/tasks").json()["total"] == 0


def test_a_rep_sees_tasks_assigned_to_them_and_may_complete_them(env: Env) -> None:
    users = env.world.users
    task = _create(env, "manager", "task", {"title": "Call back", "assignee": users["rep"].id})
    done = env.as_("rep").patch(f"/api/v1/tasks/{task}", json={"done_at": WHEN})
    assert done.status_code == 200
    assert dt.datetime.fromisoformat(done.json()["done_at"].replace("Z", "+00:00")) == dt.datetime.fromisoformat(WHEN)
    assert env.as_("manager").get("/api/v1/tasks", params={"done": "true"}).json()["total"] == 1
    refused = env.as_("rep").post("/api/v1/tasks", json={"title": "For south", "assignee": users["rep_south"].id})
    assert refused.status_code == 400 and _error_keys(refused) == {"assignee"}
