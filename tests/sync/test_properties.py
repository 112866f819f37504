"""Property tests of the sync core: merge algebra and SYNC.md invariants 1, 2, 3, 5, 6.

Set FIELDBOOK_SOAK=1 for a long soak (well over 10^5 replica operations).
"""

import math
import os
import sys
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sync import record as records
from sync.record import authorship_errors, delete, edit, is_deleted, merge, new
from sync.vv import Order, compare, seen
from sync.wire import Record

SOAK = os.environ.get("FIELDBOOK_SOAK") == "1"

# CI budget: 800 state machine runs of up to 35 steps plus 4 x 350 property
# examples (2,200 examples) in under a minute of CPU. The soak spends its time
# on the machine: 5,000 runs of up to 120 steps (several 10^5 operations).
MACHINE_SETTINGS = settings(
    max_examples=5000 if SOAK else 800,
    stateful_step_count=120 if SOAK else 35,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALGEBRA_SETTINGS = settings(max_examples=3000 if SOAK else 350, deadline=None, database=None)

RECORD_IDS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(2)]
FIELD_NAMES = ["name", "phone", "stage"]
SERVER = "s"


def same(a: Any, b: Any) -> bool:
    """Equal as JSON (Python's == says True == 1); lists must be in the same order."""
    return msgspec.json.encode(a, order="sorted") == msgspec.json.encode(b, order="sorted")


# -- merge algebra over arbitrary states --------------------------------------

replica_ids = st.sampled_from(["a", "b", "c", "s"])
json_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "x", "é"]),
    st.lists(st.integers(0, 1), max_size=2), st.dictionaries(st.sampled_from(["k", "l"]), st.integers(0, 1), max_size=2),
)
siblings = st.tuples(json_values, replica_ids, st.integers(1, 4), st.integers(0, 3))
# Arbitrary, not only reachable, states: the merge keeps a sibling iff every
# input either holds its dot or has not seen it, which is order-free for any
# states, so the algebra must hold even for states no history produces.
any_states = st.builds(
    lambda vv, fields: Record(type="contact", id=RECORD_IDS[0], vv=vv, fields=fields),
    st.dictionaries(replica_ids, st.integers(1, 4), max_size=4),
    st.dictionaries(st.sampled_from(["x", "y", "deleted"]), st.lists(siblings, max_size=3), max_size=3),
)


@ALGEBRA_SETTINGS
@given(any_states, any_states)
def test_merge_is_commutative(a: Record, b: Record) -> None:
    assert same(merge(a, b), merge(b, a))


@ALGEBRA_SETTINGS
@given(any_states, any_states, any_states)
def test_merge_is_associative(a: Record, b: Record, c: Record) -> None:
    assert same(merge(merge(a, b), c), merge(a, merge(b, c)))


@ALGEBRA_SETTINGS
@given(any_states, any_states)
def test_merge_is_idempotent(a: Record, b: Record) -> None:
    ab = merge(a, b)
    assert same(merge(ab, ab), ab)
    assert same(merge(ab, b), ab)
    assert same(merge(a, ab), ab)


def _rule_merge(a: Record, b: Record) -> Record:
    """SYNC.md's merge as its text reads, with no shortcut: the fast merge must agree with it."""
    fields: dict[str, list[Any]] = {}
    for name in set(a.fields) | set(b.fields):
        kept: dict[tuple[str, int], Any] = {}
        for mine, other in ((a, b), (b, a)):
            other_dots = {(s[1], s[2]) for s in other.fields.get(name, [])}
            for s in mine.fields.get(name, []):
                dot = (s[1], s[2])
                if dot in other_dots or not seen(other.vv, *dot):
                    held = kept.get(dot)
                    # One sibling per dot, the greatest (t, JSON of the value) on both sides.
                    key = (s[3], msgspec.json.encode(s[0], order="sorted"))
                    if held is None or key > (held[3], msgspec.json.encode(held[0], order="sorted")):
                        kept[dot] = tuple(s)
        if kept:
            fields[name] = [kept[dot] for dot in sorted(kept)]
    vv = {r: max(a.vv.get(r, 0), b.vv.get(r, 0)) for r in sorted(set(a.vv) | set(b.vv))}
    return Record(type=a.type, id=a.id, vv={r: c for r, c in vv.items() if c > 0}, fields=dict(sorted(fields.items())))


@ALGEBRA_SETTINGS
@given(any_states, any_states)
def test_merge_is_the_rule_as_written(a: Record, b: Record) -> None:
    assert same(merge(a, b), _rule_merge(a, b))
    assert list(merge(a, b).fields) == sorted(merge(a, b).fields)


def _rule_authorship(incoming: Record, known: Record | None, replica: str) -> list[tuple[str, str]]:
    """authorship_errors with no shortcut: every sibling checked against every rule, in order."""
    known_vv = known.vv if known else {}
    known_fields = known.fields if known else {}
    errors = [
        ("vv", f"claims edit {c} of replica {r!r}, which the server has not seen")
        for r, c in sorted(incoming.vv.items())
        if r != replica and c > known_vv.get(r, 0)
    ]
    for name, sibs in sorted(incoming.fields.items()):
        # A stored state holds one sibling per dot; of an arbitrary one's repeats, merge's pick.
        where, held, dots = f"fields.{name}", records._by_dot(known_fields.get(name, [])), []
        for value, r, c, t in sibs:
            problems = [
                (r, c) in dots and f"two siblings share the dot ({r!r}, {c})",
                not seen(incoming.vv, r, c) and f"sibling ({r!r}, {c}) is not seen by the record's own vv",
                r != replica and not seen(known_vv, r, c) and f"sibling ({r!r}, {c}) claims an edit of replica {r!r} that the server has not seen",
                (r, c) in held and not (held[(r, c)][3] == t and records._json_equal(held[(r, c)][0], value))
                and f"dot ({r!r}, {c}) already names a different edit",
            ]
            if name == "deleted" and value is not None:
                if not records._is_vector(value):
                    problems.append("must be null or a version vector")
                elif compare(value, incoming.vv) not in (Order.BEFORE, Order.EQUAL):
                    problems.append("claims edits that the record's vv has not seen")
                elif value.get(r, 0) != c - 1:
                    problems.append(f"is not the vv of replica {r!r} just before its delete")
            errors += [(where, p) for p in problems if p]
            dots.append((r, c))
    for name, sibs in sorted(known_fields.items()):
        theirs = {(s[1], s[2]) for s in incoming.fields.get(name, [])}
        dropped = [s for s in sibs if (s[1], s[2]) not in theirs and seen(incoming.vv, s[1], s[2])]
        if dropped and all(seen(known_vv, *dot) for dot in theirs):
            errors.append((f"fields.{name}", f"drops sibling ({dropped[0][1]!r}, {dropped[0][2]}) without writing the field"))
    return errors


@ALGEBRA_SETTINGS
@given(any_states, any_states, replica_ids)
def test_authorship_is_the_rule_as_written(incoming: Record, known: Record, replica: str) -> None:
    assert authorship_errors(incoming, known, replica) == _rule_authorship(incoming, known, replica)
    assert authorship_errors(incoming, None, replica) == _rule_authorship(incoming, None, replica)
    # An edit of the known state, pushed back: mostly siblings the server already holds.
    edited = edit(known, replica, {"x": "changed"}, 9)
    assert authorship_errors(edited, known, replica) == _rule_authorship(edited, known, replica)


def test_authorship_checks_a_sibling_sent_back_against_the_known_vv_too() -> None:
    # A stored state whose vv lacks a dot it holds (none is stored so, but the check stands).
    known = Record(type="contact", id=RECORD_IDS[0], vv={}, fields={"x": [("v", "b", 1, 0)]})
    incoming = Record(type="contact", id=RECORD_IDS[0], vv={"b": 1}, fields={"x": [("v", "b", 1, 0)]})
    assert authorship_errors(incoming, known, "a") == _rule_authorship(incoming, known, "a") != []


@ALGEBRA_SETTINGS
@given(any_states, any_states)
def test_new_siblings_are_those_whose_dots_the_known_state_has_not_seen(incoming: Record, known: Record) -> None:
    fresh = records.new_siblings(incoming, known)
    expected = {
        name: sorted({(s[1], s[2]) for s in sibs if not seen(known.vv, s[1], s[2])})
        for name, sibs in incoming.fields.items()
    }
    assert {name: [(s[1], s[2]) for s in sibs] for name, sibs in fresh.items()} == {k: v for k, v in expected.items() if v}


_plain_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 1, True]), st.text(max_size=3), st.lists(st.sampled_from(["a", 1, True, 1.0]), max_size=2),
)


@ALGEBRA_SETTINGS
@given(_plain_values, _plain_values)
def test_values_taken_as_identical_have_one_json_text(x: Any, y: Any) -> None:
    if records._identical(x, y):
        assert msgspec.json.encode(x) == msgspec.json.encode(y)
    finite = type(x) is not float or math.isfinite(x)  # NaN and the infinities encode as null
    if type(x) is type(y) and type(x) in (str, int, bool, float) and finite and msgspec.json.encode(x) == msgspec.json.encode(y):
        assert records._identical(x, y)  # decided, not merely "not decided"


def _general_push(incoming: Record, known: Record | None, replica: str) -> tuple[Record, dict[str, list]] | None:
    """What the server finds in three passes; None when the push is refused."""
    if authorship_errors(incoming, known, replica):
        return None
    return merge(known if known is not None else new(incoming.type, incoming.id), incoming), records.new_siblings(incoming, known)


#: The one-pass push is checked against the general path on more examples than the algebra:
#: a shortcut's mistakes hide in rare shapes.
ONE_PASS_SETTINGS = settings(max_examples=10_000 if SOAK else 1500, deadline=None, database=None)


@ONE_PASS_SETTINGS
@given(any_states, any_states, replica_ids, st.sets(st.sampled_from(["x", "y"])), st.booleans())
def test_the_one_pass_push_is_the_general_one_whenever_it_answers(
    incoming: Record, known: Record, replica: str, edited: set[str], as_new: bool
) -> None:
    held = None if as_new else known
    cases = [(incoming, known), (incoming, None)]
    if edited:
        # A phone's edit of the state the server holds, pushed back: the usual push.
        cases.append((edit(known if held is not None else new("deal", RECORD_IDS[1]), replica, {n: "v" for n in edited}, 9), held))
    for pushed, stored in cases:
        fast = records.merge_push(pushed, stored, replica)
        if fast is not None:
            assert fast == _general_push(pushed, stored, replica)


@ALGEBRA_SETTINGS
@given(any_states, replica_ids, st.sets(st.sampled_from(["x", "y", "z"]), min_size=1), st.integers(0, 9))
def test_the_one_pass_push_takes_a_plain_edit_of_a_state_without_conflicts(known: Record, replica: str, edited: set[str], t: int) -> None:
    # Keep one sibling per field, as most stored states hold, and none of `deleted`; values as
    # text (numbers and lists of them, which == cannot tell from booleans, go the long way).
    plain = records._make(
        known.type, known.id, known.vv, {n: [(str(s[0][0]), *s[0][1:])] for n, s in known.fields.items() if n != "deleted" and s}
    )
    stored = Record(type=plain.type, id=plain.id, vv=merge(plain, plain).vv, fields=plain.fields)
    if authorship_errors(stored, stored, replica):
        return  # not a state the server could hold
    pushed = edit(stored, replica, {n: t for n in edited}, t)
    fast = records.merge_push(pushed, stored, replica)
    assert fast is not None
    assert fast == _general_push(pushed, stored, replica)
    created = edit(new("deal", RECORD_IDS[1]), replica, {n: t for n in edited}, t)
    assert records.merge_push(created, None, replica) == _general_push(created, None, replica) is not None


def test_the_one_pass_push_leaves_a_sibling_sent_back_changed_to_the_general_path() -> None:
    known = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"x": [("v", "a", 1, 5)]})
    for changed in [("v", "a", 1, 6), ("w", "a", 1, 5), (1, "a", 1, 5)]:
        pushed = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"x": [changed]})
        assert records.merge_push(pushed, known, "a") is None
        assert _general_push(pushed, known, "a") is None  # the general path names what is wrong
    same = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"x": [("v", "a", 1, 5)]})
    assert records.merge_push(same, known, "a") == _general_push(same, known, "a") == (known, {})
    # Equal by Python's == but not as JSON; a dot the pushed vv has not seen; another replica's
    # dot the server's vv has not (no stored state is so): each the general path refuses.
    one = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"x": [(1, "a", 1, 5)]})
    true = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"x": [(True, "a", 1, 5)]})
    unseen_by_itself = Record(type="deal", id=RECORD_IDS[1], vv={}, fields={"x": [("v", "a", 1, 5)]})
    unseen_by_server = Record(type="deal", id=RECORD_IDS[1], vv={}, fields={"x": [("v", "b", 1, 5)]})
    pushed_back = Record(type="deal", id=RECORD_IDS[1], vv={"b": 1}, fields={"x": [("v", "b", 1, 5)]})
    # The pushing replica's own dot held but not seen by the server's vv: new to the server.
    unseen_own = Record(type="deal", id=RECORD_IDS[1], vv={}, fields={"y": [(None, "a", 1, 0)]})
    own_edit = edit(unseen_own, "a", {"x": "v"}, 9)
    assert records.merge_push(own_edit, unseen_own, "a") is None
    assert _general_push(own_edit, unseen_own, "a") is not None
    for pushed, stored in [(true, one), (unseen_by_itself, known), (pushed_back, unseen_by_server)]:
        assert pushed.fields == stored.fields  # sent back as held, by ==
        assert records.merge_push(pushed, stored, "a") is None
        assert _general_push(pushed, stored, "a") is None
    # Siblings as lists, not the tuples every decoded state holds: the general path makes them
    # canonical. `deleted` sent back as held: the general path checks its shape even then (a
    # malformed one no push could store, found by the soak; and a kept record's null).
    listed = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"x": [["v", "a", 1, 5]]})  # type: ignore[list-item]
    kept = Record(type="deal", id=RECORD_IDS[1], vv={"a": 2}, fields={"deleted": [(None, "a", 2, 6)], "x": [("v", "a", 1, 5)]})
    malformed = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"deleted": [(True, "a", 1, 1)]})
    for pushed in (listed, kept, malformed):
        assert records.merge_push(pushed, pushed, "a") is None
    assert _general_push(kept, kept, "a") == (kept, {})
    assert _general_push(malformed, malformed, "a") is None


def test_the_one_pass_push_leaves_deletes_drops_and_odd_shapes_to_the_general_path() -> None:
    known = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={"x": [("v", "a", 1, 5)]})
    deleted = delete(known, "a", 6)
    bad_delete = Record(type="deal", id=RECORD_IDS[1], vv={"a": 2}, fields={"deleted": [("not a vector", "a", 2, 6)], "x": [("v", "a", 1, 5)]})
    dropped = Record(type="deal", id=RECORD_IDS[1], vv={"a": 1}, fields={})
    listed = Record(type="deal", id=RECORD_IDS[1], vv={"a": 2}, fields={"x": [["w", "a", 2, 6]]})  # type: ignore[list-item]
    for pushed in (deleted, bad_delete, dropped, listed):
        assert records.merge_push(pushed, known, "a") is None
    assert _general_push(deleted, known, "a") is not None  # the general path takes a delete
    assert _general_push(bad_delete, known, "a") is None and _general_push(dropped, known, "a") is None


# -- states reachable by honest replicas --------------------------------------


@st.composite
def honest_histories(draw: st.DrawFn) -> list[Record]:
    """States that replicas a, b, c reach by edits, deletes and merges."""
    held = {r: new("deal", RECORD_IDS[1]) for r in "abc"}
    for _ in range(draw(st.integers(1, 12))):
        r = draw(st.sampled_from("abc"))
        kind = draw(st.sampled_from(["edit", "edit", "delete", "merge"]))
        if kind == "edit":
            names = draw(st.sets(st.sampled_from(["x", "y", "deleted"]), min_size=1))
            held[r] = edit(held[r], r, {n: (None if n == "deleted" else draw(json_values)) for n in names}, draw(st.integers(0, 5)))
        elif kind == "delete":
            held[r] = delete(held[r], r, draw(st.integers(0, 5)))
        else:
            held[r] = merge(held[r], held[draw(st.sampled_from("abc"))])
    return list(held.values())


@ALGEBRA_SETTINGS
@given(honest_histories())
def test_merging_honest_states_gives_an_honest_state_and_reads_consistently(states: list[Record]) -> None:
    m = reduce(merge, states)
    # Every dot is seen by the vv, one sibling per dot, deleted vectors well formed.
    assert authorship_errors(m, m, "a") == []
    inputs = {(n, s[1], s[2]) for state in states for n, sibs in state.fields.items() for s in sibs}
    assert all((n, s[1], s[2]) in inputs for n, sibs in m.fields.items() for s in sibs)
    assert not (records.is_deleted(m) and records.delete_conflict(m))


# -- the replicated system ----------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One edit the model remembers: who, which dot, what it had seen, what it wrote."""

    rid: str
    replica: str
    counter: int
    seen_before: dict[str, int]
    fields: dict[str, Any]
    t: int
    is_delete: bool


@dataclass
class Message:
    kind: str  # "push", "push_reply", "pull", "pull_reply"
    replica: str  # the phone replica that sent it, or that it answers
    states: list[Record] = field(default_factory=list)


@dataclass
class Phone:
    replica: str
    store: dict[str, Record] = field(default_factory=dict)


class SyncSystem(RuleBasedStateMachine):
    """3 to 6 phones and the server over a lossy, duplicating, reordering network."""

    def __init__(self) -> None:
        super().__init__()
        self.phones: list[Phone] = []
        self.server: dict[str, Record] = {}
        self.network: list[Message] = []
        self.edits: list[Edit] = []
        self.history: list[Record] = []  # every distinct state any replica ever held
        self.history_keys: set[bytes] = set()
        self.issued: set[str] = {SERVER}
        self.wiped: set[str] = set()
        self.next_device = 0

    # -- helpers --

    def register(self) -> str:
        # The server never issues a replica id twice.
        replica = f"d{self.next_device}"
        self.next_device += 1
        assert replica not in self.issued
        self.issued.add(replica)
        return replica

    def phone_by_replica(self, replica: str) -> Phone | None:
        return next((p for p in self.phones if p.replica == replica), None)

    def remember(self, state: Record) -> None:
        key = msgspec.json.encode(state)
        if key not in self.history_keys:
            self.history_keys.add(key)
            self.history.append(state)

    def record_edit(self, before: Record, after: Record, replica: str, changes: dict[str, Any], t: int, is_delete: bool) -> None:
        self.edits.append(Edit(after.id, replica, after.vv[replica], dict(before.vv), changes, t, is_delete))
        self.remember(after)

    def hold(self, store: dict[str, Record], state: Record) -> None:
        known = store.get(state.id)
        store[state.id] = merge(known, state) if known is not None else merge(state, state)
        self.remember(store[state.id])

    def server_apply_push(self, replica: str, states: list[Record], honest: bool = True) -> list[Record]:
        """The server's push handler, purely: check authorship, merge, answer.

        Returns the merged states of the accepted records; a rejected record
        stores nothing. Honest replicas must never be rejected.
        """
        assert replica in self.issued
        answers = []
        for state in states:
            known = self.server.get(state.id)
            errors = authorship_errors(state, known, replica)
            if errors:
                assert not honest, f"an honest push was rejected: {errors}"
                continue
            merged = merge(known, state) if known is not None else merge(state, state)
            if known is not None and compare(state.vv, known.vv) in (Order.BEFORE, Order.EQUAL):
                # Invariant 3 (and 6): the same or an older state changes nothing.
                assert same(merged, known), "pushing a state the server had seen changed it"
            self.server[state.id] = merged
            self.remember(merged)
            answers.append(merged)
        return answers

    def deliver(self, msg: Message) -> None:
        if msg.kind == "push":
            self.network.append(Message("push_reply", msg.replica, self.server_apply_push(msg.replica, msg.states)))
        elif msg.kind == "pull":
            self.network.append(Message("pull_reply", msg.replica, list(self.server.values())))
        else:
            phone = self.phone_by_replica(msg.replica)
            if phone is None:
                return  # addressed to a wiped database: nobody hears it
            for state in msg.states:
                self.hold(phone.store, state)

    # -- setup --

    @initialize(n=st.integers(3, 6))
    def start(self, n: int) -> None:
        self.phones = [Phone(self.register()) for _ in range(n)]

    # -- edits --
    # Rules are few and broad so that edits and deliveries make up most steps;
    # wipes, replays, forgeries and quiescence are the rarer kinds of one rule.

    def phone_acts(self, phone: Phone, rid: str, action: str, value: int, t: int) -> None:
        before = phone.store.get(rid)
        if action == "edit":
            before = before or new("contact", rid)
            changes: dict[str, Any] = {FIELD_NAMES[value % len(FIELD_NAMES)]: value}
            if value >= 2:
                changes[FIELD_NAMES[(value + 1) % len(FIELD_NAMES)]] = value
            phone.store[rid] = edit(before, phone.replica, changes, t)
            self.record_edit(before, phone.store[rid], phone.replica, changes, t, False)
        elif action == "delete" and before is not None:
            phone.store[rid] = delete(before, phone.replica, t)
            self.record_edit(before, phone.store[rid], phone.replica, {"deleted": dict(before.vv)}, t, True)
        elif action == "keep" and before is not None and records.delete_conflict(before):
            phone.store[rid] = edit(before, phone.replica, {"deleted": None}, t)
            self.record_edit(before, phone.store[rid], phone.replica, {"deleted": None}, t, False)

    @rule(
        data=st.data(),
        actions=st.lists(
            st.tuples(st.sampled_from(RECORD_IDS), st.sampled_from(["edit", "edit", "edit", "delete", "keep"]),
                      st.integers(0, 3), st.integers(0, 20)),
            min_size=1, max_size=3,
        ),
    )
    def phone_edits_deletes_or_keeps(self, data: st.DataObject, actions: list[tuple[str, str, int, int]]) -> None:
        phone = data.draw(st.sampled_from(self.phones))
        for rid, action, value, t in actions:
            self.phone_acts(phone, rid, action, value, t)

    @rule(rid=st.sampled_from(RECORD_IDS), name=st.sampled_from(FIELD_NAMES), value=st.integers(0, 3), t=st.integers(0, 20))
    def server_edits(self, rid: str, name: str, value: int, t: int) -> None:
        before = self.server.get(rid) or new("contact", rid)
        self.server[rid] = edit(before, SERVER, {name: value}, t)
        self.record_edit(before, self.server[rid], SERVER, {name: value}, t, False)

    # -- network --

    @rule(data=st.data(), kind=st.sampled_from(["push", "push", "pull", "push_answer_lost"]))
    def phone_syncs(self, data: st.DataObject, kind: str) -> None:
        phone = data.draw(st.sampled_from(self.phones))
        if kind == "pull":
            self.network.append(Message("pull", phone.replica))
        elif kind == "push":
            self.network.append(Message("push", phone.replica, list(phone.store.values())))
        else:
            # The server commits the push; its answer never reaches the phone.
            self.server_apply_push(phone.replica, list(phone.store.values()))

    @precondition(lambda self: self.network)
    @rule(data=st.data(), kind=st.sampled_from(["deliver", "deliver", "deliver", "duplicate", "drop"]))
    def network_delivers_duplicates_or_drops(self, data: st.DataObject, kind: str) -> None:
        # Any message, not the oldest: the network reorders.
        i = data.draw(st.integers(0, len(self.network) - 1))
        if kind == "deliver":
            self.deliver(self.network.pop(i))
        elif kind == "duplicate":
            self.network.append(self.network[i])
        else:
            self.network.pop(i)

    # -- rarer events --

    @rule(data=st.data(), kind=st.sampled_from(["wipe", "replay_old_state", "forgery", "forgery", "quiesce"]))
    def rare_event(self, data: st.DataObject, kind: str) -> None:
        if kind == "wipe":
            self.phone_is_wiped_and_registers_again(data)
        elif kind == "replay_old_state":
            self.old_state_pushed_again_changes_nothing(data)
        elif kind == "forgery":
            self.forged_push_is_rejected(data)
        else:
            self.quiesce_and_check()

    def phone_is_wiped_and_registers_again(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.phones) - 1))
        self.wiped.add(self.phones[i].replica)
        self.phones[i] = Phone(self.register())

    def old_state_pushed_again_changes_nothing(self, data: st.DataObject) -> None:
        if not self.history:
            return
        old = self.history[data.draw(st.integers(0, len(self.history) - 1))]
        known = self.server.get(old.id)
        if known is None or compare(old.vv, known.vv) not in (Order.BEFORE, Order.EQUAL):
            return  # not older than the server's state
        was_deleted = is_deleted(known)
        self.server_apply_push(data.draw(st.sampled_from(self.phones)).replica, [old])
        assert same(self.server[old.id], known)
        assert is_deleted(self.server[old.id]) == was_deleted

    def forged_push_is_rejected(self, data: st.DataObject) -> None:
        if not self.server:
            return
        kind = data.draw(st.sampled_from(["foreign_dot", "vv_claim", "deleted_claim", "erase"]))
        rid = data.draw(st.sampled_from(sorted(self.server)))
        known = self.server[rid]
        me = data.draw(st.sampled_from(self.phones)).replica
        victim = data.draw(st.sampled_from(sorted(self.issued - {me})))
        forged_counter = known.vv.get(victim, 0) + 1
        if kind == "foreign_dot":
            # An edit written under another replica's name.
            forged = Record(known.type, known.id, {**known.vv, victim: forged_counter},
                            {**known.fields, "forged": [("forged", victim, forged_counter, 0)]})
        elif kind == "vv_claim":
            # Claims to have seen an edit that does not exist.
            forged = Record(known.type, known.id, {**known.vv, victim: forged_counter}, known.fields)
        elif kind == "deleted_claim":
            forged = edit(known, me, {"deleted": {**known.vv, victim: forged_counter}}, 0)
        else:
            # Erases another replica's sibling without writing the field.
            foreign = [n for n, sibs in known.fields.items() if any(s[1] != me for s in sibs)]
            if not foreign:
                return
            forged = Record(known.type, known.id, known.vv, {n: v for n, v in known.fields.items() if n != foreign[0]})
        accepted = self.server_apply_push(me, [forged], honest=False)
        assert accepted == [], f"forgery {kind} accepted"
        assert same(self.server[rid], known)

    # -- quiescence --

    def quiesce(self) -> None:
        # Deliver everything still in flight, in order, without loss.
        while self.network:
            self.deliver(self.network.pop(0))
        # Then every phone pushes and pulls until nothing changes.
        for _ in range(4):
            before = [dict(p.store) for p in self.phones], dict(self.server)
            for phone in self.phones:
                for state in self.server_apply_push(phone.replica, list(phone.store.values())):
                    self.hold(phone.store, state)
            for phone in self.phones:
                for state in list(self.server.values()):
                    self.hold(phone.store, state)
            if same(before, ([dict(p.store) for p in self.phones], dict(self.server))):
                break
        else:
            raise AssertionError("push and pull did not reach a fixpoint")

    def check_convergence(self) -> None:
        # Invariant 1: every replica holds the same state of every record.
        for phone in self.phones:
            assert same(dict(sorted(phone.store.items())), dict(sorted(self.server.items()))), "replicas diverged"

    def check_idempotent_push(self) -> None:
        # Invariant 3: pushing every state again, twice, changes nothing.
        frozen = msgspec.json.encode(dict(sorted(self.server.items())))
        for phone in self.phones * 2:
            self.server_apply_push(phone.replica, list(phone.store.values()))
        assert msgspec.json.encode(dict(sorted(self.server.items()))) == frozen

    def check_no_lost_edit(self) -> None:
        # Invariant 2: every edit's sibling survives, or an edit that had seen
        # it replaced it, or it stands as a conflict sibling (also "survives").
        # Only a wiped phone's edits that never left it may be missing.
        for e in self.edits:
            final = self.server.get(e.rid)
            if final is None or not seen(final.vv, e.replica, e.counter):
                assert e.replica in self.wiped, f"edit {e} never arrived"
                continue
            for name, value in e.fields.items():
                held = [s for s in final.fields.get(name, []) if (s[1], s[2]) == (e.replica, e.counter)]
                if held:
                    assert same(held[0], (value, e.replica, e.counter, e.t)), "a sibling changed"
                    continue
                assert any(
                    name in later.fields
                    and later.rid == e.rid
                    and seen(later.seen_before, e.replica, e.counter)
                    and seen(final.vv, later.replica, later.counter)
                    for later in self.edits
                ), f"edit {e} lost field {name} with nobody having seen it"

    def check_only_real_unreplaced_siblings(self) -> None:
        # No invented sibling, and none that an arrived edit had replaced.
        for rid, final in self.server.items():
            arrived = [e for e in self.edits if e.rid == rid and seen(final.vv, e.replica, e.counter)]
            for name, sibs in final.fields.items():
                for value, r, c, t in sibs:
                    assert any(
                        (e.replica, e.counter, e.t) == (r, c, t) and name in e.fields and same(e.fields[name], value)
                        for e in arrived
                    ), "a sibling no edit wrote"
                    assert not any(
                        name in e.fields and seen(e.seen_before, r, c) for e in arrived
                    ), "a replaced sibling came back"

    def check_no_resurrection(self) -> None:
        # Invariant 6: any older state merged again changes nothing, and the
        # deleted/alive reading follows from who had seen what.
        for old in self.history:
            final = self.server.get(old.id)
            if final is not None and compare(old.vv, final.vv) in (Order.BEFORE, Order.EQUAL):
                assert same(merge(final, old), final), "an old state changed the merged state"
        for rid, final in self.server.items():
            arrived = [e for e in self.edits if e.rid == rid and seen(final.vv, e.replica, e.counter)]
            deletes = [e for e in arrived if e.is_delete]
            for d in deletes:
                if all(e is d or seen(d.seen_before, e.replica, e.counter) for e in arrived):
                    assert is_deleted(final), "a delete that saw every edit did not delete"
            for e in arrived:
                writes_other = any(n != "deleted" for n in e.fields)
                if writes_other and not any(seen(d.seen_before, e.replica, e.counter) for d in deletes):
                    assert not is_deleted(final), "a record was deleted over an edit no delete had seen"

    def quiesce_and_check(self) -> None:
        self.quiesce()
        self.check_convergence()
        self.check_no_lost_edit()
        self.check_only_real_unreplaced_siblings()
        self.check_no_resurrection()
        self.check_idempotent_push()

    @invariant()
    def server_states_are_consistent(self) -> None:
        for state in self.server.values():
            assert authorship_errors(state, state, SERVER) == []

    final_checks = 0

    def teardown(self) -> None:
        # Every run ends quiesced and checked, unless a step already failed:
        # then its error is the one to report, not a second one from here.
        if self.phones and sys.exc_info()[1] is None:
            self.quiesce_and_check()
            SyncSystem.final_checks += 1


def test_replicas_converge_lose_no_edit_push_idempotently_and_never_resurrect() -> None:
    SyncSystem.final_checks = 0
    run_state_machine_as_test(SyncSystem, settings=MACHINE_SETTINGS)
    assert SyncSystem.final_checks >= MACHINE_SETTINGS.max_examples // 2
