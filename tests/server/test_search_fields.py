"""Each record type's `searched` list names exactly the fields its search words read: an edit of
any other field skips rebuilding the search entry, so a missing name would leave search stale."""

import pytest

from server.domain.crm.services import KINDS


@pytest.mark.parametrize("kind_name", sorted(KINDS))
def test_searched_fields_are_exactly_those_the_words_read(kind_name: str) -> None:
    kind = KINDS[kind_name]
    names = {ref: f"{ref} name" for ref in kind.refs}
    base = {field: f"{field} one" for field in kind.field_names}
    read = {f for f in kind.field_names if list(kind.words({**base, f: f"{f} two"}, names)) != list(kind.words(base, names))}
    assert read == set(kind.searched)
    assert set(kind.searched) <= set(kind.field_names)
