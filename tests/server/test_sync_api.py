"""The sync endpoints against shared/SYNC.md: devices, push, pull, and their invariants."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest

import sync
from tests.server.conftest import Api, Env

T0 = 1_763_800_000_000


class Phone:
    """A phone in a test: its own replica and local states, edited with the pure sync core."""

    def __init__(self, api: Api, name: str = "test phone") -> None:
        self.api = api
        response = api.post("/api/v1/sync/devices", json={"name": name})
        assert response.status_code == 201, response.text
        self.replica = response.json()["replica"]
        self.states: dict[str, sync.Record] = {}
        self.clock = T0
        self.cursor: str | None = None

    def edit(self, type_: str, record_id: str, **changes: Any) -> sync.Record:
        self.clock += 1000
        state = self.states.get(record_id) or sync.new(type_, record_id)
        self.states[record_id] = sync.edit(state, self.replica, changes, self.clock)
        return self.states[record_id]

    def delete(self, record_id: str) -> sync.Record:
        self.clock += 1000
        self.states[record_id] = sync.delete(self.states[record_id], self.replica, self.clock)
        return self.states[record_id]

    def push(self, *records: sync.Record, replica: str | None = None) -> list[dict]:
        body = {"replica": replica or self.replica, "records": [msgspec.to_builtins(r) for r in records]}
        response = self.api.post("/api/v1/sync/push", json=body)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        for result in results:
            if result["status"] == "ok":
                self.states[result["id"]] = msgspec.convert(result["record"], sync.Record)
        return results

    def pull(self, limit: int | None = None) -> tuple[list[sync.Record], list[dict]]:
        """Pull to the end; every record and gone entry, in the order they came."""
        records: list[sync.Record] = []
        gone: list[dict] = []
        while True:
            params: dict[str, Any] = {}
            if self.cursor:
                params["after"] = self.cursor
            if limit:
                params["limit"] = limit
            page = self.api.get("/api/v1/sync/pull", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for raw in body["records"]:
                record = msgspec.convert(raw, sync.Record)
                local = self.states.get(record.id)
                self.states[record.id] = sync.merge(local, record) if local else record
                records.append(record)
            gone += body["gone"]
            self.cursor = body["cursor"]
            if not body["more"]:
                return records, gone


def new_id() -> str:
    return str(uuid.uuid4())


def contact(phone: Phone, env: Env, **fields: Any) -> sync.Record:
    team = env.world.users[_who(env, phone)].team
    return phone.edit("contact", new_id(), name="Ada Lovelace", team=team, **fields)


def _who(env: Env, phone: Phone) -> str:
    return next(k for k, a in env.apis.items() if a is phone.api)


# -- devices ---------------------------------------------------------------------------


def test_device_registration_issues_fresh_replica_ids(env: Env) -> None:
    rep = env.as_("rep")
    ids = {rep.post("/api/v1/sync/devices", json={"name": "Pixel 8"}).json()["replica"] for _ in range(5)}
    ids.add(rep.post("/api/v1/sync/devices").json()["replica"])  # the name is optional
    assert len(ids) == 6 and "s" not in ids
    assert env.anonymous().post("/api/v1/sync/devices", json={}).status_code == 401
    for bad in ({"name": 5}, {"name": "x" * 101}, {"nom": "Pixel"}):
        response = rep.post("/api/v1/sync/devices", json=bad)
        assert response.status_code == 400, bad


# -- push -------------------------------------------------------------------------------


def test_pushed_record_is_stored_visible_to_rest_and_answered_merged(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    state = contact(phone, env, emails=["ada@example.test"])
    [result] = phone.push(state)
    assert result["status"] == "ok" and result["type"] == "contact" and result["id"] == state.id
    assert result["record"] == msgspec.json.decode(msgspec.json.encode(state))
    shown = env.as_("rep").get(f"/api/v1/contacts/{state.id}").json()
    assert shown["name"] == "Ada Lovelace" and shown["emails"] == ["ada@example.test"]
    assert env.as_("rep").get("/api/v1/contacts", params={"q": "lovelace"}).json()["total"] == 1


def test_a_push_marks_when_its_device_was_last_seen(env: Env) -> None:
    from server.domain.accounts.tables import Device

    phone = Phone(env.as_("rep"))
    seen = lambda: env.call(lambda: Device.select(Device.last_seen_at).where(Device.replica == phone.replica).first())["last_seen_at"]  # noqa: E731
    assert seen() is None
    before = dt.datetime.now(dt.timezone.utc)
    phone.push(contact(phone, env))
    first = seen()
    assert first is not None and first >= before - dt.timedelta(seconds=1)
    phone.push(contact(phone, env))
    assert seen() >= first


def test_push_repeated_after_a_lost_answer_changes_nothing(env: Env) -> None:
    """Invariant 3: the server committed, the phone never heard, and pushes again."""
    phone = Phone(env.as_("rep"))
    state = contact(phone, env)
    first = phone.push(state)
    phone.pull()
    again = phone.push(state)
    assert again == first
    records, _ = phone.pull()
    assert records == []  # nothing changed, so nothing new to pull


def test_older_state_pushed_again_undoes_nothing(env: Env) -> None:
    """Invariant 6: neither a later edit nor a delete is undone by an old state."""
    phone = Phone(env.as_("rep"))
    old = contact(phone, env)
    phone.push(old)
    newer = phone.edit("contact", old.id, title="CTO")
    phone.push(newer)
    phone.push(old)
    assert env.as_("rep").get(f"/api/v1/contacts/{old.id}").json()["title"] == "CTO"
    phone.push(phone.delete(old.id))
    phone.push(old)
    phone.push(newer)
    assert env.as_("rep").get(f"/api/v1/contacts/{old.id}").status_code == 404


def test_forged_dots_are_rejected_and_do_not_stop_the_rest(env: Env) -> None:
    """Invariant 5: no replica writes under another's name or claims unseen edits."""
    phone = Phone(env.as_("rep"))
    good = contact(phone, env)
    forged_sibling = sync.edit(sync.new("contact", new_id()), "s", {"name": "Forged", "team": env.world.north}, T0)
    claims = contact(phone, env)
    claims = msgspec.structs.replace(claims, vv={**claims.vv, "otherphone": 3})
    results = phone.push(forged_sibling, good, claims)
    assert [r["status"] for r in results] == ["rejected", "ok", "rejected"]
    assert any(e["field"].startswith("fields.") for e in results[0]["errors"])
    assert results[2]["errors"][0]["field"] == "vv"
    assert "record" not in results[0]
    assert env.as_("admin").get(f"/api/v1/contacts/{forged_sibling.id}").status_code == 404


def test_push_under_someone_elses_replica_is_rejected(env: Env) -> None:
    theirs = Phone(env.as_("rep2"))
    mine = Phone(env.as_("rep"))
    state = contact(mine, env)
    results = mine.push(state, replica=theirs.replica)
    assert results[0]["status"] == "rejected" and results[0]["errors"][0]["field"] == "replica"
    assert mine.push(state, replica="never-issued")[0]["status"] == "rejected"
    assert env.as_("rep").get(f"/api/v1/contacts/{state.id}").status_code == 404


def test_invalid_new_values_are_rejected_naming_the_field(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    bad_email = contact(phone, env, emails=["not an email"])
    no_name = phone.edit("contact", new_id(), team=env.world.north)
    unknown = contact(phone, env, colour="red")
    bad_stage = phone.edit("deal", new_id(), title="Deal", owner=env.world.users["rep"].id, stage="closed")
    not_mine = phone.edit("deal", new_id(), title="Deal", owner=env.world.users["rep2"].id)
    other_team = phone.edit("company", new_id(), name="South", team=env.world.south)
    no_team = phone.edit("company", new_id(), name="Nowhere")
    results = phone.push(bad_email, no_name, unknown, bad_stage, not_mine, other_team, no_team)
    fields = [[e["field"] for e in r["errors"]] for r in results]
    assert all(r["status"] == "rejected" for r in results)
    assert fields == [["emails"], ["name"], ["colour"], ["stage"], ["owner"], ["team"], ["team"]]
    assert env.as_("admin").get("/api/v1/contacts").json()["total"] == 0
    assert env.as_("admin").get("/api/v1/deals").json()["total"] == 0


def test_every_invalid_value_of_a_record_is_named_with_its_own_message(env: Env) -> None:
    """Valid values are checked in one conversion; any invalid one brings back the per-field
    conversion, so each bad field keeps its own message, in order, as if checked alone."""
    from server.domain.crm.services import KINDS, field_error

    phone = Phone(env.as_("rep"))
    bad = {"emails": ["not an email"], "title": "Buyer", "phones": ["?"], "tags": "vip"}
    [result] = phone.push(contact(phone, env, **bad))
    expected = []
    for name, value in bad.items():
        try:
            msgspec.convert({name: value}, type=KINDS["contact"].update, strict=True)
        except msgspec.ValidationError as error:
            expected.append({"field": name, "message": field_error(error)[1]})
    assert result["status"] == "rejected"
    assert result["errors"] == expected and [e["field"] for e in expected] == ["emails", "phones", "tags"]


def test_rejected_edit_can_be_fixed_and_accepted(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    state = contact(phone, env)
    phone.push(state)
    broken = phone.edit("contact", state.id, emails=["ada@"])
    assert phone.push(broken)[0]["status"] == "rejected"
    assert env.as_("rep").get(f"/api/v1/contacts/{state.id}").json()["emails"] == []
    fixed = phone.edit("contact", state.id, emails=["ada@example.test"])
    assert phone.push(fixed)[0]["status"] == "ok"
    assert env.as_("rep").get(f"/api/v1/contacts/{state.id}").json()["emails"] == ["ada@example.test"]


def test_records_the_user_may_not_see_cannot_be_written(env: Env) -> None:
    south = Phone(env.as_("rep_south"))
    theirs = south.edit("contact", new_id(), name="Sam", team=env.world.south)
    south.push(theirs)
    north = Phone(env.as_("rep"))
    meddled = sync.edit(theirs, north.replica, {"name": "Hacked"}, T0 + 10**6)
    result = north.push(meddled)[0]
    assert result["status"] == "rejected" and result["errors"][0]["field"] == "id"
    assert env.as_("rep_south").get(f"/api/v1/contacts/{theirs.id}").json()["name"] == "Sam"


@pytest.mark.parametrize(
    "body",
    ["{", "[]", "null", '{"replica": 1, "records": []}', '{"replica": "abc"}', '{"replica": "abc", "records": {}}',
     '{"replica": "abc", "records": [{"type": "spaceship", "id": "x", "vv": {}, "fields": {}}]}',
     '{"replica": "abc", "records": [{"type": "contact", "id": "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e", "vv": {"a": 0}, "fields": {}}]}',
     '{"replica": "abc", "records": [{"type": "contact", "id": "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e", "vv": {}, "fields": {"name": [["x", "a"]]}}]}'],
)
def test_malformed_push_is_a_400_with_a_message(env: Env, body: str) -> None:
    response = env.as_("rep").post("/api/v1/sync/push", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


# -- merge with the REST API --------------------------------------------------------------


def test_rest_and_phone_editing_one_field_concurrently_is_a_conflict_on_both(env: Env) -> None:
    """Invariant 2: neither edit is lost; both stand as siblings until someone settles it."""
    phone = Phone(env.as_("rep"))
    state = contact(phone, env)
    phone.push(state)
    env.as_("rep").patch(f"/api/v1/contacts/{state.id}", json={"title": "Office"})
    mine = phone.edit("contact", state.id, title="Field")
    [result] = phone.push(mine)
    titles = sorted(s[0] for s in result["record"]["fields"]["title"])
    assert titles == ["Field", "Office"]
    assert env.as_("rep").get(f"/api/v1/contacts/{state.id}").json()["conflicts"] == ["title"]
    # Settling it on the web replaces both siblings: the server's replica has seen them.
    env.as_("rep").patch(f"/api/v1/contacts/{state.id}", json={"title": "Settled"})
    phone.pull()
    assert [s[0] for s in phone.states[state.id].fields["title"]] == ["Settled"]


def test_delete_concurrent_with_an_edit_keeps_the_record_as_a_conflict(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    state = contact(phone, env)
    phone.push(state)
    env.as_("rep").delete(f"/api/v1/contacts/{state.id}")
    edited = phone.edit("contact", state.id, title="Still here")
    [result] = phone.push(edited)
    merged = msgspec.convert(result["record"], sync.Record)
    assert not sync.is_deleted(merged) and sync.delete_conflict(merged)
    assert env.as_("rep").get(f"/api/v1/contacts/{state.id}").json()["title"] == "Still here"


# -- pull ---------------------------------------------------------------------------------


def test_pull_pages_oldest_change_first_and_never_repeats(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    states = [contact(phone, env, title=f"#{i}") for i in range(7)]
    phone.push(*states[:4])
    phone.push(*states[4:])
    reader = Phone(env.as_("rep2"))
    pages: list[int] = []
    got: list[str] = []
    while True:
        body = reader.api.get("/api/v1/sync/pull", params={"limit": 3, **({"after": reader.cursor} if reader.cursor else {})}).json()
        pages.append(len(body["records"]))
        got += [r["id"] for r in body["records"]]
        reader.cursor = body["cursor"]
        if not body["more"]:
            break
    assert got == [s.id for s in states]
    assert pages == [3, 3, 1]
    env.as_("rep").patch(f"/api/v1/contacts/{states[2].id}", json={"title": "changed"})
    records, _ = reader.pull()
    assert [r.id for r in records] == [states[2].id]


def test_pull_page_joined_by_the_database_is_the_page_row_by_row(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The states joined into one JSON array by the database are the same answer, byte for
    byte, as the one built row by row (the fallback when the database did not keep seq order)."""
    from server.domain.syncing import services

    phone = Phone(env.as_("rep"))
    states = [contact(phone, env, title=f"#{i} Zoë “quoted” \\ 東京") for i in range(5)]
    phone.push(*states)
    phone.push(phone.edit("contact", states[1].id, notes="edited"))

    def pages() -> list[bytes]:
        out, cursor = [], None
        while True:
            params = {"limit": 2, **({"after": cursor} if cursor else {})}
            response = env.as_("rep2").get("/api/v1/sync/pull", params=params)
            assert response.status_code == 200, response.text
            out.append(response.content)
            body = response.json()
            cursor = body["cursor"]
            if not body["more"]:
                return out

    by_rows = services._read_page_by_rows
    fallbacks: list[int] = []

    async def counted(*args: Any) -> Any:
        fallbacks.append(1)
        return await by_rows(*args)

    monkeypatch.setattr(services, "_read_page_by_rows", counted)
    joined = pages()
    assert fallbacks == []  # every page joined by the database, on either database
    monkeypatch.setattr(services, "_read_page_by_rows", by_rows)
    assert [len(msgspec.json.decode(p)["records"]) for p in joined] == [2, 2, 1]
    assert [r["id"] for p in joined for r in msgspec.json.decode(p)["records"]] == [s.id for s in (*states[:1], *states[2:], states[1])]

    async def unordered(*args: Any) -> None:
        return None

    monkeypatch.setattr(services, "_read_page", unordered)
    assert pages() == joined

    # Rows the database sent out of seq order are put back in order.
    real_fetch = services.fetch

    async def reversed_rows(engine: Any, sql: str, *args: Any) -> list:
        rows = await real_fetch(engine, sql, *args)
        return rows[::-1] if "LEFT JOIN" in sql else rows

    monkeypatch.setattr(services, "fetch", reversed_rows)
    assert pages() == joined


def test_pull_skips_nothing_edited_while_a_page_is_read(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record edited right after a page was read comes in a later page, edited."""
    from server.domain.crm.schemas import ContactUpdate
    from server.domain.crm.services import KINDS, RecordService
    from server.domain.syncing import services

    phone = Phone(env.as_("rep"))
    states = [contact(phone, env, title=f"#{i}") for i in range(4)]
    phone.push(*states)
    real_fetch = services.fetch
    edited: list[str] = []

    async def fetch_with_an_edit_after(engine: Any, sql: str, *args: Any) -> list[dict]:
        rows = await real_fetch(engine, sql, *args)
        if " FROM contact t " in sql and not edited:
            edited.append(sql)
            await RecordService(KINDS["contact"], env.world.users["rep"]).update(states[0].id, ContactUpdate(title="edited"))
        return rows

    monkeypatch.setattr(services, "fetch", fetch_with_an_edit_after)
    records, _ = Phone(env.as_("rep2")).pull(limit=2)
    assert edited, "the edit did not run while the first page was read"
    assert {r.id for r in records} == {s.id for s in states}
    assert records[-1].id == states[0].id
    assert sync.visible(records[-1])["title"] == "edited"
    assert [r.id for r in records] == [s.id for s in states] + [states[0].id]


def test_pull_sees_only_what_the_user_may(env: Env) -> None:
    north = Phone(env.as_("rep"))
    south = Phone(env.as_("rep_south"))
    north.push(contact(north, env))
    south.push(south.edit("contact", new_id(), name="Sam", team=env.world.south))
    south.push(south.edit("deal", new_id(), title="South deal", owner=env.world.users["rep_south"].id))
    assert len(Phone(env.as_("rep2")).pull()[0]) == 1
    assert len(Phone(env.as_("manager_south")).pull()[0]) == 2
    assert len(Phone(env.as_("admin")).pull()[0]) == 3


def test_bad_pull_parameters_are_a_400(env: Env) -> None:
    rep = env.as_("rep")
    for params in ({"after": "nonsense"}, {"after": "v1-x"}, {"limit": 0}, {"limit": "many"}):
        assert rep.get("/api/v1/sync/pull", params=params).status_code == 400, params
    big = rep.get("/api/v1/sync/pull", params={"limit": 5000})
    assert big.status_code == 200  # capped, not refused


def test_a_deal_moved_to_another_rep_is_gone_for_the_first(env: Env) -> None:
    users = env.world.users
    rep = Phone(env.as_("rep"))
    deal = rep.edit("deal", new_id(), title="Handover", owner=users["rep"].id)
    rep.push(deal)
    rep.pull()
    manager = Phone(env.as_("manager"))
    manager.pull()
    env.as_("manager").patch(f"/api/v1/deals/{deal.id}", json={"owner": users["rep2"].id})
    records, gone = rep.pull()
    assert records == [] and gone == [{"type": "deal", "id": deal.id}]
    records, gone = manager.pull()
    assert [r.id for r in records] == [deal.id] and gone == []
    records, gone = Phone(env.as_("rep2")).pull()
    assert [r.id for r in records] == [deal.id]
    # Moved to the other team: the North manager loses it too.
    env.as_("admin").patch(f"/api/v1/deals/{deal.id}", json={"owner": users["rep_south"].id})
    assert manager.pull()[1] == [{"type": "deal", "id": deal.id}]


def test_pull_asks_for_gone_records_only_after_an_audience_change(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.domain.syncing import services

    asked: list[tuple[int, int]] = []
    real_gone = services._gone

    async def counted(user: Any, after: int, upto: int, records_json: bytes) -> list:
        asked.append((after, upto))
        return await real_gone(user, after, upto, records_json)

    monkeypatch.setattr(services, "_gone", counted)
    rep = Phone(env.as_("rep"))
    deal = rep.edit("deal", new_id(), title="Handover", owner=env.world.users["rep"].id)
    rep.push(deal, contact(rep, env))
    assert len(rep.pull()[0]) == 2 and asked == []
    env.as_("manager").patch(f"/api/v1/deals/{deal.id}", json={"owner": env.world.users["rep2"].id})
    assert rep.pull() == ([], [{"type": "deal", "id": deal.id}]) and len(asked) == 1
    assert rep.pull() == ([], []) and len(asked) == 1  # nothing moved since that cursor


def test_a_user_moved_to_another_team_starts_over_and_their_records_follow(env: Env) -> None:
    from server.domain.crm.services import move_user

    users = env.world.users
    north_phone = Phone(env.as_("rep"))
    north_company = north_phone.edit("company", new_id(), name="North Mill", team=env.world.north)
    deal = north_phone.edit("deal", new_id(), title="Travels along", owner=users["rep"].id)
    north_phone.push(north_company, deal)
    south_contact = Phone(env.as_("rep_south")).edit("contact", new_id(), name="Sam", team=env.world.south)
    south = Phone(env.as_("rep_south"))
    south.push(south.edit("contact", south_contact.id, name="Sam", team=env.world.south))
    north_phone.pull()
    north_manager, south_manager = Phone(env.as_("manager")), Phone(env.as_("manager_south"))
    north_manager.pull()
    south_manager.pull()

    assert env.call(lambda: move_user(users["rep"].id, env.world.south)) is True
    assert env.call(lambda: move_user(users["rep"].id, env.world.south)) is False

    records, gone = north_phone.pull()
    assert {r.id for r in records} >= {south_contact.id, deal.id}
    assert {"type": "company", "id": north_company.id} in gone
    assert {"type": "deal", "id": deal.id} not in gone  # still theirs
    records, gone = north_manager.pull()
    assert {"type": "deal", "id": deal.id} in gone
    records, gone = south_manager.pull()
    assert deal.id in {r.id for r in records}
    # Caught up: the next pull is quiet.
    assert north_phone.pull() == ([], [])
