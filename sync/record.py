"""The record merge of SYNC.md: pure functions from record states to record states."""

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from sync import vv as vvs
from sync.wire import FIELD_PATTERN, RECORD_TYPES, REPLICA_PATTERN, Record, Sibling

DELETED = "deleted"

Dot = tuple[str, int]

_REPLICA = re.compile(REPLICA_PATTERN)
_FIELD = re.compile(FIELD_PATTERN)


# -- canonical form ---------------------------------------------------------
# Every function returns canonical states: vv keys sorted with no zero
# entries, field names sorted, fields without siblings omitted, siblings
# sorted by dot. Equal states are then equal Structs and encode to equal bytes.


def _pick(x: Sibling, y: Sibling) -> Sibling:
    # Honest replicas never write two different siblings under one dot (the
    # server rejects it), but if bad data ever holds two, every replica must
    # still keep the same one whatever order it merges in: take the greater
    # (t, JSON text of the value). Python's == cannot decide this: 1 == True.
    if x is y:
        return x
    if x[3] != y[3]:
        return x if x[3] > y[3] else y
    if _identical(x[0], y[0]):
        return x  # the same JSON: either will do
    ex = msgspec.json.encode(x[0], order="sorted")
    ey = msgspec.json.encode(y[0], order="sorted")
    return x if ex >= ey else y


def _identical(x: Any, y: Any) -> bool:
    """Whether two values certainly have the same JSON text, decided for the usual values
    (strings, null, numbers and booleans of one type, lists of strings) without encoding
    them; False also means "not decided"."""
    kind = type(x)
    if kind is not type(y):
        return False
    if kind is str or x is None or kind is int or kind is bool:
        return x == y
    if kind is float:
        # Equal floats have one shortest form, but for the sign of a zero (NaN equals nothing).
        return x == y and (x != 0.0 or math.copysign(1.0, x) == math.copysign(1.0, y))
    if kind is list:
        # Python's == first, in C; then the items must be strings, for [1] == [True]. A string
        # equals only a string, so y's items are strings too.
        return x == y and _all_strings(x)
    return False


def _all_strings(items: list[Any]) -> bool:
    for item in items:
        if type(item) is not str:
            return False
    return True


def _by_dot(siblings: Iterable[Sibling]) -> dict[Dot, Sibling]:
    out: dict[Dot, Sibling] = {}
    for s in siblings:
        s = tuple(s)  # type: ignore[assignment]
        dot = (s[1], s[2])
        held = out.get(dot)
        out[dot] = s if held is None else _pick(held, s)
    return out


def _canonical(siblings: Iterable[Sibling]) -> list[Sibling]:
    """Siblings as tuples, sorted by dot, one per dot. A list already so (every stored state,
    nearly every push) is taken as it is, with one comparison per sibling."""
    listed = siblings if isinstance(siblings, list) else list(siblings)
    if len(listed) == 1:
        only = listed[0]
        return [only if type(only) is tuple else tuple(only)]  # type: ignore[list-item]
    previous: Dot | None = None
    for s in listed:
        dot = (s[1], s[2])
        if previous is not None and not previous < dot:
            by_dot = _by_dot(listed)
            return [by_dot[d] for d in sorted(by_dot)]
        previous = dot
    return [s if type(s) is tuple else tuple(s) for s in listed]  # type: ignore[misc]


def _make(
    type_: str,
    id_: str,
    vv: Mapping[str, int],
    fields: Mapping[str, Iterable[Sibling]],
    done: Mapping[str, list[Sibling]] | None = None,
) -> Record:
    """A canonical Record. `done` holds fields whose siblings are canonical already (a
    non-empty list of tuples sorted by dot, one per dot): they are taken as they are."""
    canon: dict[str, list[Sibling]] = {}
    names = sorted(fields.keys() | done.keys()) if done else sorted(fields)
    for name in names:
        if done and name in done:
            canon[name] = done[name]
            continue
        siblings = _canonical(fields[name])
        if siblings:
            canon[name] = siblings
    return Record(
        type=type_,  # type: ignore[arg-type]
        id=id_,
        vv={r: c for r, c in sorted(vv.items()) if c > 0},
        fields=canon,
    )


def _visible_sibling(siblings: list[Sibling]) -> Sibling:
    if len(siblings) == 1:
        return siblings[0]  # the usual case; max() and its key tuples cost more than the rest
    return max(siblings, key=lambda s: (s[3], s[1], s[2]))


# -- edits ------------------------------------------------------------------


def new(type: str, id: str) -> Record:
    """A record no replica has edited yet: empty vv, no fields."""
    if type not in RECORD_TYPES:
        raise ValueError(f"unknown record type {type!r}")
    return Record(type=type, id=id, vv={}, fields={})  # type: ignore[arg-type]


def edit(rec: Record, replica: str, changes: Mapping[str, Any], now: int) -> Record:
    """One edit by ``replica`` at wall clock ``now`` (ms) writing ``changes``.

    Each written field gets exactly one sibling under the edit's dot, replacing
    all the siblings it had: the editor has seen them all.
    """
    if not changes:
        raise ValueError("an edit writes at least one field")
    if not _REPLICA.match(replica):
        raise ValueError(f"bad replica id {replica!r}")
    if isinstance(now, bool) or not isinstance(now, int) or now < 0:
        raise ValueError(f"bad time {now!r}")
    for name in changes:
        if not isinstance(name, str) or not _FIELD.match(name):
            raise ValueError(f"bad field name {name!r}")
    vv = vvs.increment(rec.vv, replica)
    counter = vv[replica]
    fields: dict[str, Iterable[Sibling]] = dict(rec.fields)
    for name, value in changes.items():
        fields[name] = [(value, replica, counter, now)]
    return _make(rec.type, rec.id, vv, fields)


def delete(rec: Record, replica: str, now: int) -> Record:
    """Delete: an edit writing only ``deleted`` = the vv just before it.

    To keep a record instead (settling a delete conflict), edit ``deleted`` to
    None.
    """
    return edit(rec, replica, {DELETED: vvs.merge(rec.vv, {})}, now)


# -- merge ------------------------------------------------------------------


def merge(a: Record, b: Record) -> Record:
    """Merge two states of one record (commutative, associative, idempotent).

    A sibling survives unless a state that has seen its dot no longer holds
    it, i.e. some edit that had seen it replaced it.
    """
    if (a.type, a.id) != (b.type, b.id):
        raise ValueError(f"cannot merge {a.type}/{a.id} with {b.type}/{b.id}")
    fields: dict[str, list[Sibling]] = {}
    #: Fields whose siblings are canonical as built: _make leaves them as they are.
    done: dict[str, list[Sibling]] = {}
    a_vv, b_vv = a.vv, b.vv
    if not a_vv and not a.fields:
        # Onto a record nobody has edited (every push of a new one): the other side's
        # siblings, each unseen, as the loop below would keep them.
        return _make(b.type, b.id, b_vv, {name: [s for s in sibs if s[2] > 0] for name, sibs in b.fields.items()})
    for name in a.fields.keys() | b.fields.keys():
        mine, other = a.fields.get(name), b.fields.get(name)
        # A field only one side holds (every field of a new record, most of an edit's) keeps
        # what the other side has not seen; _make settles order and repeated dots.
        if not other:
            fields[name] = [s for s in mine or () if b_vv.get(s[1], 0) < s[2]]
            continue
        if not mine:
            fields[name] = [s for s in other if a_vv.get(s[1], 0) < s[2]]
            continue
        if len(mine) == 1 and len(other) == 1:
            # One sibling each (a field without conflict on both sides): the rule below, unrolled.
            m, o = mine[0], other[0]
            if m[1] == o[1] and m[2] == o[2]:
                if type(m) is tuple and m[3] == o[3] and _identical(m[0], o[0]):
                    # The same sibling on both sides (every field an edit left alone): already
                    # canonical, as _pick would keep it.
                    done[name] = [m]
                else:
                    fields[name] = [_pick(tuple(m), tuple(o))]  # type: ignore[arg-type]
            else:
                fields[name] = [s for s, vv in ((m, b_vv), (o, a_vv)) if vv.get(s[1], 0) < s[2]]
            continue
        ours = _by_dot(mine)
        theirs = _by_dot(other)
        kept: list[Sibling] = []
        for dot, s in ours.items():
            if dot in theirs:
                kept.append(_pick(s, theirs[dot]))
            elif not vvs.seen(b_vv, *dot):
                kept.append(s)
        for dot, s in theirs.items():
            if dot not in ours and not vvs.seen(a_vv, *dot):
                kept.append(s)
        fields[name] = kept
    return _make(a.type, a.id, vvs.merge(a.vv, b.vv), fields, done)


# -- reading a state --------------------------------------------------------


def visible(rec: Record) -> dict[str, Any]:
    """Per field, the value of the sibling with greatest (t, replica, counter)."""
    out: dict[str, Any] = {}
    for name, sibs in sorted(rec.fields.items()):
        if len(sibs) == 1:
            out[name] = sibs[0][0]  # the usual field, without a call per field
        elif sibs:
            out[name] = _visible_sibling(sibs)[0]
    return out


def _deletion_vector(rec: Record) -> dict[str, int] | None:
    sibs = rec.fields.get(DELETED)
    if not sibs:
        return None
    value = _visible_sibling(sibs)[0]
    # Anything but a vector is malformed (the server rejects it on push); it
    # is read as "live" so that bad data never hides a record.
    return value if _is_vector(value) else None


def is_deleted(rec: Record) -> bool:
    """Visible ``deleted`` is a vector that has seen every sibling of every other field."""
    vector = _deletion_vector(rec)
    if vector is None:
        return False
    return all(
        vvs.seen(vector, s[1], s[2])
        for name, sibs in rec.fields.items()
        if name != DELETED
        for s in sibs
    )


def conflicts(rec: Record) -> dict[str, list[Sibling]]:
    """Fields that replicas wrote concurrently: those with two or more siblings."""
    return {name: list(sibs) for name, sibs in sorted(rec.fields.items()) if len(sibs) >= 2}


def delete_conflict(rec: Record) -> bool:
    """Deleted by one replica, edited concurrently by another: the edit keeps it alive.

    A person settles it with ``delete`` again or by keeping it: an edit
    writing ``deleted`` = None.
    """
    return _deletion_vector(rec) is not None and not is_deleted(rec)


# -- what the server checks on push ------------------------------------------


def _json_equal(x: Any, y: Any) -> bool:
    # JSON equality: 1 and 1.0 are one number (a JavaScript phone cannot tell
    # them apart), but true is not 1, which Python's == would say.
    if type(x) is str:
        return type(y) is str and x == y
    if isinstance(x, bool) or isinstance(y, bool):
        return isinstance(x, bool) and isinstance(y, bool) and x == y
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return x == y
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_json_equal(p, q) for p, q in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_json_equal(x[k], y[k]) for k in x)
    return type(x) is type(y) and x == y


def _is_vector(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(r, str)
        and _REPLICA.match(r)
        and isinstance(c, int)
        and not isinstance(c, bool)
        and c >= 1
        for r, c in value.items()
    )


def authorship_errors(incoming: Record, known: Record | None, replica: str) -> list[tuple[str, str]]:
    """Why ``replica`` may not push ``incoming`` onto the server's ``known`` state.

    Returns (field, message) pairs, field being "vv" or "fields.<name>"; empty
    means the push is honest (SYNC.md invariant 5): it creates dots only under
    ``replica``'s own id, claims to have seen only edits that exist, is
    internally consistent, and removes a sibling only by writing that field.
    """
    if known is not None and (known.type, known.id) != (incoming.type, incoming.id):
        raise ValueError(f"cannot check {incoming.type}/{incoming.id} against {known.type}/{known.id}")
    errors: list[tuple[str, str]] = []
    known_vv: dict[str, int] = known.vv if known is not None else {}
    known_fields: Mapping[str, list[Sibling]] = known.fields if known is not None else {}

    for r, c in sorted(incoming.vv.items()):
        if r != replica and c > known_vv.get(r, 0):
            errors.append(("vv", f"claims edit {c} of replica {r!r}, which the server has not seen"))

    # No shortcut here for the usual push: merge_push takes that in one pass, and this is the
    # rule as written, for everything else.
    for name, sibs in sorted(incoming.fields.items()):
        held_siblings = known_fields.get(name)
        where = f"fields.{name}"
        held = _by_dot(held_siblings) if held_siblings else {}
        dots: set[Dot] = set()
        for value, r, c, t in sibs:
            dot = (r, c)
            if dot in dots:
                errors.append((where, f"two siblings share the dot ({r!r}, {c})"))
            dots.add(dot)
            if not vvs.seen(incoming.vv, r, c):
                errors.append((where, f"sibling ({r!r}, {c}) is not seen by the record's own vv"))
            if r != replica and not vvs.seen(known_vv, r, c):
                errors.append((where, f"sibling ({r!r}, {c}) claims an edit of replica {r!r} that the server has not seen"))
            if dot in held and not (held[dot][3] == t and _json_equal(held[dot][0], value)):
                errors.append((where, f"dot ({r!r}, {c}) already names a different edit"))
            if name == DELETED and value is not None:
                if not _is_vector(value):
                    errors.append((where, "must be null or a version vector"))
                elif vvs.compare(value, incoming.vv) not in (vvs.Order.BEFORE, vvs.Order.EQUAL):
                    errors.append((where, "claims edits that the record's vv has not seen"))
                elif value.get(r, 0) != c - 1:
                    errors.append((where, f"is not the vv of replica {r!r} just before its delete"))

    # An honest state drops a sibling only when an edit that saw it wrote the
    # field; that edit's sibling is new to the server. Without one, the push
    # would erase another replica's edit that nobody replaced.
    for name, sibs in sorted(known_fields.items()):
        given = incoming.fields.get(name, ())
        if len(sibs) == 1 and len(given) == 1 and sibs[0][1] == given[0][1] and sibs[0][2] == given[0][2]:
            continue  # the one sibling held is still there: nothing dropped
        theirs = _by_dot(given)
        dropped = [s for s in sibs if (s[1], s[2]) not in theirs and vvs.seen(incoming.vv, s[1], s[2])]
        if dropped and not any(not vvs.seen(known_vv, *dot) for dot in theirs):
            r, c = dropped[0][1], dropped[0][2]
            errors.append((f"fields.{name}", f"drops sibling ({r!r}, {c}) without writing the field"))
    return errors


def new_siblings(incoming: Record, known: Record | None) -> dict[str, list[Sibling]]:
    """Per field, the incoming siblings whose dots ``known`` has not seen.

    These are the values a push newly writes, which the server must validate.
    """
    known_vv: dict[str, int] = known.vv if known is not None else {}
    out: dict[str, list[Sibling]] = {}
    for name in sorted(incoming.fields):
        fresh = [s for s in incoming.fields[name] if known_vv.get(s[1], 0) < s[2]]
        if fresh:
            out[name] = _canonical(fresh)
    return out


# -- the usual push, in one pass ------------------------------------------------


def merge_push(incoming: Record, known: Record | None, replica: str) -> tuple[Record, dict[str, list[Sibling]]] | None:
    """For the usual honest push, what the server otherwise finds in three passes:
    ``authorship_errors`` is empty, and this is ``(merge(known or new, incoming),
    new_siblings(incoming, known))``. None when the push is not of the usual shape (a field
    with two siblings on either side, ``deleted`` written or held, a dot the server has seen
    but does not hold, anything dishonest); the caller then takes the general path, which
    also names what is wrong.

    The usual shape: every field of each side holds one sibling; each field the phone sent
    either comes back as the server holds it or carries a new sibling of ``replica``'s, that
    has seen the server's; each field the server holds and the phone did not send is one the
    phone has not seen.
    """
    in_vv, in_fields = incoming.vv, incoming.fields
    if known is None:
        known_vv: Mapping[str, int] = {}
        known_fields: Mapping[str, list[Sibling]] = {}
    else:
        if (known.type, known.id) != (incoming.type, incoming.id):
            return None
        known_vv, known_fields = known.vv, known.fields
    for r, c in in_vv.items():
        if r != replica and c > known_vv.get(r, 0):
            return None
    fields: dict[str, list[Sibling]] = {}
    fresh: dict[str, list[Sibling]] = {}
    for name, sibs in in_fields.items():
        held = known_fields.get(name)
        if held is not None and held == sibs:
            # Sent back as held (by Python's ==, in C: most fields of an edit). It must be one
            # sibling, of one JSON text on both sides, that both vvs have seen (else it would be
            # new to the server, though held: no stored state is so, but the rule stands).
            h = held[0] if len(held) == 1 else None
            if h is None or type(h) is not tuple or name == DELETED:
                return None  # `deleted` too: the general path checks its shape even sent back
            r, c = h[1], h[2]
            if in_vv.get(r, 0) < c or known_vv.get(r, 0) < c or not _identical(h[0], sibs[0][0]):
                return None
            fields[name] = held
            continue
        if len(sibs) != 1 or name == DELETED:
            return None
        s = sibs[0]
        if type(s) is not tuple:
            return None
        r, c = s[1], s[2]
        if in_vv.get(r, 0) < c:
            return None  # not seen by the record's own vv
        if held is not None:
            if len(held) != 1:
                return None
            h = held[0]
            if h[1] == r and h[2] == c:
                return None  # the held dot, not as held: another edit claims it
            if in_vv.get(h[1], 0) < h[2]:
                return None  # the phone has not seen the held sibling: a conflict
        if known_vv.get(r, 0) >= c:
            # Not new. (A new one is the pushing replica's: another's, seen by the pushed vv,
            # is seen by the server's too, or the vv check above has refused the push.)
            return None
        fields[name] = fresh[name] = [s]
    for name, held in known_fields.items():
        if name in in_fields:
            continue
        if name == DELETED:
            return None
        for h in held:
            if in_vv.get(h[1], 0) >= h[2]:
                return None  # dropped without writing the field (or merged away): the long way
        canonical = _canonical(held)
        if canonical:
            fields[name] = canonical
    merged = Record(
        type=incoming.type,
        id=incoming.id,
        vv=vvs.merge(known_vv, in_vv),
        fields={name: fields[name] for name in sorted(fields)},
    )
    return merged, {name: fresh[name] for name in sorted(fresh)}
