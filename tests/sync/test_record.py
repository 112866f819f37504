"""Unit tests of sync.record (the merge) and sync.wire (the wire Structs)."""

import copy
from typing import Any

import msgspec
import pytest

from sync import record as records
from sync.record import (
    authorship_errors,
    conflicts,
    delete,
    delete_conflict,
    edit,
    is_deleted,
    merge,
    new,
    new_siblings,
    visible,
)
from sync.wire import DeviceCreate, PushBody, PushResult, Record

RID = "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e"


def rec(vv: dict[str, int], fields: dict[str, list[Any]], type_: str = "contact") -> Record:
    return Record(type=type_, id=RID, vv=vv, fields={k: [tuple(s) for s in v] for k, v in fields.items()})  # type: ignore[arg-type]


def base() -> Record:
    return edit(new("contact", RID), "a", {"name": "Ada", "phone": "1"}, 1000)


# -- new / edit / delete ----------------------------------------------------


def test_new_record_is_empty() -> None:
    r = new("deal", RID)
    assert (r.type, r.id, r.vv, r.fields) == ("deal", RID, {}, {})


def test_new_rejects_an_unknown_type() -> None:
    with pytest.raises(ValueError):
        new("lead", RID)


def test_edit_increments_the_editors_counter_and_gives_each_field_that_dot() -> None:
    r = edit(base(), "b", {"phone": "2", "email": "e"}, 5000)
    assert r.vv == {"a": 1, "b": 1}
    assert r.fields["phone"] == [("2", "b", 1, 5000)]
    assert r.fields["email"] == [("e", "b", 1, 5000)]
    assert r.fields["name"] == [("Ada", "a", 1, 1000)]


def test_edit_replaces_every_sibling_of_a_written_field() -> None:
    conflicted = rec({"a": 2, "b": 1}, {"name": [["A", "a", 2, 10], ["B", "b", 1, 20]]})
    r = edit(conflicted, "a", {"name": "AB"}, 30)
    assert r.fields["name"] == [("AB", "a", 3, 30)]
    assert conflicts(r) == {}


def test_edit_does_not_mutate_its_input() -> None:
    r = base()
    snapshot = copy.deepcopy(r)
    edit(r, "a", {"name": "X"}, 2000)
    assert r == snapshot


def test_edit_rejects_empty_changes() -> None:
    with pytest.raises(ValueError):
        edit(base(), "a", {}, 1)


@pytest.mark.parametrize("name", ["Name", "", "a-b", "x" * 65, "ok\n"])
def test_edit_rejects_a_bad_field_name(name: str) -> None:
    with pytest.raises(ValueError):
        edit(base(), "a", {name: 1}, 1)


@pytest.mark.parametrize("replica", ["", "a b", "x" * 65, "é"])
def test_edit_rejects_a_bad_replica_id(replica: str) -> None:
    with pytest.raises(ValueError):
        edit(base(), replica, {"name": 1}, 1)


@pytest.mark.parametrize("now", [-1, 1.5, True])
def test_edit_rejects_a_bad_time(now: Any) -> None:
    with pytest.raises(ValueError):
        edit(base(), "a", {"name": 1}, now)


def test_edit_returns_a_canonical_state() -> None:
    messy = rec({"b": 1, "a": 2}, {"z": [["B", "b", 1, 1], ["A", "a", 2, 1]], "y": []})
    r = edit(messy, "c", {"m": 1}, 5)
    assert list(r.vv) == ["a", "b", "c"]
    assert list(r.fields) == ["m", "z"]
    assert r.fields["z"] == [("A", "a", 2, 1), ("B", "b", 1, 1)]


def test_delete_writes_the_vv_from_just_before_it_and_nothing_else() -> None:
    before = edit(base(), "b", {"phone": "2"}, 2000)
    r = delete(before, "a", 3000)
    assert r.vv == {"a": 2, "b": 1}
    assert r.fields["deleted"] == [({"a": 1, "b": 1}, "a", 2, 3000)]
    assert {k: v for k, v in r.fields.items() if k != "deleted"} == before.fields
    assert is_deleted(r)


def test_delete_of_a_never_edited_record_writes_the_empty_vector() -> None:
    r = delete(new("task", RID), "a", 7)
    assert r.fields == {"deleted": [({}, "a", 1, 7)]}
    assert is_deleted(r)


# -- merge ------------------------------------------------------------------


def test_merge_refuses_two_different_records() -> None:
    other = Record(type="contact", id=RID.replace("6e", "6f"), vv={}, fields={})
    with pytest.raises(ValueError):
        merge(base(), other)
    with pytest.raises(ValueError):
        merge(base(), Record(type="deal", id=RID, vv={}, fields={}))


def test_merge_keeps_both_siblings_of_concurrent_writes() -> None:
    a = edit(base(), "a", {"name": "A"}, 2000)
    b = edit(base(), "b", {"name": "B"}, 1500)
    m = merge(a, b)
    assert m.fields["name"] == [("A", "a", 2, 2000), ("B", "b", 1, 1500)]
    assert m.vv == {"a": 2, "b": 1}


def test_merge_drops_a_sibling_that_the_other_state_saw_and_replaced() -> None:
    a = base()
    b = edit(a, "b", {"name": "B"}, 1500)
    assert merge(a, b).fields["name"] == [("B", "b", 1, 1500)]
    assert merge(b, a).fields["name"] == [("B", "b", 1, 1500)]


def test_merge_keeps_a_sibling_both_states_hold() -> None:
    a = base()
    b = edit(a, "b", {"email": "e"}, 1500)
    assert merge(a, b).fields["name"] == [("Ada", "a", 1, 1000)]


def test_merge_keeps_a_sibling_the_other_state_has_not_seen_even_if_older_in_time() -> None:
    a = edit(base(), "a", {"name": "old clock"}, 10)
    b = edit(base(), "b", {"name": "new clock"}, 99999)
    assert ("old clock", "a", 2, 10) in merge(a, b).fields["name"]


def test_merge_does_not_mutate_its_inputs() -> None:
    a = edit(base(), "a", {"name": "A"}, 2000)
    b = edit(base(), "b", {"name": "B"}, 1500)
    sa, sb = copy.deepcopy(a), copy.deepcopy(b)
    merge(a, b)
    assert (a, b) == (sa, sb)


def test_merge_returns_a_canonical_state_from_messy_inputs() -> None:
    messy = rec({"s": 4, "d": 2}, {"phone": [["2", "s", 4, 5], ["1", "d", 2, 6]], "empty": []})
    m = merge(messy, new("contact", RID))
    assert list(m.vv) == ["d", "s"]
    assert list(m.fields) == ["phone"]
    assert m.fields["phone"] == [("1", "d", 2, 6), ("2", "s", 4, 5)]


def test_merge_with_itself_changes_nothing() -> None:
    m = merge(edit(base(), "a", {"name": "A"}, 2), edit(base(), "b", {"name": "B"}, 3))
    assert merge(m, m) == m


def test_merge_picks_the_same_sibling_for_a_dot_holding_two_contents_whatever_the_order() -> None:
    # Never produced by honest replicas; the merge must still converge.
    x = rec({"a": 1}, {"name": [["X", "a", 1, 5]]})
    y = rec({"a": 1}, {"name": [["Y", "a", 1, 5]]})
    z = rec({"a": 1}, {"name": [["Z", "a", 1, 4]]})
    results = {msgspec.json.encode(merge(merge(p, q), r)) for p, q, r in [(x, y, z), (z, y, x), (y, z, x), (x, z, y)]}
    assert len(results) == 1


# -- reading a state --------------------------------------------------------


def test_visible_takes_the_greatest_t() -> None:
    r = rec({"a": 2, "b": 1}, {"name": [["A", "a", 2, 900], ["B", "b", 1, 1000]]})
    assert visible(r) == {"name": "B"}


def test_visible_breaks_a_tie_in_t_by_replica_then_counter() -> None:
    assert visible(rec({"a": 1, "b": 1}, {"x": [["A", "a", 1, 5], ["B", "b", 1, 5]]})) == {"x": "B"}
    assert visible(rec({"a": 3}, {"x": [["three", "a", 3, 5], ["two", "a", 2, 5]]})) == {"x": "three"}


def test_visible_includes_deleted() -> None:
    assert visible(delete(base(), "a", 5))["deleted"] == {"a": 1}


def test_is_deleted_is_false_for_a_live_record() -> None:
    assert not is_deleted(base())
    assert not is_deleted(edit(base(), "a", {"deleted": None}, 5))


def test_a_concurrent_edit_keeps_a_deleted_record_alive_as_a_delete_conflict() -> None:
    d = delete(base(), "a", 3000)
    e = edit(base(), "b", {"phone": "2"}, 2000)
    m = merge(d, e)
    assert not is_deleted(m)
    assert delete_conflict(m)


def test_keeping_settles_a_delete_conflict() -> None:
    m = merge(delete(base(), "a", 3000), edit(base(), "b", {"phone": "2"}, 2000))
    kept = edit(m, "b", {"deleted": None}, 4000)
    assert not is_deleted(kept) and not delete_conflict(kept)


def test_deleting_again_settles_a_delete_conflict() -> None:
    m = merge(delete(base(), "a", 3000), edit(base(), "b", {"phone": "2"}, 2000))
    again = delete(m, "b", 4000)
    assert is_deleted(again) and not delete_conflict(again)


def test_an_edit_the_delete_had_seen_does_not_keep_it_alive() -> None:
    e = edit(base(), "b", {"phone": "2"}, 2000)
    d = delete(merge(base(), e), "a", 3000)
    assert is_deleted(merge(d, e)) and is_deleted(merge(e, d))


@pytest.mark.parametrize("value", [True, "yes", [1], {"a": "1"}, {"a": 0}])
def test_a_malformed_deleted_value_reads_as_live(value: Any) -> None:
    r = rec({"a": 1}, {"deleted": [[value, "a", 1, 5]]})
    assert not is_deleted(r) and not delete_conflict(r)


def test_conflicts_lists_fields_with_two_or_more_siblings() -> None:
    r = rec({"a": 2, "b": 1}, {"name": [["A", "a", 2, 1], ["B", "b", 1, 1]], "phone": [["1", "a", 1, 1]]})
    assert conflicts(r) == {"name": [("A", "a", 2, 1), ("B", "b", 1, 1)]}


def test_no_conflict_and_no_delete_conflict_on_a_fresh_record() -> None:
    assert conflicts(base()) == {} and not delete_conflict(base())


# -- authorship (SYNC.md invariant 5) ---------------------------------------


def server_state() -> Record:
    """The server holds a record created by phone a and edited by the server."""
    return edit(base(), "s", {"stage": "lead"}, 1500)


def fields_of(errors: list[tuple[str, str]]) -> set[str]:
    return {f for f, _ in errors}


def test_an_honest_new_record_is_accepted() -> None:
    assert authorship_errors(base(), None, "a") == []


def test_an_honest_edit_on_top_of_the_servers_state_is_accepted() -> None:
    pushed = edit(delete(server_state(), "a", 2000), "a", {"deleted": None}, 2500)
    assert authorship_errors(pushed, server_state(), "a") == []


def test_an_older_state_pushed_again_is_accepted() -> None:
    assert authorship_errors(base(), server_state(), "a") == []


def test_another_replicas_known_siblings_may_be_pushed_back() -> None:
    pushed = edit(server_state(), "b", {"email": "e"}, 2000)
    assert authorship_errors(pushed, server_state(), "b") == []


def test_a_forged_dot_of_another_replica_is_rejected() -> None:
    known = server_state()
    forged = rec({"a": 1, "s": 2}, {"name": [["Ada", "a", 1, 1000]], "phone": [["1", "a", 1, 1000]],
                                     "stage": [["won", "s", 2, 9999]]})
    errors = authorship_errors(forged, known, "a")
    assert "fields.stage" in fields_of(errors)
    assert "vv" in fields_of(errors)


def test_a_forged_dot_on_a_new_record_is_rejected() -> None:
    forged = edit(new("contact", RID), "s", {"name": "x"}, 1)
    assert {"vv", "fields.name"} <= fields_of(authorship_errors(forged, None, "a"))


def test_a_vv_claiming_unseen_edits_of_another_replica_is_rejected() -> None:
    known = server_state()
    claim = Record(type=known.type, id=known.id, vv={**known.vv, "s": 7, "zz": 1}, fields=known.fields)
    errors = authorship_errors(claim, known, "a")
    assert fields_of(errors) == {"vv"}
    assert len(errors) == 2


def test_a_vv_may_claim_any_edit_of_the_pushing_replica() -> None:
    known = server_state()
    ahead = Record(type=known.type, id=known.id, vv={**known.vv, "a": 9}, fields=known.fields)
    assert authorship_errors(ahead, known, "a") == []


def test_an_own_sibling_not_seen_by_the_states_own_vv_is_rejected() -> None:
    inconsistent = rec({"a": 1}, {"name": [["Ada", "a", 1, 1000]], "phone": [["2", "a", 2, 2000]]})
    assert fields_of(authorship_errors(inconsistent, None, "a")) == {"fields.phone"}


def test_two_siblings_with_one_dot_are_rejected() -> None:
    twice = rec({"a": 1}, {"name": [["A", "a", 1, 1], ["B", "a", 1, 1]]})
    assert "fields.name" in fields_of(authorship_errors(twice, None, "a"))


def test_reusing_a_known_dot_for_different_content_is_rejected() -> None:
    known = base()
    reused = rec({"a": 1}, {"name": [["Eve", "a", 1, 1000]], "phone": [["1", "a", 1, 1000]]})
    assert fields_of(authorship_errors(reused, known, "a")) == {"fields.name"}


def test_a_known_number_read_back_as_another_number_type_is_the_same_value() -> None:
    # A JavaScript phone turns 1.0 into 1; that is not a different edit.
    known = edit(new("deal", RID), "s", {"amount": 1.0}, 5)
    back = rec({"s": 1}, {"amount": [[1, "s", 1, 5]]}, type_="deal")
    assert authorship_errors(back, known, "a") == []
    flipped = rec({"s": 1}, {"amount": [[True, "s", 1, 5]]}, type_="deal")
    assert authorship_errors(flipped, known, "a") != []


def test_dropping_another_replicas_sibling_without_writing_the_field_is_rejected() -> None:
    known = server_state()
    erased = Record(type=known.type, id=known.id, vv=known.vv,
                    fields={k: v for k, v in known.fields.items() if k != "stage"})
    assert fields_of(authorship_errors(erased, known, "a")) == {"fields.stage"}


def test_replacing_another_replicas_sibling_by_writing_the_field_is_accepted() -> None:
    known = server_state()
    assert authorship_errors(edit(known, "a", {"stage": "won"}, 2000), known, "a") == []


@pytest.mark.parametrize("value", [{"s": 9}, {"zz": 1}])
def test_a_deleted_vector_claiming_unseen_edits_is_rejected(value: dict[str, int]) -> None:
    known = server_state()
    fake = Record(type=known.type, id=known.id, vv={"a": 2, "s": 2},
                  fields={**known.fields, "deleted": [({**known.vv, **value}, "a", 2, 3000)]})
    assert "fields.deleted" in fields_of(authorship_errors(fake, known, "a"))


@pytest.mark.parametrize("value", ["yes", 1, [], {"s": 0}, {"s": True}, {"bad id": 1}])
def test_a_deleted_value_that_is_not_null_or_a_vector_is_rejected(value: Any) -> None:
    r = rec({"a": 1}, {"deleted": [[value, "a", 1, 5]]})
    assert fields_of(authorship_errors(r, None, "a")) == {"fields.deleted"}


def test_a_deleted_vector_that_includes_its_own_delete_is_rejected() -> None:
    r = rec({"a": 1}, {"deleted": [[{"a": 1}, "a", 1, 5]]})
    assert fields_of(authorship_errors(r, None, "a")) == {"fields.deleted"}


def test_an_honest_delete_is_accepted() -> None:
    known = server_state()
    assert authorship_errors(delete(known, "a", 3000), known, "a") == []


def test_authorship_refuses_to_compare_two_different_records() -> None:
    with pytest.raises(ValueError):
        authorship_errors(base(), new("deal", RID), "a")


# -- new_siblings ----------------------------------------------------------


def test_new_siblings_of_a_new_record_are_all_its_siblings() -> None:
    assert new_siblings(base(), None) == base().fields


def test_new_siblings_are_only_those_the_server_has_not_seen() -> None:
    known = server_state()
    pushed = edit(merge(known, edit(base(), "a", {"phone": "2"}, 1200)), "a", {"email": "e"}, 1300)
    assert new_siblings(pushed, known) == {"phone": [("2", "a", 2, 1200)], "email": [("e", "a", 3, 1300)]}


def test_new_siblings_of_an_old_state_are_none() -> None:
    assert new_siblings(base(), server_state()) == {}


# -- wire -----------------------------------------------------------------

EXAMPLE = b"""{"replica": "d7f3a2", "records": [{
  "type": "contact", "id": "0192f0f2-6f3e-7c1a-9d7e-3b1f2a4c5d6e",
  "vv": {"s": 4, "d7f3a2": 2},
  "fields": {
    "name":    [["Ada Lovelace", "d7f3a2", 1, 1763800000000]],
    "phone":   [["+44 20 7946 0001", "d7f3a2", 2, 1763800100000],
                ["+44 20 7946 0002", "s", 4, 1763800050000]],
    "deleted": [[null, "d7f3a2", 1, 1763800000000]]}}]}"""


def test_the_sync_md_example_decodes() -> None:
    body = msgspec.json.decode(EXAMPLE, type=PushBody)
    r = body.records[0]
    assert r.vv == {"s": 4, "d7f3a2": 2}
    assert r.fields["phone"][1] == ("+44 20 7946 0002", "s", 4, 1763800050000)
    assert visible(r)["phone"] == "+44 20 7946 0001"


def test_a_record_round_trips_through_json() -> None:
    r = merge(delete(base(), "a", 3000), edit(base(), "b", {"phone": {"n": [1, None]}}, 2000))
    assert msgspec.json.decode(msgspec.json.encode(r), type=Record) == r


@pytest.mark.parametrize(
    ("old", "new_", "where"),
    [
        (b'"replica": "d7f3a2"', b'"replica": "d7 f3"', "$.replica"),
        (b'"replica": "d7f3a2"', b'"replica": "d7f3a2\\n"', "$.replica"),
        (b'"type": "contact"', b'"type": "lead"', "$.records[0].type"),
        (b'6e",', b'6E",', "$.records[0].id"),
        (b'"name":', b'"Name":', "$.records[0].fields"),
        (b'{"s": 4,', b'{"s": 0,', "$.records[0].vv"),
        (b'{"s": 4,', b'{"s": "4",', "$.records[0].vv"),
        (b'"s", 4, 1763800050000]', b'"s", 0, 1763800050000]', "$.records[0].fields"),
        (b'"s", 4, 1763800050000]', b'"s", 4, -1]', "$.records[0].fields"),
        (b'"s", 4, 1763800050000]', b'"s", 4]', "$.records[0].fields"),
        (b'"s", 4, 1763800050000]', b'"s s", 4, 1]', "$.records[0].fields"),
        (b'"vv":', b'"extra": 1, "vv":', "$.records[0]"),
        (b'"replica": "d7f3a2",', b'"replica": "d7f3a2", "x": 1,', "unknown field `x`"),
    ],
)
def test_a_malformed_push_fails_decoding_naming_the_place(old: bytes, new_: bytes, where: str) -> None:
    bad = EXAMPLE.replace(old, new_, 1)
    assert bad != EXAMPLE
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.json.decode(bad, type=PushBody)
    assert where in str(info.value)


def test_a_push_of_more_than_a_thousand_records_is_refused() -> None:
    one = msgspec.json.decode(EXAMPLE, type=PushBody).records[0]
    ok = msgspec.json.encode(PushBody(replica="d", records=[one] * 1000))
    msgspec.json.decode(ok, type=PushBody)
    too_many = msgspec.json.encode(PushBody(replica="d", records=[one] * 1001))
    with pytest.raises(msgspec.ValidationError, match=r"\$\.records"):
        msgspec.json.decode(too_many, type=PushBody)


def test_a_push_result_leaves_out_what_it_does_not_carry() -> None:
    assert msgspec.json.decode(msgspec.json.encode(PushResult(type="contact", id=RID, status="rejected", errors=[]))) == {
        "type": "contact", "id": RID, "status": "rejected", "errors": []}
    assert set(msgspec.json.decode(msgspec.json.encode(PushResult(type="contact", id=RID, status="ok", record=base())))) == {
        "type", "id", "status", "record"}


def test_a_device_name_is_optional_and_at_most_100_characters() -> None:
    assert msgspec.json.decode(b"{}", type=DeviceCreate).name is None
    assert msgspec.json.decode(b'{"name": "Pixel 8"}', type=DeviceCreate).name == "Pixel 8"
    with pytest.raises(msgspec.ValidationError, match=r"\$\.name"):
        msgspec.json.decode(msgspec.json.encode({"name": "x" * 101}), type=DeviceCreate)


def test_records_module_reexports_match_the_package() -> None:
    import sync

    assert sync.merge is records.merge and sync.merge_vv is sync.vv.merge


def test_merge_tells_true_from_one_when_a_dot_holds_both() -> None:
    one = rec({"a": 1}, {"flag": [[1, "a", 1, 5]]})
    true = rec({"a": 1}, {"flag": [[True, "a", 1, 5]]})
    assert msgspec.json.encode(merge(one, true)) == msgspec.json.encode(merge(true, one))
