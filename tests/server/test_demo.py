"""The demo loader: logins work, the data is big enough, valid, consistent per team, and loads once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import msgspec

RANGES = {
    "company": (50, 70),
    "contact": (500, 700),
    "deal": (200, 300),
    "activity": (1200, 1800),
    "task": (250, 350),
    "approval": (6, 40),
}


def test_build_records_is_deterministic() -> None:
    from server.demo import _Person, build_records

    people = {
        "North": [_Person(2, "manager", 1), _Person(3, "rep", 1), _Person(4, "rep", 1)],
        "South": [_Person(5, "manager", 2), _Person(6, "rep", 2)],
    }
    now = dt.datetime.now(dt.UTC)
    first = build_records({"North": 1, "South": 2}, people, now)
    second = build_records({"North": 1, "South": 2}, people, now)
    assert [(k.name, i, v) for k, i, v in first] == [(k.name, i, v) for k, i, v in second]
    assert len({i for _, i, _ in first}) == len(first)


def test_load_demo(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FIELDBOOK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from server.settings import from_env, get_settings

    # Importing piccolo_conf reads the settings once; if that happens here, under this test's
    # environment, forget them afterwards so that later tests do not inherit tmp_path.
    settings_were_cached = get_settings.cache_info().currsize > 0

    from piccolo.apps.migrations.tables import Migration

    from server import app, db, piccolo_conf
    from server.piccolo_app import TABLES

    settings = from_env()
    assert settings.database.sqlite_path.parent == tmp_path.resolve()
    # bind_tables puts every table (and Piccolo's migration table) on this database; put them back after.
    saved = [(t, t._meta._db) for t in (*TABLES, Migration)]
    saved_conf = piccolo_conf.DB
    engine = db.make_engine(settings.database)
    try:
        app.bind_tables(engine)
        asyncio.run(_check(engine, settings))
    finally:
        for table, previous in saved:
            table._meta._db = previous
        piccolo_conf.DB = saved_conf
        if not settings_were_cached:
            get_settings.cache_clear()


async def _check(engine: Any, settings: Any) -> None:
    from server import cli, db

    await db.start(engine)
    try:
        await cli.migrate_database(quiet=True)
        await _check_loaded(settings)
    finally:
        await db.stop(engine)


def test_load_demo_on_each_database(database) -> None:
    """The same checks on the suite's shared databases (emptied first)."""
    from server import db
    from server.app import bind_tables, engine_for
    from server.piccolo_app import TABLES

    async def work() -> None:
        for table in reversed(TABLES):
            if table._meta.tablename != "sync_clock":
                await table.delete(force=True)
        await _check_loaded(database)

    async def wrapped() -> None:
        engine = engine_for(database)
        bind_tables(engine)
        await db.start(engine)
        try:
            await work()
        finally:
            await db.stop(engine)

    asyncio.run(wrapped())


async def _counts() -> dict[str, int]:
    from server.domain.accounts.tables import Team, User
    from server.domain.crm.tables import SYNCED_TABLES, SearchEntry

    out = {name: await table.count() for name, table in SYNCED_TABLES.items()}
    out["user"] = await User.count()
    out["team"] = await Team.count()
    out["search"] = await SearchEntry.count()
    return out


async def _check_loaded(settings: Any) -> None:
    import sync
    from server.demo import LOGINS, PASSWORD, load_demo
    from server.domain.accounts.services import add_user, authenticate, user_by_id
    from server.domain.accounts.tables import Team, User
    from server.domain.crm import services
    from server.domain.crm.tables import SYNCED_TABLES, SyncClock

    # --if-empty with someone already there: nothing happens.
    await add_user("someone@example.test", "long enough", "admin", None)
    assert await load_demo(if_empty=True) is False
    empty = await _counts()
    assert empty["company"] == empty["contact"] == empty["search"] == 0

    assert await load_demo() is True
    counts = await _counts()

    # Logins: each one signs in, with the role and team it is listed with.
    teams = {row["id"]: row["name"] for row in await Team.select(Team.id, Team.name)}
    assert sorted(teams.values()) == ["North", "South"]
    users: dict[int, Any] = {}
    for email, role, team in LOGINS:
        user_id = await authenticate(email, PASSWORD, "127.0.0.1", settings.security)
        assert user_id is not None, email
        user = await user_by_id(user_id)
        assert user is not None and (user.role, user.team_name) == (role, team), email
        assert user.name and "@" not in user.name
        users[user_id] = user
    assert await authenticate("rep@fieldbook.test", "wrong password", "127.0.0.1", settings.security) is None
    team_of = {row["id"]: row["team"] for row in await User.select(User.id, User.team)}

    # Sizes.
    for kind, (low, high) in RANGES.items():
        assert low <= counts[kind] <= high, (kind, counts[kind])
    total = sum(counts[k] for k in RANGES)
    assert counts["search"] == total

    # Every record: all fields written, valid for the REST create, live, one edit by the server.
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for name in RANGES:
        kind = services.KINDS[name]
        rows = await SYNCED_TABLES[name].select()
        values[name] = {}
        for row in rows:
            state = services.decode_state(row["state"])
            assert state.vv == {"s": 1} and not row["deleted"]
            shown = sync.visible(state)
            assert set(shown) == set(kind.field_names), name
            msgspec.convert(shown, kind.create)
            values[name][str(row["id"])] = shown
    # One transaction: consecutive change numbers, and the clock left at the last one.
    seqs = sorted([r["seq"] for t in SYNCED_TABLES.values() for r in await t.select(t.seq)])
    assert seqs == list(range(seqs[0], seqs[0] + total))
    assert (await SyncClock.select(SyncClock.value).first())["value"] == seqs[-1]

    def team(kind: str, record_id: str) -> int:
        v = values[kind][record_id]
        return v["team"] if kind in ("company", "contact") else team_of[v["owner"]]

    # Both teams hold records of every kind.
    for kind in RANGES:
        per_team = Counter(team(kind, i) for i in values[kind])
        assert set(per_team) == set(teams), kind
        assert min(per_team.values()) >= 0.2 * max(per_team.values()), (kind, per_team)

    # Variety: every stage and activity kind, tasks around now.
    assert set(Counter(v["stage"] for v in values["deal"].values())) == {
        "lead", "qualified", "proposal", "negotiation", "won", "lost"
    }
    assert {v["currency"] for v in values["deal"].values()} == {"GBP", "EUR"}
    assert set(Counter(v["kind"] for v in values["activity"].values())) == {"visit", "call", "meeting", "note"}
    now = dt.datetime.now(dt.UTC)
    for v in values["activity"].values():
        at = dt.datetime.fromisoformat(v["occurred_at"])
        assert now - dt.timedelta(days=92) <= at <= now
        if v["kind"] == "visit":
            assert v["latitude"] is not None and v["longitude"] is not None and v["accuracy"] is not None
    due = [dt.datetime.fromisoformat(v["due_at"]) for v in values["task"].values()]
    open_tasks = [v for v in values["task"].values() if v["done_at"] is None]
    assert any(d < now for d in due) and any(d > now + dt.timedelta(days=7) for d in due)
    assert any(d.date() == now.date() for d in due) or now.weekday() >= 5
    assert 0.1 <= 1 - len(open_tasks) / len(due) <= 0.3

    # References: every one names a live record of the same team...
    for cid, v in values["contact"].items():
        assert team("company", v["company"]) == v["team"], cid
    for did, v in values["deal"].items():
        assert team("company", v["company"]) == team("deal", did)
        if v["contact"]:
            assert values["contact"][v["contact"]]["company"] == v["company"]
    for aid, v in values["activity"].items():
        for ref in ("contact", "company", "deal"):
            if v[ref]:
                assert team(ref, v[ref]) == team("activity", aid), (aid, ref)
        if v["contact"]:
            assert values["contact"][v["contact"]]["company"] == v["company"]
    for tid, v in values["task"].items():
        assert team_of[v["assignee"]] == team("task", tid)
        if v["related_type"]:
            assert team(v["related_type"], v["related_id"]) == team("task", tid)

    # ...and each record is one its owner (a manager of the team, for companies and contacts)
    # could have created through the API, with everyone it concerns able to see what it names.
    managers = {u.team: u for u in users.values() if u.is_manager}
    # A big deal a rep closed came through an approval, which its manager decided.
    approved = {v["deal"] for v in values["approval"].values() if v["status"] == "approved"}
    for name, records in values.items():
        kind = services.KINDS[name]
        for rid, v in records.items():
            writer = managers[v["team"]] if kind.scope == "team" else users[v["owner"]]
            if name == "approval" and v["status"] != "pending":
                writer = users[v["decided_by"]]
            if name == "deal" and rid in approved:
                writer = managers[team_of[v["owner"]]]
            errors = await services.check_write(kind, writer, v, v.keys())
            assert errors == [], (name, rid, errors)
            if name == "task" and v["related_type"]:
                assert await services.is_visible(v["related_type"], users[v["assignee"]], v["related_id"])

    # Search finds records by the names of what they point at.
    rep = next(u for u in users.values() if u.email == "rep@fieldbook.test")
    some_company = next(v["name"] for v in values["company"].values() if v["team"] == rep.team)
    found = await services.RecordService(services.KINDS["contact"], rep).list(services.ListQuery(q=some_company))
    assert found["total"] > 0

    # Loading again changes nothing.
    assert await load_demo() is False
    assert await load_demo(if_empty=True) is False
    assert await _counts() == counts
