"""SYNC.md invariant 4 under real concurrency: a phone pages through pulls while eight phones push at once.

The Litestar TestClient can be called from several threads: each call blocks its own thread
on the client's portal, and the portal runs the requests side by side on the app's one event
loop. On PostgreSQL every request then holds its own pooled connection, so transactions truly
interleave; on SQLite the pulls read on their own connection beside the serialised writer.
The test measures that overlap and fails if it stops happening, because then it would no
longer test what it says.
"""

from __future__ import annotations

import random
import re
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

import sync
from server.domain.crm import services as crm_services
from server.domain.crm.services import KINDS
from server.domain.syncing import services as sync_services
from tests.server.conftest import Env
from tests.server.test_sync_api import Phone, new_id

WRITERS = 8
BATCHES = 25
PULL_LIMIT = 7
#: The North users; the North manager, who pulls, sees everything any of them writes.
WRITING_USERS = ("rep", "rep2", "manager")
STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
TAGS = ("vip", "lead", "cold", "north")


def vv_key(vv: dict[str, int]) -> str:
    return msgspec.json.encode(vv, order="sorted").decode()


def cursor_seq(cursor: str | None) -> int:
    """The last change a cursor stands for. Opaque to a phone; the test knows the server's format."""
    if not cursor:
        return 0
    match = re.match(rf"{re.escape(sync_services.CURSOR_PREFIX)}(\d+)", cursor)
    assert match, f"unexpected cursor {cursor!r}"
    return int(match.group(1))


@dataclass
class Change:
    """One stored state, as the server's `store` handed it its sequence number."""

    id: str
    seq: int
    vv: str
    at: float  # perf_counter when stored, before its transaction commits


@dataclass
class Page:
    """One pull answer as the puller saw it."""

    asked: float
    answered: float
    after: int
    cursor: int
    more: bool
    records: list[sync.Record]


@dataclass
class Observed:
    """What the instrumented server did, for the checks and to prove that requests overlapped."""

    changes: list[Change] = field(default_factory=list)
    #: (path, start, end) of every request, measured inside the app.
    requests: list[tuple[str, float, float]] = field(default_factory=list)
    #: (asked, acquired, released) of every push's write transaction.
    writes: list[tuple[float, float, float]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


def _instrument(env: Env, monkeypatch: pytest.MonkeyPatch) -> Observed:
    """Watch the server without changing what it does: stores, write transactions, requests."""
    seen = Observed()
    store = crm_services.store

    async def recording_store(kind: Any, state: sync.Record, tx: Any, existed: Any, values: Any = None, state_json: Any = None) -> Any:
        answer = await store(kind, state, tx, existed, values, state_json)
        seen.changes.append(Change(state.id, tx.seq, vv_key(state.vv), time.perf_counter()))
        return answer

    # Both writers look `store` up in their own module: REST edits in crm, pushes in syncing.
    monkeypatch.setattr(crm_services, "store", recording_store)
    monkeypatch.setattr(sync_services, "store", recording_store)

    write_transaction = sync_services.write_transaction

    @asynccontextmanager
    async def timed_write_transaction(engine: Any) -> AsyncIterator[Any]:
        asked = time.perf_counter()
        async with write_transaction(engine) as tx:
            acquired = time.perf_counter()
            yield tx
        seen.writes.append((asked, acquired, time.perf_counter()))

    monkeypatch.setattr(sync_services, "write_transaction", timed_write_transaction)

    app = env.client.app

    async def counting_app(scope: Any, receive: Any, send: Any) -> None:
        # Every request runs on the portal's one event loop thread: no lock needed to count.
        start = time.perf_counter()
        seen.in_flight += 1
        seen.max_in_flight = max(seen.max_in_flight, seen.in_flight)
        try:
            await app(scope, receive, send)
        finally:
            seen.in_flight -= 1
            seen.requests.append((scope.get("path", ""), start, time.perf_counter()))

    monkeypatch.setattr(env.client, "app", counting_app)
    return seen


# -- the writers -------------------------------------------------------------------------------


def _writer(env: Env, who: str, seed: int, shared_contacts: list[str]) -> int:
    """A phone of `who` pushing BATCHES batches of 1-10 creates and edits, with web edits between.

    Returns how many records it pushed.
    """
    rng = random.Random(seed)
    phone = Phone(env.as_(who), name=f"writer {seed}")
    user = env.world.users[who]
    mine: list[str] = []
    pushed = 0
    for batch in range(BATCHES):
        touched: dict[str, None] = {}
        for step in range(rng.randint(1, 10)):
            label = f"w{seed}.{batch}.{step}"
            if mine and rng.random() < 0.5:
                record_id = rng.choice(mine)
                if phone.states[record_id].type == "contact":
                    phone_number = f"+44 20 7946 {rng.randint(1000, 9999)}"
                    change = rng.choice([{"title": label}, {"notes": label}, {"tags": rng.sample(TAGS, 2)}, {"phones": [phone_number]}])
                    phone.edit("contact", record_id, **change)
                else:
                    amount = f"{rng.randint(1, 50000)}.00"  # within the approval rules: this test is about ordering
                    change = rng.choice([{"stage": rng.choice(STAGES)}, {"amount": amount}, {"notes": label}, {"probability": rng.randint(0, 100)}])
                    phone.edit("deal", record_id, **change)
            else:
                record_id = new_id()
                if rng.random() < 0.6:
                    phone.edit("contact", record_id, name=f"Contact {label}", team=user.team, title=label)
                else:
                    phone.edit("deal", record_id, title=f"Deal {label}", owner=user.id, stage=rng.choice(STAGES))
                mine.append(record_id)
            touched[record_id] = None
        results = phone.push(*(phone.states[r] for r in touched))
        assert [r["status"] for r in results] == ["ok"] * len(touched), results
        pushed += len(touched)
        shared_contacts.extend(r for r in touched if phone.states[r].type == "contact")
        if shared_contacts and rng.random() < 0.4:
            # The web edits someone's contact: a change by the server's replica, between the pushes.
            target = rng.choice(shared_contacts)
            response = env.as_(who).patch(f"/api/v1/contacts/{target}", json={"notes": f"web {seed}.{batch}"})
            assert response.status_code == 200, response.text
    return pushed


# -- the puller --------------------------------------------------------------------------------


class Puller:
    """The North manager's phone, paging with a small limit and keeping every answer."""

    def __init__(self, env: Env) -> None:
        self.phone = Phone(env.as_("manager"), name="puller")
        self.pages: list[Page] = []

    def page(self) -> bool:
        """Pull one page; True when the server says there is more."""
        after = self.phone.cursor
        params: dict[str, Any] = {"limit": PULL_LIMIT, **({"after": after} if after else {})}
        asked = time.perf_counter()
        response = self.phone.api.get("/api/v1/sync/pull", params=params)
        answered = time.perf_counter()
        assert response.status_code == 200, response.text
        body = msgspec.json.decode(response.content, type=sync.PullPage)
        assert body.gone == []  # nobody's audience changes here
        assert len(body.records) <= PULL_LIMIT
        for record in body.records:
            local = self.phone.states.get(record.id)
            self.phone.states[record.id] = sync.merge(local, record) if local else record
        self.phone.cursor = body.cursor
        self.pages.append(Page(asked, answered, cursor_seq(after), cursor_seq(body.cursor), body.more, body.records))
        return body.more


# -- the checks --------------------------------------------------------------------------------


def check_pages_come_in_change_order_and_never_repeat(pages: list[Page], changes: list[Change]) -> None:
    """Cursors never go back; each delivered state is a stored change at or below its page's
    cursor; across all pages the changes come oldest first, so none is delivered twice."""
    seq_of: dict[tuple[str, str], int] = {}
    for change in changes:
        assert (change.id, change.vv) not in seq_of, f"two stores of {change.id} with one vv {change.vv}"
        seq_of[(change.id, change.vv)] = change.seq
    cursors = [p.cursor for p in pages]
    assert cursors == sorted(cursors), f"a cursor went back: {cursors}"
    assert all(p.after <= p.cursor for p in pages)
    delivered: list[tuple[int, str]] = []
    for n, page in enumerate(pages):
        for record in page.records:
            key = (record.id, vv_key(record.vv))
            assert key in seq_of, f"page {n} delivered a state of {record.id} that was never stored"
            seq = seq_of[key]
            assert page.after < seq <= page.cursor, f"page {n} (after {page.after}, cursor {page.cursor}) delivered change {seq}"
            delivered.append((seq, record.id))
    seqs = [s for s, _ in delivered]
    assert len(set(seqs)) == len(seqs), "a state was delivered twice"
    assert seqs == sorted(seqs), "pages did not come oldest change first"


def check_no_skipped_change(pages: list[Page], changes: list[Change]) -> None:
    """Invariant 4: when a page's cursor passes change N of a record, the puller has that change
    or a later one of the record, unless the record had changed again, beyond that cursor,
    before the page was answered (then the later change supersedes it and comes on a later page)."""
    seq_of = {(c.id, c.vv): c.seq for c in changes}
    cursors = [p.cursor for p in pages]  # never going back: checked above
    # record id -> [(page index, seq)] of what the puller got.
    got: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for n, page in enumerate(pages):
        for record in page.records:
            got[record.id].append((n, seq_of[(record.id, vv_key(record.vv))]))
    by_record: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_record[change.id].append(change)
    skipped: list[str] = []
    for change in changes:
        passing = bisect_left(cursors, change.seq)  # the first page whose cursor passed it
        assert passing < len(pages), f"the puller never caught up with change {change.seq}"
        page = pages[passing]
        if any(n <= passing and seq >= change.seq for n, seq in got[change.id]):
            continue
        superseded = any(later.seq > page.cursor and later.at < page.answered for later in by_record[change.id])
        if not superseded:
            skipped.append(f"change {change.seq} of {change.id}: page {passing} moved the cursor {page.after} -> {page.cursor} without it")
    assert not skipped, f"{len(skipped)} skipped changes, e.g. {skipped[:5]}"


async def _server_states() -> dict[str, sync.Record]:
    out: dict[str, sync.Record] = {}
    for name in ("contact", "deal"):
        table = KINDS[name].table
        for row in await table.select(table.id, table.state):
            out[str(row["id"])] = msgspec.json.decode(row["state"], type=sync.Record)
    return out


def _overlaps(seen: Observed) -> dict[str, int]:
    """How much really ran at once: requests inside the app, pulls inside an open push transaction,
    pushes that had to wait for another's transaction."""
    pulls = [(s, e) for path, s, e in seen.requests if path == "/api/v1/sync/pull"]
    held = sorted((a, r) for _, a, r in seen.writes)
    pulls_inside = sum(any(a < s and e < r for a, r in held) for s, e in pulls)
    waited = sum(any(a2 < asked < r2 and acquired >= r2 for _, a2, r2 in seen.writes) for asked, acquired, _ in seen.writes)
    return {"max_in_flight": seen.max_in_flight, "pulls_inside_a_push": pulls_inside, "pushes_that_waited": waited}


# -- the test ----------------------------------------------------------------------------------


def test_pull_never_skips_a_change_while_pushes_commit_concurrently(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant 4: eight phones push 25 batches each while the manager pages 7 at a time."""
    seen = _instrument(env, monkeypatch)
    puller = Puller(env)
    shared_contacts: list[str] = []
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        writers = [pool.submit(_writer, env, WRITING_USERS[k % len(WRITING_USERS)], k, shared_contacts) for k in range(WRITERS)]
        while not all(w.done() for w in writers):
            puller.page()
        pushed = sum(w.result() for w in writers)  # re-raises a writer's failure
    pages_while_writing = len(puller.pages)
    while puller.page():
        pass

    overlap = _overlaps(seen)
    print(f"\n{env.settings.database.url.split(':')[0]}: {pushed} records pushed, {len(seen.changes)} changes stored, "
          f"{len(puller.pages)} pages ({pages_while_writing} while writing), {overlap}")
    # The test is only worth something if the pushes and the pulls really ran at once.
    assert overlap["max_in_flight"] >= 3, overlap
    assert overlap["pulls_inside_a_push"] >= 5, overlap
    assert overlap["pushes_that_waited"] >= 5, overlap
    assert pages_while_writing >= 20 and sum(bool(p.records) for p in puller.pages[:pages_while_writing]) >= 10

    check_pages_come_in_change_order_and_never_repeat(puller.pages, seen.changes)
    check_no_skipped_change(puller.pages, seen.changes)

    # Caught up, the puller holds exactly what the server holds, and what a fresh phone pulls.
    server = env.call(_server_states)
    fresh = Phone(env.as_("manager"), name="fresh")
    fresh.pull()
    assert len(server) >= WRITERS * BATCHES
    assert set(puller.phone.states) == set(server) == set(fresh.states)
    differ = [i for i in server if not (puller.phone.states[i] == server[i] == fresh.states[i])]
    assert not differ, f"{len(differ)} records differ from the server, e.g. {differ[:3]}"
