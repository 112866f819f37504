"""The records API: bad input of every kind, search, paging, and that REST writes are sync edits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.conftest import Env

GOOD = {
    "companies": {"name": "Acme Ltd"},
    "contacts": {"name": "Ada Lovelace"},
    "deals": {"title": "Fleet renewal"},
    "activities": {"kind": "visit", "occurred_at": "2026-11-20T10:00:00Z"},
    "tasks": {"title": "Send quote"},
}

#: (collection, body, the field the error must name)
BAD_BODIES = [
    ("companies", {"name": 42}, "name"),
    ("companies", {}, "name"),
    ("companies", {"name": "A", "colour": "red"}, "colour"),
    ("companies", {"name": "A", "email": "not-an-email"}, "email"),
    ("companies", {"name": "A", "latitude": 91}, "latitude"),
    ("companies", {"name": ""}, "name"),
    ("contacts", {"name": "A", "phones": "+44 20 7946 0000"}, "phones"),
    ("contacts", {"name": "A", "phones": ["call me"]}, "phones"),
    ("contacts", {"name": "A", "emails": ["ada@"]}, "emails"),
    ("contacts", {"name": "A", "company": "acme"}, "company"),
    ("contacts", {"name": "A", "id": "123"}, "id"),
    ("contacts", {"name": "A", "tags": [""]}, "tags"),
    ("deals", {"title": "A", "stage": "closed"}, "stage"),
    ("deals", {"title": "A", "amount": 100.5}, "amount"),
    ("deals", {"title": "A", "amount": "1,000"}, "amount"),
    ("deals", {"title": "A", "currency": "euro"}, "currency"),
    ("deals", {"title": "A", "discount": "120"}, "discount"),
    ("deals", {"title": "A", "expected_close": "next week"}, "expected_close"),
    ("deals", {"title": "A", "probability": 101}, "probability"),
    ("deals", {"title": "A", "owner": "me"}, "owner"),
    ("deals", {"title": "A", "owner": 999999}, "owner"),
    ("activities", {"kind": "lunch", "occurred_at": "2026-11-20T10:00:00Z"}, "kind"),
    ("activities", {"kind": "visit", "occurred_at": "2026-11-20T10:00:00"}, "occurred_at"),
    ("activities", {"kind": "visit"}, "occurred_at"),
    ("activities", {"kind": "visit", "occurred_at": "2026-11-20T10:00:00Z", "accuracy": -1}, "accuracy"),
    ("activities", {"kind": "visit", "occurred_at": "2026-11-20T10:00:00Z", "contact": "00000000-0000-4000-8000-000000000000"}, "contact"),
    ("tasks", {"title": "A", "due_at": 5}, "due_at"),
    ("tasks", {"title": "A", "due_at": "tomorrow"}, "due_at"),
    ("deals", {"title": "A", "probability": "50"}, "probability"),
    ("companies", {"name": "A", "latitude": "51.5"}, "latitude"),
    ("tasks", {"title": "A", "related_type": "deal"}, "related_id"),
    ("tasks", {"title": "A", "assignee": 0}, "assignee"),
]


def _keys(response: Any) -> set[str]:
    return {str(e.get("key")).split("[")[0] for e in response.json().get("extra", [])} | {
        part for e in response.json().get("extra", []) for part in str(e.get("message", "")).replace("`", " ").split()
    }


def _totals(env: Env) -> dict[str, int]:
    admin = env.as_("admin")
    return {c: admin.get(f"/api/v1/{c}").json()["total"] for c in GOOD}


@pytest.mark.parametrize(("collection", "body", "field"), BAD_BODIES)
def test_bad_create_is_a_400_naming_the_field_and_stores_nothing(env: Env, collection: str, body: dict, field: str) -> None:
    before = _totals(env)
    response = env.as_("rep").post(f"/api/v1/{collection}", json=body)
    assert response.status_code == 400, response.text
    assert field in _keys(response), response.text
    assert _totals(env) == before


@pytest.mark.parametrize(("collection", "body", "field"), [b for b in BAD_BODIES if b[2] not in {"name", "occurred_at", "id"} or b[1].get("name") == ""])
def test_bad_update_is_a_400_naming_the_field_and_changes_nothing(env: Env, collection: str, body: dict, field: str) -> None:
    rep = env.as_("rep")
    created = rep.post(f"/api/v1/{collection}", json=GOOD[collection]).json()
    patch = {k: v for k, v in body.items() if k not in GOOD[collection] or body[k] != GOOD[collection].get(k)}
    response = rep.patch(f"/api/v1/{collection}/{created['id']}", json=patch)
    assert response.status_code == 400, response.text
    assert field in _keys(response), response.text
    after = rep.get(f"/api/v1/{collection}/{created['id']}").json()
    assert after == created


@pytest.mark.parametrize("raw", ["{", "[]", '"text"', "null", ""])
def test_malformed_json_is_a_400(env: Env, raw: str) -> None:
    response = env.as_("rep").post("/api/v1/contacts", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text


def test_empty_patch_and_emptied_owner_are_refused(env: Env) -> None:
    rep = env.as_("rep")
    deal = rep.post("/api/v1/deals", json=GOOD["deals"]).json()
    empty = rep.patch(f"/api/v1/deals/{deal['id']}", json={})
    assert empty.status_code == 400 and "body" in _keys(empty)
    no_owner = rep.patch(f"/api/v1/deals/{deal['id']}", json={"owner": None})
    assert no_owner.status_code == 400 and "owner" in _keys(no_owner)


@pytest.mark.parametrize("path", ["/api/v1/contacts/not-a-uuid", "/api/v1/contacts/123", "/api/v1/contacts/00000000-0000-4000-8000-000000000000"])
def test_bad_or_unknown_ids_are_a_4xx(env: Env, path: str) -> None:
    rep = env.as_("rep")
    for method in ("GET", "PATCH", "DELETE"):
        response = rep.request(method, path, json={"title": "x"} if method == "PATCH" else None)
        assert 400 <= response.status_code < 500, (method, response.status_code)


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"offset": -1}, {"stage": "closed"}, {"owner": "me"}, {"company": "acme"}, {"close_before": "soon"}],
)
def test_bad_list_parameters_are_a_400_naming_them(env: Env, query: dict) -> None:
    response = env.as_("rep").get("/api/v1/deals", params=query)
    assert response.status_code == 400, response.text
    assert next(iter(query)) in response.text


def test_duplicate_client_id_is_refused_and_keeps_the_first(env: Env) -> None:
    rep = env.as_("rep")
    first = rep.post("/api/v1/contacts", json={"name": "First", "id": "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e"})
    assert first.status_code == 201 and first.json()["id"] == "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e"
    again = rep.post("/api/v1/contacts", json={"name": "Second", "id": "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e"})
    assert again.status_code == 400 and "id" in _keys(again)
    assert rep.get("/api/v1/contacts/0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e").json()["name"] == "First"


def _contact(env: Env, who: str, **body: Any) -> dict:
    response = env.as_(who).post("/api/v1/contacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_search_finds_contacts_by_name_company_email_and_phone(env: Env) -> None:
    rep = env.as_("rep")
    acme = rep.post("/api/v1/companies", json={"name": "Acme Widgets"}).json()
    ada = _contact(env, "rep", name="Ada Lovelace", company=acme["id"], emails=["ada@analytical.test"], phones=["+44 20 7946 0001"])
    _contact(env, "rep", name="Charles Babbage", emails=["charles@engines.test"], phones=["+44 161 496 0002"])
    _contact(env, "rep_south", name="Ada South", emails=["ada@south.test"])

    def found(q: str) -> set[str]:
        return {c["name"] for c in rep.get("/api/v1/contacts", params={"q": q}).json()["items"]}

    assert found("ada") == {"Ada Lovelace"}  # Ada South is another team's
    assert found("lovel") == {"Ada Lovelace"}  # prefix
    assert found("acme") == {"Ada Lovelace"}  # company name
    assert found("analytical") == {"Ada Lovelace"}  # e-mail
    assert found("7946") == {"Ada Lovelace"}  # a group of the phone number
    assert found("442079460001") == {"Ada Lovelace"}  # the number typed without spaces
    assert found("babbage charles") == {"Charles Babbage"}  # every word, any order
    assert found("ada babbage") == set()
    assert found("zebra") == set()
    assert found('"; DROP TABLE contact; --') == set()
    # Renaming the company moves the contact's search text with it.
    rep.patch(f"/api/v1/companies/{acme['id']}", json={"name": "Zenith Works"})
    assert found("zenith") == {"Ada Lovelace"} and found("acme") == set()
    # A deleted contact is no longer found.
    rep.delete(f"/api/v1/contacts/{ada['id']}")
    assert found("ada") == set()


def test_search_words_joined_by_underscores_or_marks_are_separate_words(env: Env) -> None:
    # SQLite's index splits "north_side" in two, as the query's words are split: each query
    # word is one token of the index, matched as a prefix wherever it stands.
    _contact(env, "rep", name="Depot north_side", emails=["o'brien_ops@depot.test"])
    rep = env.as_("rep")

    def found(q: str) -> set[str]:
        response = rep.get("/api/v1/contacts", params={"q": q})
        assert response.status_code == 200, response.text
        return {c["name"] for c in response.json()["items"]}

    assert found("north_side") == {"Depot north_side"}
    assert found("side north") == {"Depot north_side"}
    assert found("o'brien_ops") == {"Depot north_side"}
    assert found("_") == {"Depot north_side"}  # no words at all: the whole list
    assert found("brien depot.test") == {"Depot north_side"}


def test_search_finds_companies_deals_and_tasks(env: Env) -> None:
    rep = env.as_("rep")
    company = rep.post("/api/v1/companies", json={"name": "Brighton Bakery", "email": "hello@bakery.test"}).json()
    rep.post("/api/v1/deals", json={"title": "Oven lease", "company": company["id"]})
    rep.post("/api/v1/tasks", json={"title": "Chase the invoice"})
    assert [c["name"] for c in rep.get("/api/v1/companies", params={"q": "bakery"}).json()["items"]] == ["Brighton Bakery"]
    assert [d["title"] for d in rep.get("/api/v1/deals", params={"q": "brighton"}).json()["items"]] == ["Oven lease"]
    assert [t["title"] for t in rep.get("/api/v1/tasks", params={"q": "invoice"}).json()["items"]] == ["Chase the invoice"]


def test_managers_search_their_teams_records(env: Env) -> None:
    # A manager's list of deals, activities and tasks joins the owners (once an ambiguous "id": a 500).
    env.as_("rep").post("/api/v1/deals", json={"title": "Harbour crane"})
    env.as_("rep").post("/api/v1/tasks", json={"title": "Harbour survey"})
    env.as_("rep").post("/api/v1/activities", json={"kind": "call", "occurred_at": "2026-11-20T10:00:00Z", "notes": "Harbour call"})
    env.as_("rep_south").post("/api/v1/deals", json={"title": "Harbour south"})
    manager = env.as_("manager")
    assert [d["title"] for d in manager.get("/api/v1/deals", params={"q": "harbour"}).json()["items"]] == ["Harbour crane"]
    assert [t["title"] for t in manager.get("/api/v1/tasks", params={"q": "harbour"}).json()["items"]] == ["Harbour survey"]
    assert manager.get("/api/v1/activities", params={"q": "harbour"}).status_code == 200
    assert [d["title"] for d in env.as_("manager_south").get("/api/v1/deals", params={"q": "harbour"}).json()["items"]] == ["Harbour south"]
    # A page past the end still counts the whole list.
    page = manager.get("/api/v1/deals", params={"offset": 5}).json()
    assert page == {"items": [], "total": 1, "limit": 50, "offset": 5, "next_offset": None}


def test_paging_walks_every_record_once_in_order(env: Env) -> None:
    names = [f"Contact {i:02d}" for i in range(11)]
    for name in reversed(names):
        _contact(env, "rep", name=name)
    rep = env.as_("rep")
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = rep.get("/api/v1/contacts", params={"limit": 4, "offset": offset}).json()
        assert page["total"] == 11 and page["limit"] == 4 and page["offset"] == offset
        assert len(page["items"]) <= 4
        seen += [c["name"] for c in page["items"]]
        offset = page["next_offset"]
        pages += 1
    assert seen == names and pages == 3


def test_filters_narrow_lists(env: Env) -> None:
    rep = env.as_("rep")
    company = rep.post("/api/v1/companies", json={"name": "Filtered"}).json()
    _contact(env, "rep", name="In", company=company["id"])
    _contact(env, "rep", name="Out")
    assert [c["name"] for c in rep.get("/api/v1/contacts", params={"company": company["id"]}).json()["items"]] == ["In"]
    rep.post("/api/v1/deals", json={"title": "Won one", "stage": "won", "expected_close": "2026-01-01"})
    rep.post("/api/v1/deals", json={"title": "Lead one", "expected_close": "2027-01-01"})
    assert [d["title"] for d in rep.get("/api/v1/deals", params={"stage": "won"}).json()["items"]] == ["Won one"]
    assert [d["title"] for d in rep.get("/api/v1/deals", params={"close_before": "2026-06-01"}).json()["items"]] == ["Won one"]
    manager = env.as_("manager")
    assert manager.get("/api/v1/deals", params={"owner": env.world.users["rep"].id}).json()["total"] == 2
    assert manager.get("/api/v1/deals", params={"owner": env.world.users["rep2"].id}).json()["total"] == 0


def test_rest_writes_are_edits_of_the_server_replica(env: Env) -> None:
    """The sync state beside the columns: each REST write is one dot of replica "s"."""
    rep = env.as_("rep")
    deal = rep.post("/api/v1/deals", json={"title": "Sync me", "amount": "1250.00"}).json()
    rep.patch(f"/api/v1/deals/{deal['id']}", json={"stage": "proposal"})

    from server.domain.crm.tables import Deal

    async def state() -> dict:
        row = await Deal.select(Deal.state, Deal.stage, Deal.amount).where(Deal.id == deal["id"]).first()
        return {"state": json.loads(row["state"]), "stage": row["stage"], "amount": row["amount"]}

    got = env.call(state)
    assert got["state"]["vv"] == {"s": 2}
    assert got["state"]["fields"]["stage"] == [[got["state"]["fields"]["stage"][0][0], "s", 2, got["state"]["fields"]["stage"][0][3]]]
    assert got["state"]["fields"]["stage"][0][0] == "proposal" == got["stage"]
    assert got["state"]["fields"]["title"][0][:3] == ["Sync me", "s", 1]
    assert float(got["amount"]) == 1250.0
