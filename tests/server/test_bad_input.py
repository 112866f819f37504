"""Bad input of every kind found by fuzzing the API is a 400 (or one rejected record) naming the
problem, never a 500, and loses nothing already stored."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sync
from server.domain.crm.services import KINDS
from tests.server.conftest import Api, Env
from tests.server.test_sync_api import Phone, new_id

JSON = {"content-type": "application/json"}
TOO_BIG = 2**63  # one past SQLite's and PostgreSQL's BIGINT


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def deeply_nested_json(depth: int = 1000) -> bytes:
    return b"[" * depth + b"]" * depth


def _post(api: Api, url: str, body: bytes, method: str = "POST") -> Any:
    return api.request(method, url, content=body, headers=JSON)


def _keys(response: Any) -> set[str]:
    return {e["key"] for e in response.json().get("extra", []) if isinstance(e, dict)}


# -- bodies that are not JSON this server reads ----------------------------------------


def test_bodies_that_are_not_utf8_are_a_400_on_every_endpoint_that_takes_one(env: Env) -> None:
    rep, admin = env.as_("rep"), env.as_("admin")
    deal = rep.post("/api/v1/deals", json={"title": "Kept"}).json()
    for api, method, url, field in (
        (rep, "POST", "/api/v1/sync/push", "replica"),
        (rep, "POST", "/api/v1/sync/devices", "name"),
        (rep, "POST", "/api/v1/companies", "name"),
        (rep, "PATCH", f"/api/v1/deals/{deal['id']}", "title"),
        (rep, "POST", "/api/v1/push/subscriptions", "endpoint"),
        (admin, "PUT", f"/api/v1/rules/{env.world.north}", "max_discount"),
        (env.anonymous(), "POST", "/api/v1/auth/login", "email"),
    ):
        # A known field's string: an unknown field would be refused before its value is read.
        response = _post(api, url, b'{"' + field.encode() + b'": "\xff"}', method)
        assert response.status_code == 400, (method, url, response.status_code, response.text)
        assert "not UTF-8" in response.text, (url, response.text)
    assert rep.get(f"/api/v1/deals/{deal['id']}").json()["title"] == "Kept"


def test_bodies_nested_past_the_recursion_limit_are_a_400(env: Env) -> None:
    rep = env.as_("rep")
    deal = rep.post("/api/v1/deals", json={"title": "Kept"}).json()
    deep = deeply_nested_json()
    for api, method, url in (
        (rep, "POST", "/api/v1/companies"),
        (rep, "PATCH", f"/api/v1/deals/{deal['id']}"),
        (env.anonymous(), "POST", "/api/v1/auth/login"),
    ):
        response = _post(api, url, deep, method)
        assert response.status_code == 400, (method, url, response.status_code, response.text)
        assert "nested too deeply" in response.text, (url, response.text)
    # In a pushed value, where nothing types it: the whole body is unreadable.
    phone = Phone(rep)
    record = msgspec.json.encode(phone.edit("company", new_id(), name="x", team=env.world.north)).replace(b'"x"', deep)
    response = _post(rep, "/api/v1/sync/push", b'{"replica": "' + phone.replica.encode() + b'", "records": [' + record + b"]}")
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.text
    assert rep.get(f"/api/v1/deals/{deal['id']}").json()["title"] == "Kept"


# -- numbers beyond what the database holds ----------------------------------------------


def test_ids_beyond_a_bigint_are_a_400_naming_the_field(env: Env) -> None:
    rep, admin = env.as_("rep"), env.as_("admin")
    for url, key in (
        (f"/api/v1/tasks?assignee={TOO_BIG}", "assignee"),
        (f"/api/v1/tasks?owner={TOO_BIG}", "owner"),
        (f"/api/v1/deals?owner={TOO_BIG}", "owner"),
        (f"/api/v1/activities?owner={TOO_BIG}", "owner"),
    ):
        response = rep.get(url)
        assert response.status_code == 400, (url, response.text)
        assert key in response.text
    for api, url, body, key in (
        (rep, "/api/v1/deals", {"title": "x", "owner": TOO_BIG}, "owner"),
        (rep, "/api/v1/tasks", {"title": "x", "assignee": TOO_BIG}, "assignee"),
        (admin, "/api/v1/companies", {"name": "x", "team": TOO_BIG}, "team"),
    ):
        response = api.post(url, json=body)
        assert response.status_code == 400, (url, response.text)
        assert key in _keys(response), response.text
    response = admin.request("PUT", f"/api/v1/rules/{TOO_BIG}", json={"max_discount": "10", "won_amount_limit": "1000"})
    assert response.status_code in (400, 404), response.text


def test_a_pull_cursor_beyond_a_bigint_or_with_other_digits_is_a_400(env: Env) -> None:
    rep = env.as_("rep")
    for cursor in (f"v1-{TOO_BIG}-0", f"v1-0-{TOO_BIG}", "v1-\u00b2-0", "v1-0-\u00b2", "v1-\u0661-0"):
        response = rep.get("/api/v1/sync/pull", params={"after": cursor})
        assert response.status_code == 400, (cursor, response.text)


def test_a_pushed_id_beyond_a_bigint_rejects_that_record_alone(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    rep = env.world.users["rep"].id
    bad = phone.edit("task", new_id(), title="Call back", owner=rep, assignee=TOO_BIG)
    good = phone.edit("company", new_id(), name="Stored anyway", team=env.world.north)
    results = phone.push(bad, good)
    assert [r["status"] for r in results] == ["rejected", "ok"]
    assert [e["field"] for e in results[0]["errors"]] == ["assignee"]
    assert env.as_("rep").get(f"/api/v1/companies/{good.id}").status_code == 200


# -- date-times the database cannot hold ---------------------------------------------------

EARLY = "0001-01-01T00:00:00+01:00"  # the year 0 in UTC
LATE = "9999-12-31T23:59:59-01:00"  # the year 10000 in UTC


def test_date_time_filters_out_of_range_or_not_date_times_with_offsets_are_a_400_naming_them(env: Env) -> None:
    rep = env.as_("rep")
    for url, key in (
        ("/api/v1/activities", "after"),
        ("/api/v1/activities", "before"),
        ("/api/v1/tasks", "due_before"),
    ):
        # Out of range in UTC; no offset (read as local time); an epoch number, which the
        # query parser took, and which at exactly the year 10000 it failed on; not a date.
        for value in (EARLY, LATE, "0001-01-01T00:00:00", "2026-11-24T09:00:00", "253402300800", "0.5", "soon"):
            response = rep.get(url, params={key: value})
            assert response.status_code == 400, (key, value, response.text)
            assert _keys(response) == {key}, response.text
        for value in ("9999-12-31T22:00:00-01:00", "2026-11-24T09:00:00z", "2026-11-24 09:00:00+01:00"):
            assert rep.get(url, params={key: value}).status_code == 200, (key, value)


def test_date_times_out_of_range_in_utc_are_refused_by_rest_naming_the_field(env: Env) -> None:
    rep = env.as_("rep")
    for field in ("due_at", "remind_at", "done_at"):
        response = rep.post("/api/v1/tasks", json={"title": "Too late", field: LATE})
        assert response.status_code == 400, (field, response.text)
        assert _keys(response) == {field}, response.text
    task = rep.post("/api/v1/tasks", json={"title": "Fine", "due_at": "2026-12-01T09:00:00+01:00"}).json()
    response = rep.patch(f"/api/v1/tasks/{task['id']}", json={"due_at": EARLY})
    assert response.status_code == 400 and _keys(response) == {"due_at"}, response.text
    assert rep.get(f"/api/v1/tasks/{task['id']}").json()["due_at"] == "2026-12-01T09:00:00+01:00"
    response = rep.post("/api/v1/activities", json={"kind": "visit", "occurred_at": LATE})
    assert response.status_code == 400 and _keys(response) == {"occurred_at"}, response.text


def test_a_pushed_date_time_out_of_range_rejects_that_record_alone(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    rep = env.world.users["rep"].id
    bad = phone.edit("task", new_id(), title="Someday", owner=rep, assignee=rep, due_at=LATE)
    visit = phone.edit("activity", new_id(), kind="visit", owner=rep, occurred_at=EARLY)
    good = phone.edit("company", new_id(), name="Stored anyway", team=env.world.north)
    results = phone.push(bad, visit, good)
    assert [r["status"] for r in results] == ["rejected", "rejected", "ok"]
    assert [e["field"] for e in results[0]["errors"]] == ["due_at"]
    assert [e["field"] for e in results[1]["errors"]] == ["occurred_at"]
    assert "UTC" in results[0]["errors"][0]["message"]
    assert env.as_("rep").get(f"/api/v1/companies/{good.id}").status_code == 200
    # The phone mends it, and the same record goes through.
    mended = phone.edit("task", bad.id, due_at="9999-12-31T22:00:00-01:00")
    assert phone.push(mended)[0]["status"] == "ok"


def test_pushed_date_times_in_any_form_rfc_3339_allows_are_stored(env: Env) -> None:
    # Valid by the type (msgspec's RFC 3339 parser), so the queryable column must read them the
    # same way: a lower-case "z" or "t", a space for "T", nine digits of fraction.
    phone = Phone(env.as_("rep"))
    rep = env.world.users["rep"].id
    forms = ["2026-11-24T09:00:00z", "2026-11-24t09:00:00Z", "2026-11-24 09:00:00+01:00", "2026-11-24T09:00:00.123456789Z"]
    tasks = [phone.edit("task", new_id(), title=form, owner=rep, assignee=rep, due_at=form, remind_at=form) for form in forms]
    visit = phone.edit("activity", new_id(), kind="visit", owner=rep, occurred_at=forms[0])
    good = phone.edit("company", new_id(), name="Stored too", team=env.world.north)
    assert {r["status"] for r in phone.push(*tasks, visit, good)} == {"ok"}
    due = env.as_("rep").get("/api/v1/tasks", params={"due_before": "2026-11-24T09:00:01Z"}).json()["items"]
    assert {t["title"] for t in due} == set(forms)


# -- free-form values nested too deep --------------------------------------------------------


def _deal_and_ask(env: Env, phone: Phone, **fields: Any) -> tuple[Any, Any]:
    rep = env.world.users["rep"].id
    deal = phone.edit("deal", new_id(), title="Deep", owner=rep, amount="1000")
    ask = phone.edit("approval", new_id(), deal=deal.id, owner=rep, **fields)
    return deal, ask


@pytest.mark.parametrize("depth", [33, 320, 900])
def test_an_approval_snapshot_nested_too_deep_is_rejected_and_blocks_nothing(env: Env, depth: int) -> None:
    phone = Phone(env.as_("rep"))
    deal, ask = _deal_and_ask(env, phone, snapshot={"stage": nested(depth)})
    good = phone.edit("company", new_id(), name="Stored anyway", team=env.world.north)
    results = phone.push(deal, ask, good)
    assert [r["status"] for r in results] == ["ok", "rejected", "ok"]
    assert [e["field"] for e in results[1]["errors"]] == ["snapshot"]
    assert "deep" in results[1]["errors"][0]["message"]
    # Pushed again (a retry after a lost answer): the same answer, no 500.
    assert [r["status"] for r in phone.push(ask, good)] == ["rejected", "ok"]


def test_free_form_values_up_to_the_limit_are_kept(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    deal, ask = _deal_and_ask(env, phone, snapshot={"stage": nested(31)})
    assert [r["status"] for r in phone.push(deal, ask)] == ["ok", "ok"]
    assert phone.push(ask)[0]["status"] == "ok"  # the same state again: no change, no error
    stored = msgspec.json.decode(msgspec.json.encode(phone.states[ask.id].fields["snapshot"][0][0]))
    assert stored == {"stage": nested(31)}



def test_a_new_record_pushed_without_its_team_or_people_is_rejected_naming_the_field(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    rep = env.world.users["rep"].id
    results = phone.push(
        phone.edit("contact", new_id(), name="Nobody's"),
        phone.edit("deal", new_id(), title="Nobody's"),
        phone.edit("task", new_id(), title="Nobody's", owner=rep),
        phone.edit("contact", new_id(), name="Someone's", team=env.world.north),
    )
    assert [r["status"] for r in results] == ["rejected", "rejected", "rejected", "ok"]
    assert [[(e["field"], e["message"]) for e in r["errors"]] for r in results[:3]] == [
        [("team", "a team is required")],
        [("owner", "owner is required")],
        [("assignee", "assignee is required")],
    ]


# -- anything at all -------------------------------------------------------------------------

#: Text a field may meet: date-times at and past the limits, in every form, and odd strings.
_AWKWARD_TEXT = [
    "", " ", "0", "-1", "1e309", "NaN", "null", "\u0000", "\u00b2", "\U0001f600" * 3, "x" * 20001,
    "2026-11-24T09:00:00Z", "2026-11-24t09:00:00z", "2026-11-24 09:00:00+01:00", "2026-11-24T09:00:00",
    "2026-11-24T09:00:00.123456789Z", "2026-11-24T24:00:00Z", "2026-02-30T09:00:00Z", "2026-11-24",
    EARLY, LATE, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z",
    "00000000-0000-0000-0000-000000000000", str(uuid.UUID(int=2**128 - 1)), "lead", "won", "visit", "EUR", "10.50",
]
#: Every awkward value at once: the texts above, numbers at every integer limit, values nested
#: just past the limit and far past it.
_AWKWARD = [*_AWKWARD_TEXT, None, True, 1.5, -1, 0, 1, 2**31 - 1, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64, -(2**63) - 1,
            [], {}, ["x"], {"a": nested(33)}, nested(400)]
_INTS = st.one_of(st.integers(-(2**64), 2**64), st.sampled_from([0, 1, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63]))
_SCALARS = st.one_of(
    st.none(), st.booleans(), _INTS, st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(_AWKWARD_TEXT), st.text(max_size=30),
)
_VALUES = st.one_of(
    st.sampled_from(_AWKWARD),
    st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12),
)


def _fields(kind_name: str) -> st.SearchStrategy[dict[str, Any]]:
    names = [*KINDS[kind_name].field_names, "colour"]
    return st.dictionaries(st.sampled_from(names), _VALUES, min_size=1, max_size=6)


_KIND_NAMES = ["company", "contact", "deal", "activity", "task", "approval"]
#: Derandomized: CI runs the same examples every time (a new find is a bug to fix in a session,
#: not a red build on an unrelated change); turn derandomize off locally to explore further.
_ANYTHING_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_ANYTHING_SETTINGS
@given(data=st.data())
def test_a_push_of_any_values_is_answered_record_by_record_and_stores_what_it_accepts(env: Env, data: st.DataObject) -> None:
    api = env.as_("rep")
    phone = Phone(api)
    records = []
    for kind_name in data.draw(st.lists(st.sampled_from(_KIND_NAMES), min_size=1, max_size=4)):
        records.append(phone.edit(kind_name, new_id(), **data.draw(_fields(kind_name))))
    good = phone.edit("company", new_id(), name="Stored whatever else comes", team=env.world.north)
    results = phone.push(*records, good)  # asserts a 200
    assert results[-1]["status"] == "ok"
    for record, result in zip(records, results):
        assert result["status"] in ("ok", "rejected"), result
        if result["status"] == "rejected":
            assert result["errors"] and all(e["field"] and e["message"] for e in result["errors"]), result
        else:
            assert env.call(lambda: _stored(record.type, record.id)), result


async def _stored(kind_name: str, record_id: str) -> bool:
    table = KINDS[kind_name].table
    return await table.exists().where(table.id == record_id)


_REST = {"company": "companies", "contact": "contacts", "deal": "deals", "activity": "activities", "task": "tasks"}
_MINIMAL = {
    "company": {"name": "x"},
    "contact": {"name": "x"},
    "deal": {"title": "x"},
    "activity": {"kind": "note", "occurred_at": "2026-11-24T09:00:00Z"},
    "task": {"title": "x"},
}


def _base(env: Env, kind_name: str, deal_id: str) -> dict[str, Any]:
    """Valid fields of a new record of each kind, written by the rep."""
    rep, north = env.world.users["rep"].id, env.world.north
    return {
        "company": {"name": "x", "team": north},
        "contact": {"name": "x", "team": north},
        "deal": {"title": "x", "owner": rep},
        "activity": {"kind": "note", "occurred_at": "2026-11-24T09:00:00Z", "owner": rep},
        "task": {"title": "x", "owner": rep, "assignee": rep},
        "approval": {"deal": deal_id, "owner": rep},
    }[kind_name]


def test_every_field_of_every_record_type_given_every_awkward_value_is_answered_without_a_500(env: Env) -> None:
    """The sweep the fuzzing did by hand: a push of one record per (type, field, awkward value),
    each valid but for that one value. Each is ok or rejected naming its field, and the push
    answers all of them."""
    phone = Phone(env.as_("rep"))
    deal = phone.edit("deal", new_id(), title="For approvals", owner=env.world.users["rep"].id)
    assert phone.push(deal)[0]["status"] == "ok"
    cases = [
        (kind_name, name, value)
        for kind_name in _KIND_NAMES
        for name in (*KINDS[kind_name].field_names, "colour")
        for value in _AWKWARD
    ]
    records = [phone.edit(k, new_id(), **{**_base(env, k, deal.id), name: value}) for k, name, value in cases]
    for start in range(0, len(records), 500):
        results = phone.push(*records[start : start + 500])  # asserts a 200
        for (kind_name, name, value), result in zip(cases[start : start + 500], results):
            assert result["status"] in ("ok", "rejected"), (kind_name, name, value, result)
            if result["status"] == "rejected":
                assert name in {e["field"] for e in result["errors"]}, (kind_name, name, value, result)


def test_every_rest_field_given_every_awkward_value_is_a_201_or_a_400_naming_it(env: Env) -> None:
    api = env.as_("rep")
    for kind_name, plural in _REST.items():
        url = f"/api/v1/{plural}"
        existing = api.post(url, json=_MINIMAL[kind_name]).json()["id"]
        for name in (*KINDS[kind_name].field_names, "colour"):
            for value in _AWKWARD:
                if value is None or isinstance(value, str) and len(value) > 1000:
                    continue  # None means "unset" to a PATCH; the long text only costs time here
                created = api.post(url, json={**_MINIMAL[kind_name], name: value})
                assert created.status_code in (201, 400), (kind_name, name, value, created.text)
                updated = api.patch(f"{url}/{existing}", json={name: value})
                assert updated.status_code in (200, 400), (kind_name, name, value, updated.text)
                for answer in (created, updated):
                    if answer.status_code == 400:
                        # Named as the key, or (an unknown field, refused by Litestar's own
                        # decoding of `data` before ours) in the message.
                        roots = {re.split(r"[.\[]", key)[0] for key in _keys(answer)}
                        assert name in roots or f"`{name}`" in answer.text, (kind_name, name, value, answer.text)


def test_the_nul_character_anywhere_else_is_a_400_on_both_databases(env: Env) -> None:
    rep = env.as_("rep")
    assert rep.post("/api/v1/sync/devices", json={"name": "Pixel\u0000"}).status_code == 400
    assert rep.post("/api/v1/sync/devices", json={"name": "Pixel\n8"}).status_code == 400
    assert rep.post("/api/v1/sync/devices", json={"name": "Pixel 8 \u00e9\U0001f600"}).status_code == 201
    signed_out = env.anonymous().post("/api/v1/auth/login", json={"email": "rep\u0000@test.example", "password": "x"})
    assert signed_out.status_code in (400, 401), signed_out.text
    for url, params in (
        ("/api/v1/companies", {"q": "Acme\u0000"}),
        ("/api/v1/sync/pull", {"after": "v1-0-0\u0000"}),
    ):
        response = rep.get(url, params=params)
        assert response.status_code in (200, 400), (url, response.text)
    response = rep.request("DELETE", "/api/v1/push/subscriptions", params={"replica": "a\u0000b"})
    assert response.status_code == 400, response.text


def test_a_pushed_dot_counter_past_a_32_bit_integer_is_kept(env: Env) -> None:
    # A deal's audit trail keeps each change's counter: a BIGINT now on PostgreSQL too.
    phone = Phone(env.as_("rep"))
    rep, big = env.world.users["rep"].id, 2**31
    deal = sync.Record(
        type="deal",
        id=new_id(),
        vv={phone.replica: big},
        fields={"title": [("Counted far", phone.replica, big, 1)], "owner": [(rep, phone.replica, big, 1)]},
    )
    good = phone.edit("company", new_id(), name="Stored too", team=env.world.north)
    assert [r["status"] for r in phone.push(deal, good)] == ["ok", "ok"]
    history = env.as_("rep").get(f"/api/v1/deals/{deal.id}/history").json()["items"]
    assert history, "the deal's creation is in its trail"


@pytest.mark.parametrize(
    ("kind_name", "fields", "named"),
    [
        # An invalid related_type beside a related_id: the rule pairing them once looked the
        # record up under that type.
        ("task", {"title": "t", "related_type": "", "related_id": "00000000-0000-0000-0000-000000000000"}, "related_type"),
        # An invalid owner beside fields the approval rules audit: they once looked the owner's team up.
        ("deal", {"title": "t", "owner": "me", "stage": "won", "discount": "50"}, "owner"),
        ("deal", {"title": "t", "owner": 2**40, "amount": "1000000"}, "owner"),
        ("approval", {"deal": "00000000-0000-0000-0000-000000000000", "owner": "me", "status": "approved"}, "owner"),
    ],
)
def test_an_invalid_value_beside_a_ruled_field_is_named_and_queried_with_by_no_rule(
    env: Env, kind_name: str, fields: dict[str, Any], named: str
) -> None:
    phone = Phone(env.as_("rep"))
    record = phone.edit(kind_name, new_id(), **fields)
    good = phone.edit("company", new_id(), name="Stored too", team=env.world.north)
    results = phone.push(record, good)
    assert [r["status"] for r in results] == ["rejected", "ok"]
    assert named in {e["field"] for e in results[0]["errors"]}, results[0]
