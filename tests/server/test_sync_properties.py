"""SYNC.md invariants 1, 2, 3 and 6 against the real server: phones, the web and a lossy network.

A Hypothesis state machine drives three to five phones of North users (each a device that
edits with the pure sync core, see `Phone`) and the web (REST edits by the server's replica
"s") over a few team-shared contacts and a company, through the real endpoints. The network
loses push answers after the server committed, delivers old states again and loses pull
pages; phones get wiped and register again. The machine keeps a log of every edit ever made
and a model of what the server must hold, checks every push answer and pull against it, and
at the end lets everything quiesce and checks the invariants by name.

Set FIELDBOOK_SOAK=1 for a long run.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

import sync
from server.domain.crm.services import KINDS
from server.domain.crm.tables import AudienceChange, SearchEntry, SyncClock
from tests.server.conftest import Env
from tests.server.test_sync_api import Phone

SOAK = os.environ.get("FIELDBOOK_SOAK") == "1"

# CI budget: 50 machines of 35 steps per database, each ending in a quiesce and the checks,
# about 15-30 s on either database. The soak runs ten times the machines, twice as long.
MACHINE_SETTINGS = settings(
    max_examples=500 if SOAK else 50,
    stateful_step_count=70 if SOAK else 35,
    deadline=None,
    derandomize=not SOAK,  # CI sees the same examples every run; the soak explores
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Every North user may see and write the team's contacts and companies.
NORTH_USERS = ("rep", "rep2", "manager")
RECORDS = {
    "00000000-0000-4000-8000-000000000001": "contact",
    "00000000-0000-4000-8000-000000000002": "contact",
    "00000000-0000-4000-8000-000000000003": "contact",
    "00000000-0000-4000-8000-000000000004": "company",
}
PATHS = {"contact": "/api/v1/contacts", "company": "/api/v1/companies"}
#: Valid values per field (schemas.ContactFields, CompanyFields); few, so that edits collide.
VALUES: dict[str, dict[str, list[Any]]] = {
    "contact": {
        "name": ["Ada Lovelace", "Ada King", "Grace Hopper", "Zoë Ødegård"],
        "title": ["", "CEO", "CTO", "Buyer"],
        "tags": [[], ["vip"], ["vip", "north"], ["cold"]],
        "phones": [[], ["+44 20 7946 0001"], ["+44 20 7946 0002", "+1 555 0100"]],
    },
    "company": {
        "name": ["Acme", "Acme Ltd", "Globex"],
        "phone": ["", "+44 20 7946 0100"],
        "notes": ["", "big account"],
    },
}

record_ids = st.sampled_from(sorted(RECORDS))
phone_slots = st.integers(0, 4)  # taken modulo the number of phones


def same(a: Any, b: Any) -> bool:
    """Equal as JSON: 1 and True differ, tuples and lists do not."""
    return msgspec.json.encode(a, order="sorted") == msgspec.json.encode(b, order="sorted")


def as_record(raw: Any) -> sync.Record:
    return msgspec.convert(raw, sync.Record)


@dataclass(frozen=True)
class Edit:
    """One write of one field: its dot, its value, and the vv of the state it was made on."""

    record: str
    field: str
    replica: str
    counter: int
    value: Any
    context: dict[str, int]

    def seen_by(self, vv: dict[str, int]) -> bool:
        return sync.seen(vv, self.replica, self.counter)


@dataclass
class Slot:
    """A phone in the machine, and every state it ever held (what a late retry can resend)."""

    user: str
    phone: Phone
    history: list[sync.Record] = field(default_factory=list)


async def _wipe_records() -> None:
    # The users, sessions and devices stay; the clock goes on counting.
    for table in (SearchEntry, AudienceChange, *(kind.table for kind in KINDS.values())):
        await table.delete(force=True)


async def _server_states() -> dict[str, sync.Record]:
    out: dict[str, sync.Record] = {}
    for name in sorted({*RECORDS.values()}):
        table = KINDS[name].table
        for row in await table.select(table.id, table.state):
            out[str(row["id"])] = msgspec.json.decode(row["state"], type=sync.Record)
    return out


async def _clock() -> int:
    return (await SyncClock.select(SyncClock.value).where(SyncClock.id == 1).first())["value"]


class SyncWorld(RuleBasedStateMachine):
    """Phones and the web editing a few shared records through the real server."""

    def __init__(self, env: Env, outcomes: Counter[str]) -> None:
        super().__init__()
        self.env = env
        self.outcomes = outcomes
        env.call(_wipe_records)
        self.slots: list[Slot] = []
        #: What the server must hold: the merge of everything it accepted, in order.
        self.server: dict[str, sync.Record] = {}
        self.edits: list[Edit] = []
        #: (replica, record) -> the highest own counter of a state the replica pushed (answered or not).
        self.pushed: dict[tuple[str, str], int] = {}
        self.wiped: set[str] = set()
        self.phones_made = 0

    # -- helpers ---------------------------------------------------------------------------

    def slot(self, n: int) -> Slot:
        return self.slots[n % len(self.slots)]

    def remember(self, slot: Slot, record_id: str) -> None:
        slot.history.append(slot.phone.states[record_id])

    def push(self, slot: Slot, states: list[sync.Record], *, answer_lost: bool = False) -> None:
        """Push states; every one must be accepted and answered with exactly the merge."""
        phone = slot.phone
        body = {"replica": phone.replica, "records": [msgspec.to_builtins(s) for s in states]}
        response = phone.api.post("/api/v1/sync/push", json=body)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert len(results) == len(states)
        for state, result in zip(states, results, strict=True):
            assert result["status"] == "ok", result
            known = self.server.get(state.id) or sync.new(state.type, state.id)
            expected = sync.merge(known, state)
            assert same(result["record"], expected), f"push answer is not the merge of the server's state and {state}"
            self.server[state.id] = expected
            key = (phone.replica, state.id)
            self.pushed[key] = max(self.pushed.get(key, 0), state.vv.get(phone.replica, 0))
            if not answer_lost:
                phone.states[state.id] = sync.merge(phone.states[state.id], as_record(result["record"]))
                self.remember(slot, state.id)

    def pull(self, slot: Slot, limit: int | None = None) -> list[sync.Record]:
        """Pull to the end; each record is the server's current state, and afterwards the phone
        holds everything the server does."""
        records, gone = slot.phone.pull(limit)
        assert gone == []
        for record in records:
            assert same(record, self.server[record.id]), f"pulled {record}, the server holds {self.server[record.id]}"
            self.remember(slot, record.id)
        for record_id, state in self.server.items():
            local = slot.phone.states.get(record_id)
            assert local is not None and same(sync.merge(local, state), local), f"after a pull the phone lacks {state}"
        return records

    def web(self, who: str, method: str, record_id: str, changes: dict[str, Any] | None = None) -> None:
        """A REST edit or delete, i.e. an edit by the server's replica, checked against the model."""
        type_ = RECORDS[record_id]
        before = self.server.get(record_id)
        live = before is not None and not sync.is_deleted(before)
        response = self.env.as_(who).request(method, f"{PATHS[type_]}/{record_id}", **({"json": changes} if changes else {}))
        if not live:
            assert response.status_code == 404, response.text
            return
        assert response.status_code == (200 if changes else 204), response.text
        assert before is not None
        after = self.env.call(_server_states)[record_id]
        counter = before.vv.get("s", 0) + 1
        written = changes or {sync.DELETED: None}
        t = after.fields[next(iter(written))][0][3]
        expected = sync.edit(before, "s", changes, t) if changes else sync.delete(before, "s", t)
        assert same(after, expected), f"the web's edit stored {after}, expected {expected}"
        self.server[record_id] = after
        values = changes or {sync.DELETED: sync.merge_vv(before.vv, {})}
        self.edits += [Edit(record_id, f, "s", counter, v, dict(before.vv)) for f, v in values.items()]

    def exempt(self, edit: Edit) -> bool:
        """An edit lost with its wiped phone before it was ever pushed."""
        return edit.replica in self.wiped and edit.counter > self.pushed.get((edit.replica, edit.record), 0)

    # -- rules -----------------------------------------------------------------------------

    def new_slot(self, who: str) -> Slot:
        phone = Phone(self.env.as_(who), name=f"{who} phone")
        # Distinct clocks: which sibling shows then never hangs on the random replica ids, so a
        # run replays the same way.
        self.phones_made += 1
        phone.clock += self.phones_made
        return Slot(who, phone)

    @initialize(users=st.lists(st.sampled_from(NORTH_USERS), min_size=3, max_size=5))
    def register_phones(self, users: list[str]) -> None:
        self.slots = [self.new_slot(who) for who in users]

    @rule(n=phone_slots, data=st.data(), count=st.integers(1, 3))
    def phone_edits(self, n: int, data: st.DataObject, count: int) -> None:
        """A few edits in a row, each writing one random field of a random record."""
        slot = self.slot(n)
        for _ in range(count):
            record_id = data.draw(record_ids, label="record")
            type_ = RECORDS[record_id]
            state = slot.phone.states.get(record_id)
            if state is not None and sync.is_deleted(state):
                continue  # a phone shows no deleted records to edit
            name = data.draw(st.sampled_from(sorted(VALUES[type_])), label="field")
            changes = {name: data.draw(st.sampled_from(VALUES[type_][name]), label="value")}
            if state is None:
                # A create writes what the record needs: its name and its team.
                team = self.env.world.users[slot.user].team
                changes = {"name": VALUES[type_]["name"][0], "team": team, **changes}
            elif sync.delete_conflict(state) and data.draw(st.booleans(), label="keep"):
                changes = {sync.DELETED: None}  # settle "deleted by A, edited by B" by keeping it
            context = dict(state.vv) if state else {}
            edited = slot.phone.edit(type_, record_id, **changes)
            counter = edited.vv[slot.phone.replica]
            self.edits += [Edit(record_id, f, slot.phone.replica, counter, v, context) for f, v in changes.items()]
            self.remember(slot, record_id)

    @rule(n=phone_slots, record_id=record_ids)
    def phone_deletes(self, n: int, record_id: str) -> None:
        slot = self.slot(n)
        state = slot.phone.states.get(record_id)
        if state is None or sync.is_deleted(state):
            return
        deleted = slot.phone.delete(record_id)
        vector = sync.merge_vv(state.vv, {})
        self.edits.append(Edit(record_id, sync.DELETED, slot.phone.replica, deleted.vv[slot.phone.replica], vector, dict(state.vv)))
        self.remember(slot, record_id)

    @rule(n=phone_slots, data=st.data(), answer_lost=st.booleans(), stale=st.integers(0, 2))
    def phone_pushes(self, n: int, data: st.DataObject, answer_lost: bool, stale: int) -> None:
        """Push some current states, maybe with old ones a late retry delivers again; maybe the
        answer is lost after the server committed."""
        slot = self.slot(n)
        ids = sorted(slot.phone.states)
        chosen = data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)), label="records") if ids else []
        states = [slot.phone.states[i] for i in chosen]
        if slot.history and stale:
            old = data.draw(st.lists(st.sampled_from(range(len(slot.history))), min_size=1, max_size=stale), label="stale")
            states += [slot.history[i] for i in old]
            states = data.draw(st.permutations(states), label="order")
        if states:
            self.push(slot, states, answer_lost=answer_lost)

    @rule(n=phone_slots, limit=st.sampled_from([None, 1, 2]), page_lost=st.booleans())
    def phone_pulls(self, n: int, limit: int | None, page_lost: bool) -> None:
        slot = self.slot(n)
        if page_lost:
            params = {"limit": limit or 500, **({"after": slot.phone.cursor} if slot.phone.cursor else {})}
            assert slot.phone.api.get("/api/v1/sync/pull", params=params).status_code == 200
        self.pull(slot, limit)

    @rule(who=st.sampled_from(NORTH_USERS), record_id=record_ids, data=st.data())
    def web_edits(self, who: str, record_id: str, data: st.DataObject) -> None:
        type_ = RECORDS[record_id]
        name = data.draw(st.sampled_from(sorted(VALUES[type_])), label="field")
        self.web(who, "PATCH", record_id, {name: data.draw(st.sampled_from(VALUES[type_][name]), label="value")})

    @rule(who=st.sampled_from(NORTH_USERS), record_id=record_ids)
    def web_deletes(self, who: str, record_id: str) -> None:
        self.web(who, "DELETE", record_id)

    @precondition(lambda self: len(self.edits) >= 6 * (len(self.wiped) + 1))
    @rule(n=phone_slots)
    def phone_is_wiped(self, n: int) -> None:
        """The local database is lost, unpushed edits with it; the phone registers afresh."""
        slot = self.slot(n)
        self.wiped.add(slot.phone.replica)
        self.slots[n % len(self.slots)] = self.new_slot(slot.user)

    # -- the end: quiesce, then the invariants ----------------------------------------------

    def teardown(self) -> None:
        if sys.exc_info()[0] is not None or not self.slots:
            return  # a step failed: let its error stand
        for _ in range(2):
            for slot in self.slots:
                if slot.phone.states:
                    self.push(slot, list(slot.phone.states.values()))
            for slot in self.slots:
                self.pull(slot)
        self.describe_outcome()
        self.check_invariant_1_convergence()
        self.check_invariant_2_no_lost_edit()
        self.check_invariant_3_idempotent_push()
        self.check_invariant_6_no_resurrection()

    def describe_outcome(self) -> None:
        """Count what the runs came to, to see that they explore (printed with pytest -s)."""
        states = list(self.server.values())
        self.outcomes["runs"] += 1
        self.outcomes["edits"] += len(self.edits)
        self.outcomes["runs ending with a conflict"] += any(sync.conflicts(s) for s in states)
        self.outcomes["runs ending with a deleted record"] += any(sync.is_deleted(s) for s in states)
        self.outcomes["runs ending with a delete conflict"] += any(sync.delete_conflict(s) for s in states)
        self.outcomes["runs with a record deleted after all its edits"] += bool(self.cleanly_deleted())
        self.outcomes["runs with a phone wiped"] += bool(self.wiped)
        self.outcomes["runs losing unpushed edits with a wipe"] += any(map(self.exempt, self.edits))

    def check_invariant_1_convergence(self) -> None:
        """Every phone, and a phone that pulls from scratch, holds exactly the server's states."""
        server = self.env.call(_server_states)
        assert set(server) == set(self.server) and all(same(server[i], self.server[i]) for i in server)
        fresh = Phone(self.env.as_("manager"), name="fresh phone")
        assert fresh.pull(limit=2)[1] == []
        for phone in [s.phone for s in self.slots] + [fresh]:
            assert set(phone.states) == set(server), f"phone {phone.replica} holds {sorted(phone.states)}"
            for record_id, state in server.items():
                assert same(phone.states[record_id], state), f"phone {phone.replica} holds {phone.states[record_id]}, the server {state}"

    def check_invariant_2_no_lost_edit(self) -> None:
        """Every edit survives as a sibling (alone or in conflict) or was replaced by a pushed edit
        whose replica had seen it; only edits a wiped phone never pushed are gone, and the server
        never knew them."""
        server = self.env.call(_server_states)
        for edit in self.edits:
            state = server.get(edit.record)
            if self.exempt(edit):
                assert state is None or not edit.seen_by(state.vv), f"the server knows {edit}, which was never pushed"
                continue
            assert state is not None and edit.seen_by(state.vv), f"{edit} never reached the server"
            held = [s for s in state.fields.get(edit.field, []) if (s[1], s[2]) == (edit.replica, edit.counter)]
            if held:
                assert same(held[0][0], edit.value), f"{edit} is held with the value {held[0][0]!r}"
                continue
            replacers = [
                e for e in self.edits
                if e.record == edit.record and e.field == edit.field and e is not edit and edit.seen_by(e.context) and not self.exempt(e)
            ]
            assert replacers, f"{edit} is lost: no edit that had seen it replaced it; the server holds {state}"
        for (replica, record_id), counter in self.pushed.items():
            assert sync.seen(server[record_id].vv, replica, counter), f"the server lost {replica}'s pushed edit {counter} of {record_id}"

    def check_invariant_3_idempotent_push(self) -> None:
        """Pushing every state again, as after a lost answer, changes nothing and the next pull is empty."""
        server, clock = self.env.call(_server_states), self.env.call(_clock)
        for slot in self.slots:
            if slot.phone.states:
                self.push(slot, list(slot.phone.states.values()))
        assert self.env.call(_clock) == clock, "a repeated push wrote something"
        assert self.env.call(_server_states) == server
        for slot in self.slots:
            assert self.pull(slot) == []

    def check_invariant_6_no_resurrection(self) -> None:
        """Old states pushed again bring back no delete's victim and undo no later edit."""
        server = self.env.call(_server_states)
        clean = sorted(self.cleanly_deleted())
        for record_id in clean:
            assert sync.is_deleted(server[record_id]), f"{record_id} was deleted after every edit, yet lives: {server[record_id]}"
        for slot in self.slots:
            if slot.history:
                self.push(slot, list(slot.history), answer_lost=True)
        assert self.env.call(_server_states) == server, "an old state changed the server's state"
        for record_id in clean:
            assert self.env.as_("manager").get(f"{PATHS[RECORDS[record_id]]}/{record_id}").status_code == 404
        for slot in self.slots:
            assert self.pull(slot) == []

    def cleanly_deleted(self) -> set[str]:
        """Records with a pushed delete that had seen every other edit that reached the server."""
        out: set[str] = set()
        for delete in self.edits:
            if delete.field != sync.DELETED or delete.value is None or self.exempt(delete):
                continue
            others = [e for e in self.edits if e.record == delete.record and e is not delete and not self.exempt(e)]
            if all(e.seen_by(delete.value) for e in others):
                out.add(delete.record)
        return out


def test_sync_invariants_hold_for_phones_and_the_web_over_a_lossy_network(env: Env) -> None:
    """Invariants 1, 2, 3 and 6, end to end through the server, on SQLite and PostgreSQL."""
    outcomes: Counter[str] = Counter()
    run_state_machine_as_test(lambda: SyncWorld(env, outcomes), settings=MACHINE_SETTINGS)
    print(f"\n{env.settings.database.url.split(':')[0]}: {dict(outcomes)}")
