"""Runs the shared merge vectors of tests/sync_vectors/ against the Python merge."""

import itertools
import json
from functools import reduce
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

from sync import record as records
from sync.wire import Record

VECTORS = Path(__file__).resolve().parent.parent / "sync_vectors"
CASE_FILES = sorted(VECTORS.glob("*.json"))


class Op(msgspec.Struct, forbid_unknown_fields=True):
    op: Literal["edit", "delete", "merge"]
    from_: str | list[str] = msgspec.field(name="from")
    as_: str = msgspec.field(name="as")
    replica: str | None = None
    t: int | None = None
    fields: dict[str, Any] | None = None


class Ident(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    id: str


class Expect(msgspec.Struct, forbid_unknown_fields=True):
    state: Record
    visible: dict[str, Any]
    is_deleted: bool
    conflicts: list[str]
    delete_conflict: bool


class Case(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str
    record: Ident
    merge: list[str]
    expect: Expect
    states: dict[str, Record] = {}
    ops: list[Op] = []
    expect_states: dict[str, Record] = {}


def load(path: Path) -> Case:
    return msgspec.json.decode(path.read_bytes(), type=Case)


def json_value(x: Any) -> bytes:
    # Compare as JSON, not with Python's ==, for which True == 1 and key
    # order inside values would matter the wrong way round.
    return msgspec.json.encode(x, order="sorted")


def assert_canonical_equal(got: Record, want: Record) -> None:
    assert json_value(got) == json_value(want)
    assert list(got.vv) == sorted(got.vv)
    assert list(got.fields) == sorted(got.fields)


def merge_all(states: list[Record]) -> Record:
    # The merge of a single state is that state merged with itself: its
    # canonical form.
    return reduce(records.merge, states if len(states) > 1 else states * 2)


def run_ops(case: Case) -> dict[str, Record]:
    named: dict[str, Record] = {"new": records.new(case.record.type, case.record.id), **case.states}
    for op in case.ops:
        assert op.as_ not in named, f"{op.as_} named twice"
        if op.op == "merge":
            assert isinstance(op.from_, list)
            named[op.as_] = merge_all([named[n] for n in op.from_])
        elif op.op == "edit":
            assert isinstance(op.from_, str) and op.replica and op.t is not None and op.fields
            named[op.as_] = records.edit(named[op.from_], op.replica, op.fields, op.t)
        else:
            assert isinstance(op.from_, str) and op.replica and op.t is not None
            named[op.as_] = records.delete(named[op.from_], op.replica, op.t)
    return named


@pytest.fixture(params=CASE_FILES, ids=lambda p: p.stem)
def case(request: pytest.FixtureRequest) -> Case:
    return load(request.param)


def test_there_are_at_least_forty_vectors() -> None:
    assert len(CASE_FILES) >= 40


def test_vector_is_well_formed(case: Case) -> None:
    path = VECTORS / f"{case.name}.json"
    assert path.exists(), "name must equal the file name"
    assert case.merge, "a case merges at least one state"
    want = case.expect.state
    assert (want.type, want.id) == (case.record.type, case.record.id)
    assert list(want.vv) == sorted(want.vv) and all(c >= 1 for c in want.vv.values())
    assert list(want.fields) == sorted(want.fields)
    for sibs in want.fields.values():
        assert sibs and [(s[1], s[2]) for s in sibs] == sorted((s[1], s[2]) for s in sibs)
    assert case.expect.conflicts == sorted(case.expect.conflicts)
    # The raw file must not hold floats with integer values, which JavaScript
    # would read as integers.
    def walk(x: Any) -> None:
        if isinstance(x, float):
            assert not x.is_integer(), f"float {x} reads differently in JavaScript"
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(json.loads(path.read_text("utf-8")))


def test_vector_intermediate_states(case: Case) -> None:
    named = run_ops(case)
    for name, want in case.expect_states.items():
        assert_canonical_equal(named[name], want)


def test_vector_merges_to_expected_state_in_every_order(case: Case) -> None:
    named = run_ops(case)
    inputs = [named[n] for n in case.merge]
    want = case.expect.state
    for perm in itertools.permutations(inputs):
        assert_canonical_equal(merge_all(list(perm)), want)
        assert_canonical_equal(merge_all(list(perm)[::-1]), want)
        right_fold = reduce(lambda acc, s: records.merge(s, acc), perm[-2::-1], perm[-1])
        assert_canonical_equal(records.merge(right_fold, right_fold), want)
    for state in inputs:
        assert_canonical_equal(records.merge(want, state), want)


def test_vector_expected_reading(case: Case) -> None:
    named = run_ops(case)
    merged = merge_all([named[n] for n in case.merge])
    e = case.expect
    assert json_value(records.visible(merged)) == json_value(e.visible)
    assert records.is_deleted(merged) is e.is_deleted
    assert sorted(records.conflicts(merged)) == e.conflicts
    assert records.delete_conflict(merged) is e.delete_conflict
