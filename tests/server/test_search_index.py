"""The search index is brought up to date after writes (crm.services.index_changes): search
always sees every write, the server's background indexer catches up without a search, and the
index takes changes in chunks without skipping any."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from server.domain.crm import services
from server.domain.crm.tables import SearchEntry, SyncClock
from tests.server.conftest import Env
from tests.server.test_sync_api import Phone, new_id


def _clock(env: Env) -> dict[str, int]:
    async def read() -> dict[str, int]:
        return await SyncClock.select(SyncClock.value, SyncClock.indexed).where(SyncClock.id == 1).first()

    return env.call(read)


def _entries(env: Env) -> dict[str, str]:
    async def read() -> dict[str, str]:
        return {str(r["record_id"]): r["body"] for r in await SearchEntry.select(SearchEntry.record_id, SearchEntry.body)}

    return env.call(read)


def _found(env: Env, who: str, path: str, q: str) -> set[str]:
    return {item["id"] for item in env.as_(who).get(path, params={"q": q}).json()["items"]}


def test_search_sees_a_phone_push_at_once_and_follows_its_edits_and_delete(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    team = env.world.north
    grace = phone.edit("contact", new_id(), name="Grace Hopper", team=team, emails=["grace@navy.test"])
    assert phone.push(grace)[0]["status"] == "ok"
    assert _found(env, "rep", "/api/v1/contacts", "hopper") == {grace.id}

    renamed = phone.edit("contact", grace.id, name="Grace Brewster")
    assert phone.push(renamed)[0]["status"] == "ok"
    assert _found(env, "rep", "/api/v1/contacts", "hopper") == set()
    assert _found(env, "rep", "/api/v1/contacts", "brewster navy") == {grace.id}

    assert phone.push(phone.delete(grace.id))[0]["status"] == "ok"
    assert _found(env, "rep", "/api/v1/contacts", "brewster") == set()
    assert grace.id not in _entries(env)
    clock = _clock(env)
    assert clock["indexed"] == clock["value"]


def test_the_background_indexer_catches_up_without_a_search(env: Env) -> None:
    phone = Phone(env.as_("rep"))
    records = [phone.edit("contact", new_id(), name=f"Person {i}", team=env.world.north) for i in range(5)]
    assert {r["status"] for r in phone.push(*records)} == {"ok"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        clock = _clock(env)
        if clock["indexed"] == clock["value"]:
            break
        time.sleep(0.1)
    assert clock["indexed"] == clock["value"], clock
    entries = _entries(env)
    assert all(entries[r.id].startswith("person") for r in records)


def test_changes_are_taken_in_chunks_none_skipped(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    rep = env.as_("rep")
    # The background indexer must not take them in first.
    env.call(lambda: _stop_indexer(env))
    monkeypatch.setattr(services, "INDEX_CHUNK", 3)
    made: dict[str, str] = {}
    for i in range(4):
        company = rep.post("/api/v1/companies", json={"name": f"Firm{i} Ltd"}).json()
        made[company["id"]] = f"firm{i}"
        contact = rep.post("/api/v1/contacts", json={"name": f"Buyer{i} Smith", "company": company["id"]}).json()
        made[contact["id"]] = f"buyer{i}"
        deal = rep.post("/api/v1/deals", json={"title": f"Order{i}", "company": company["id"], "contact": contact["id"]}).json()
        made[deal["id"]] = f"order{i}"
    before = _clock(env)
    assert before["value"] - before["indexed"] == 12

    counted: list[int] = []
    original = services._write_entries

    async def counting(engine: Any, changes: list) -> None:
        counted.append(len(changes))
        await original(engine, changes)

    monkeypatch.setattr(services, "_write_entries", counting)
    done = env.call(lambda: services.index_changes(SyncClock._meta.db))
    assert done == 12 and counted == [3, 3, 3, 3]
    entries = _entries(env)
    for record_id, word in made.items():
        assert entries[record_id].split()[0] == word
    # A deal's text names its company and contact.
    deal_id = next(i for i, w in made.items() if w == "order2")
    assert entries[deal_id] == "order2 firm2 ltd buyer2 smith"
    clock = _clock(env)
    assert clock["indexed"] == clock["value"] == before["value"]
    assert env.call(lambda: services.index_changes(SyncClock._meta.db)) == 0


def test_an_unchanged_text_keeps_its_entry_and_a_rename_moves_referrers(env: Env) -> None:
    rep = env.as_("rep")
    acme = rep.post("/api/v1/companies", json={"name": "Acme"}).json()
    ada = rep.post("/api/v1/contacts", json={"name": "Ada", "company": acme["id"]}).json()
    assert _found(env, "rep", "/api/v1/contacts", "acme") == {ada["id"]}
    ids = _entry_ids(env)
    rep.patch(f"/api/v1/contacts/{ada['id']}", json={"notes": "not searched"})
    assert _found(env, "rep", "/api/v1/contacts", "ada") == {ada["id"]}
    assert _entry_ids(env) == ids  # the same rows: nothing rewritten
    rep.patch(f"/api/v1/companies/{acme['id']}", json={"name": "Zenith"})
    assert _found(env, "rep", "/api/v1/contacts", "zenith") == {ada["id"]}
    assert _found(env, "rep", "/api/v1/contacts", "acme") == set()


def test_concurrent_indexers_and_writers_leave_every_entry_right(env: Env) -> None:
    engine = SyncClock._meta.db
    env.call(lambda: _stop_indexer(env))
    rep = env.as_("rep")
    ids = [rep.post("/api/v1/contacts", json={"name": f"Walker{i}"}).json()["id"] for i in range(30)]

    async def race() -> list[int]:
        async def rename(i: int, record_id: str) -> None:
            kind = services.KINDS["contact"]
            await services.RecordService(kind, env.world.users["rep"]).update(record_id, kind.update(name=f"Runner{i}"))

        jobs = [services.index_changes(engine) for _ in range(3)] + [rename(i, r) for i, r in enumerate(ids[:10])]
        results = await asyncio.gather(*jobs)
        return [r for r in results if isinstance(r, int)]

    env.call(race)
    assert env.call(lambda: services.index_changes(engine)) >= 0
    entries = _entries(env)
    for i, record_id in enumerate(ids):
        assert entries[record_id] == (f"runner{i}" if i < 10 else f"walker{i}")
    clock = _clock(env)
    assert clock["indexed"] == clock["value"]


def _entry_ids(env: Env) -> list[int]:
    async def read() -> list[int]:
        return sorted(r["id"] for r in await SearchEntry.select(SearchEntry.id))

    return env.call(read)


async def _stop_indexer(env: Env) -> None:
    """Stop the app's background indexer, then take in what earlier writes left."""
    for hook in list(services.commit_hooks):
        indexer = getattr(hook, "__self__", None)
        if isinstance(indexer, services.SearchIndexer):
            await indexer.stop()
    await services.index_changes(SyncClock._meta.db)
