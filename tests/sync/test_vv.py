"""Unit tests of sync.vv: version vectors."""

import pytest

from sync.vv import Order, compare, increment, merge, seen


def test_increment_starts_a_missing_replica_at_one() -> None:
    assert increment({}, "a") == {"a": 1}


def test_increment_bumps_only_that_replica() -> None:
    assert increment({"a": 2, "b": 5}, "a") == {"a": 3, "b": 5}


def test_increment_returns_a_new_dict_and_leaves_the_input() -> None:
    vv = {"a": 1}
    out = increment(vv, "a")
    assert vv == {"a": 1} and out is not vv


@pytest.mark.parametrize(
    ("vv", "replica", "counter", "expected"),
    [
        ({}, "a", 1, False),
        ({"a": 3}, "a", 3, True),
        ({"a": 3}, "a", 2, True),
        ({"a": 3}, "a", 4, False),
        ({"a": 3}, "b", 1, False),
    ],
)
def test_seen_means_counter_at_most_the_vector_entry(vv: dict[str, int], replica: str, counter: int, expected: bool) -> None:
    assert seen(vv, replica, counter) is expected


def test_merge_is_the_pointwise_max() -> None:
    assert merge({"a": 3, "b": 1}, {"b": 4, "c": 2}) == {"a": 3, "b": 4, "c": 2}


def test_merge_sorts_keys_and_drops_zero_entries() -> None:
    out = merge({"c": 1, "z": 0}, {"a": 2})
    assert out == {"a": 2, "c": 1} and list(out) == ["a", "c"]


def test_merge_leaves_its_inputs() -> None:
    a, b = {"a": 1}, {"a": 2}
    merge(a, b)
    assert a == {"a": 1} and b == {"a": 2}


def test_merge_is_commutative() -> None:
    a, b = {"a": 3, "b": 1}, {"b": 4}
    assert merge(a, b) == merge(b, a)


def test_compare_equal_vectors() -> None:
    assert compare({"a": 1, "b": 2}, {"b": 2, "a": 1}) is Order.EQUAL
    assert compare({}, {}) is Order.EQUAL


def test_compare_missing_entry_counts_as_zero() -> None:
    assert compare({"a": 1, "b": 0}, {"a": 1}) is Order.EQUAL


def test_compare_before_when_strictly_dominated() -> None:
    assert compare({"a": 1}, {"a": 2}) is Order.BEFORE
    assert compare({}, {"a": 1}) is Order.BEFORE
    assert compare({"a": 1}, {"a": 1, "b": 1}) is Order.BEFORE


def test_compare_after_when_strictly_dominating() -> None:
    assert compare({"a": 2, "b": 1}, {"a": 2}) is Order.AFTER


def test_compare_concurrent_when_each_has_seen_something_the_other_has_not() -> None:
    assert compare({"a": 2}, {"b": 1}) is Order.CONCURRENT
    assert compare({"a": 2, "b": 1}, {"a": 1, "b": 2}) is Order.CONCURRENT


def test_order_values_are_the_lowercase_names() -> None:
    assert [o.value for o in Order] == ["before", "after", "equal", "concurrent"]
