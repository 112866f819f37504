"""Sync per shared/SYNC.md: devices, push (merge phone states through the one store) and pull."""

from __future__ import annotations

import itertools
import operator
import secrets
from typing import Any

import msgspec

import sync
from server.db import fetch, is_sqlite, raw, write_transaction
from server.domain.accounts.services import CurrentUser, now
from server.domain.accounts.tables import Device
from server.domain.crm.services import (
    KINDS,
    NUL_JSON,
    Kind,
    check_write,
    decode_state,
    field_error,
    nul_errors,
    ruled_fields,
    store,
    visible_row,
)

#: The most records one pull answers, whatever the phone asks for.
MAX_PULL = 1000
DEFAULT_PULL = 500
CURSOR_PREFIX = "v1-"


class BadCursor(ValueError):
    """The `after` parameter is not a cursor this server gave out."""


# -- devices -----------------------------------------------------------------------


async def register_device(user: CurrentUser, name: str | None) -> str:
    """A replica id never issued before: random, and kept unique by the table's constraint."""
    for _ in range(10):
        replica = secrets.token_hex(6)
        if not await Device.exists().where(Device.replica == replica):
            await Device.insert(Device(replica=replica, user=user.id, name=name or "", created_at=now()))
            return replica
    raise RuntimeError("could not find a free replica id")  # 48 random bits: never in practice


async def device_of(user: CurrentUser, replica: str) -> int | None:
    # Every push asks this: SQL as it is, not built by Piccolo per request.
    rows = await fetch(Device._meta.db, 'SELECT id FROM device WHERE replica = {} AND "user" = {}', replica, user.id)
    return rows[0]["id"] if rows else None


# -- push --------------------------------------------------------------------------


def _rejected(record: sync.Record, errors: list[tuple[str, str]]) -> sync.PushResult:
    return sync.PushResult(
        type=record.type,
        id=record.id,
        status="rejected",
        errors=[sync.FieldError(field=f, message=m) for f, m in errors],
    )


def _all_valid(kind: Kind, fresh: dict[str, list[sync.Sibling]]) -> bool:
    """Whether every new value of the record's fields is valid, in one conversion rather than
    one per field. Each field of kind.update is typed alone (no rule spans two fields), so
    this holds exactly when every per-field conversion would succeed; when it does not (or a
    field has more than one new sibling), the caller converts field by field, for the same
    messages as ever."""
    values = {}
    for name, siblings in fresh.items():
        if name == sync.DELETED or name not in kind.field_set:
            continue
        if len(siblings) != 1:
            return False
        values[name] = siblings[0][0]
    return _converts(values, kind.update)


def _converts(values: dict[str, Any], shape: type) -> bool:
    """Whether `values` are valid as `shape`, strictly."""
    try:
        msgspec.convert(values, type=shape, strict=True)
    except msgspec.ValidationError:
        return False
    return True


async def _value_errors(
    kind: Kind, user: CurrentUser, values: dict[str, Any], fresh: dict[str, list[sync.Sibling]], known: sync.Record | None
) -> list[tuple[str, str]]:
    """Every newly written value must be valid alone and allowed to this user. `values` are the
    visible values of the merged state, `known` the state stored before the push."""
    errors: list[tuple[str, str]] = []
    names = kind.field_set
    ruled = ruled_fields(kind.name)
    limits = kind.limits
    written_ruled = not ruled.isdisjoint(fresh)
    # The values the record would show, defaults included: for the write rules, and a new
    # record's whole check. An edit writing no ruled field needs neither.
    if known is None or written_ruled:
        own = values if values.keys() <= names else {k: v for k, v in values.items() if k in names}
        shown = {**kind.defaults, **own}
    else:
        shown = {}
    # A new record whose fields each have one sibling, valid as a whole: then each of its
    # values is valid alone (kind.update types every field as kind.fields does), with no
    # second conversion.
    whole = known is None and _one_sibling_each(fresh, names) and _converts(shown, kind.fields)
    all_valid = whole or _all_valid(kind, fresh)
    before = None if known is None else sync.visible(known) if written_ruled else {}
    #: Fields with a value that failed its own check, and the ruled values still to check.
    invalid: set[str] = set()
    ruled_values: list[tuple[str, Any]] = []
    for name, siblings in fresh.items():
        if name not in names:
            if name != sync.DELETED:  # its shape is checked with the authorship rules
                errors.append((name, f"a {kind.name} has no field {name!r}"))
            continue
        if all_valid and name not in ruled and name not in limits:
            continue  # valid, and no rule to break
        for sibling in siblings:
            value = sibling[0]
            if not all_valid:
                try:
                    msgspec.convert({name: value}, type=kind.update, strict=True)
                except msgspec.ValidationError as error:
                    errors.append((name, field_error(error)[1]))
                    invalid.add(name)
                    continue
            if name in limits and value is not None and (message := limits[name](value)):
                errors.append((name, message))
                invalid.add(name)
                continue
            if name in ruled:
                ruled_values.append((name, value))
    if ruled_values:
        # The write rules read other fields too (a task's related_type, a deal's owner): they
        # see only values valid alone, so an invalid one is named once, and never queried with.
        trusted = {k: v for k, v in shown.items() if k not in invalid} if invalid else shown
        for name, value in ruled_values:
            # `trusted` holds the value already when it is the field's only one.
            written = trusted if trusted.get(name, _ABSENT) is value else {**trusted, name: value}
            errors += await check_write(kind, user, written, [name], before)
    if known is None and not errors:
        if not whole:
            try:
                msgspec.convert(shown, type=kind.fields, strict=True)
            except msgspec.ValidationError as error:
                errors.append(field_error(error))
        # A scope field left out is checked as if written with its default, none: so a phone
        # must name the team or the people a new record belongs to ("a team is required"). REST
        # fills them in with the writer; here that would be an edit of the server's own.
        left_out = [f for f in kind.scope_fields if f not in fresh]
        if left_out:
            errors += await check_write(kind, user, shown, left_out)
    return list(dict.fromkeys(errors)) if errors else errors


_ABSENT = object()


def _one_sibling_each(fresh: dict[str, list[sync.Sibling]], names: frozenset[str]) -> bool:
    """Whether each field of `names` in `fresh` has exactly one sibling."""
    if set(map(len, fresh.values())) <= {1}:
        return True  # every entry has one: the usual case, decided in C
    return all(len(s) == 1 for n, s in fresh.items() if n in names)


class _Stored(msgspec.Struct):
    """A record as stored when the push began: its state and whether the user may see it."""

    row: dict[str, Any]
    known: sync.Record
    visible: bool


async def _read_stored(user: CurrentUser, records: list[sync.Record]) -> dict[tuple[str, str], _Stored]:
    """The stored state of every pushed record that exists, one query per record type."""
    engine = KINDS["contact"].table._meta.db
    out: dict[tuple[str, str], _Stored] = {}
    for kind in KINDS.values():
        ids = list(dict.fromkeys(r.id for r in records if r.type == kind.name))
        if not ids:
            continue
        where, where_args = _visible_sql(kind, user, "t")
        # CAST: the id as the text it is, with no UUID made of it and back.
        rows = await fetch(
            engine,
            f"SELECT CAST(t.id AS TEXT) AS id, t.state AS state, CASE WHEN {where} THEN 1 ELSE 0 END AS visible"
            f" FROM {kind.table._meta.tablename} t WHERE t.id IN ({', '.join('{}' for _ in ids)})",
            *where_args,
            *ids,
        )
        for row in rows:
            known = decode_state(row["state"])
            out[(kind.name, row["id"])] = _Stored(row={"state": row["state"], "known": known}, known=known, visible=row["visible"] == 1)
    return out


async def _merge_one(
    user: CurrentUser, replica: str, record: sync.Record, tx: Any, stored: dict[tuple[str, str], _Stored], written: set[tuple[str, str]]
) -> sync.PushResult:
    kind = KINDS[record.type]
    key = (record.type, record.id)
    if key in written:
        # An earlier record of this push changed it: read it again, as it now stands.
        table = kind.table
        rows = await table.select(table.state).where(table.id == record.id).limit(1)
        existed = rows[0] if rows else None
        known = decode_state(existed["state"]) if existed else None
        visible = known is not None and await _may_see(kind, user, record.id)
    else:
        before = stored.get(key)
        existed, known, visible = (before.row, before.known, before.visible) if before else (None, None, False)
    if known is not None and not visible:
        return _rejected(record, [("id", f"you may not write this {kind.name}")])
    # The usual push in one pass; anything else the general way, which names what is wrong.
    usual = sync.merge_push(record, known, replica)
    if usual is not None:
        merged, fresh = usual
    else:
        errors = sync.authorship_errors(record, known, replica)
        if errors:
            return _rejected(record, errors)
        merged = sync.merge(known, record) if known is not None else sync.merge(sync.new(record.type, record.id), record)
        # Merged onto a new record, every sibling is one the server had not seen: the same as
        # new_siblings(record, None), without a second pass.
        fresh = sync.new_siblings(record, known) if known is not None else merged.fields
    if known is not None and merged.vv == known.vv and merged == known:
        return sync.PushResult(type=record.type, id=record.id, status="ok", record=known)
    values = sync.visible(merged)
    errors = await _value_errors(kind, user, values, fresh, known)
    if errors:
        return _rejected(record, errors)
    # Encoded once, for the row and for the answer.
    state_json = msgspec.json.encode(merged)
    if NUL_JSON in state_json:  # one scan in C; the values are walked only when it finds one
        errors = nul_errors({name: [s[0] for s in siblings] for name, siblings in fresh.items()})
        if errors:
            return _rejected(record, errors)
    await store(kind, merged, tx, existed, values, state_json)
    written.add(key)
    return sync.PushResult(type=record.type, id=record.id, status="ok", record=msgspec.Raw(state_json))  # type: ignore[arg-type]


async def _may_see(kind: Kind, user: CurrentUser, record_id: str) -> bool:
    return await visible_row(kind, user, record_id, include_deleted=True) is not None


async def push(user: CurrentUser, body: sync.PushBody) -> list[sync.PushResult]:
    """Merge each record in one transaction; one rejected record never stops the others."""
    engine = KINDS["contact"].table._meta.db
    device = await device_of(user, body.replica)
    if device is None:
        problem = [("replica", f"replica {body.replica!r} is not one of your devices; register with POST /api/v1/sync/devices")]
        return [_rejected(r, problem) for r in body.records]
    results: list[sync.PushResult] = []
    async with write_transaction(engine) as tx:
        tx.notes["actor"] = user
        # Read inside the transaction: on PostgreSQL it holds the clock's lock from here on,
        # so no other writer can change these rows before this push has stored its own.
        stored = await _read_stored(user, body.records)
        written: set[tuple[str, str]] = set()
        for record in body.records:
            results.append(await _merge_one(user, body.replica, record, tx, stored, written))
        # Written with the records, at commit, at the transaction's own time.
        await tx.defer(("device", device), "UPDATE device SET last_seen_at = {} WHERE id = {}", tx.time()[1], device)
    return results


# -- pull --------------------------------------------------------------------------


def encode_cursor(seq: int, epoch: int) -> str:
    """The last change sent, and the user's team move the phone has been through."""
    return f"{CURSOR_PREFIX}{seq}-{epoch}"


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    seq, _, epoch = cursor[len(CURSOR_PREFIX) :].partition("-")
    # ASCII digits only ("²" is a digit to str.isdigit), and no more than a BIGINT holds.
    if not cursor.startswith(CURSOR_PREFIX) or not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in (seq, epoch)):
        raise BadCursor(cursor)
    return int(seq), int(epoch)


def _visible_sql(kind: Kind, user: CurrentUser, alias: str) -> tuple[str, list[Any]]:
    """Raw SQL twin of crm.services.visibility, for the pull's union over every table."""
    if user.is_admin:
        return "1 = 1", []
    if kind.scope == "team":
        return f"{alias}.team = {{}}", [user.team]
    members = "(SELECT id FROM app_user WHERE team = {})"
    if kind.scope == "owner":
        if user.is_manager:
            return f"{alias}.owner IN {members}", [user.team]
        return f"{alias}.owner = {{}}", [user.id]
    if user.is_manager:
        return f"({alias}.owner IN {members} OR {alias}.assignee IN {members})", [user.team, user.team]
    return f"({alias}.owner = {{}} OR {alias}.assignee = {{}})", [user.id, user.id]


def _could_see_before(user: CurrentUser, change: dict[str, Any]) -> bool:
    if user.is_admin:
        return True
    if KINDS[change["record_type"]].scope == "team" or user.is_manager:
        return user.team is not None and user.team in (change["prev_team"], change["prev_assignee_team"])
    return user.id in (change["prev_owner"], change["prev_assignee"])


async def pull(user: CurrentUser, cursor: tuple[int, int], limit: int) -> sync.PullPage:
    engine = KINDS["contact"].table._meta.db
    after, epoch = cursor
    left_behind: list[sync.Ref] = []
    if user.moved_seq > epoch:
        # The user changed team since this phone last pulled: what they may see changed
        # wholesale, so send everything visible now and drop what the old teams showed.
        if after > 0:
            left_behind = await _left_behind(user, epoch)
        after = 0
    page = await _read_page(engine, user, after, limit)
    if page is None:
        page = await _read_page_by_rows(engine, user, after, limit)
    # The clock comes from the page's own statement, so from the same snapshot: every change
    # up to it had committed (writers commit in seq order) and is in that snapshot.
    last, more, records_json, clock, moved = page
    upto = last if more else max(clock, last or 0)
    # No audience change after the cursor, in the page's snapshot: none in (after, upto]
    # either, and no query for them (the usual page).
    gone = left_behind + (await _gone(user, after, upto, records_json) if moved > after else [])
    # Stored states are canonical wire JSON (store() encodes the merged Record): they go out
    # as they are, byte for byte what decoding and encoding them again would give.
    records: Any = msgspec.Raw(records_json)
    return sync.PullPage(records=records, gone=gone, cursor=encode_cursor(upto, user.moved_seq), more=more)


#: A page: the seq of the last change in it (None: nothing), whether more follow, the JSON
#: array of the states of its changes, oldest first, the clock as the page was read, and the
#: seq of the latest audience change then (0: none).
Page = tuple[int | None, bool, bytes, int, int]

#: The clock, as a scalar subquery of the statement reading a page: so from its snapshot.
_CLOCK = "(SELECT value FROM sync_clock WHERE id = 1)"
#: The latest audience change, the same way (from audience_change's seq index).
_MOVED = "(SELECT coalesce(max(seq), 0) FROM audience_change)"


def _changes_sql(user: CurrentUser, after: int, limit: int, columns: str) -> tuple[str, list[Any]]:
    """The first `limit` changes after `after` of each table, of records the user may see, one
    row of `columns` each: a UNION ALL of parts that each read a (visibility, seq) index."""
    parts: list[str] = []
    args: list[Any] = []
    for kind in KINDS.values():
        where, where_args = _visible_sql(kind, user, "t")
        parts.append(
            f"SELECT * FROM (SELECT {columns} FROM {kind.table._meta.tablename} t"
            f" WHERE t.seq > {{}} AND {where} ORDER BY t.seq LIMIT {{}}) AS {kind.name}_part"
        )
        args += [after, *where_args, limit]
    return " UNION ALL ".join(parts), args


def _page_sql(user: CurrentUser, after: int, limit: int) -> tuple[str, list[Any]]:
    """The next `limit + 1` changes the user may see, oldest first: (seq, state) rows."""
    # CAST: a bare column keeps its declared type, for which SQLite's driver would run a
    # Python converter on every row; the value is the same integer either way.
    changes, args = _changes_sql(user, after, limit + 1, "CAST(t.seq AS BIGINT) AS seq, t.state AS state")
    return changes + " ORDER BY seq LIMIT {}", [*args, limit + 1]


async def _read_page(engine: Any, user: CurrentUser, after: int, limit: int) -> Page | None:
    """The next `limit` changes the user may see, with their states joined into one JSON array
    by the database as they are stored, so that no row reaches Python on its own. None if the
    database did not keep seq order; the caller then reads row by row.

    One statement, so one snapshot. The states come in seq order from the (visibility, seq)
    indexes, each table's part read in index order and merged, so that no state is copied into
    a sort (a task's aside: its two indexes merge). `waiting` counts, from those indexes alone,
    whether more than `limit` changes wait. The aggregate stands at the top of the statement:
    inside a subquery SQLite copies its megabyte result into a temporary table, and a bound
    found by a statement of its own cost as much again (bench/sync_bench.py). The aggregate
    has no ORDER BY of its own: PostgreSQL would sort the megabyte again for it. It takes the
    page in the order the page comes, which is checked here.
    """
    waiting, waiting_args = _changes_sql(user, after, limit + 1, "t.seq AS seq")
    if is_sqlite(engine):
        parts: list[str] = []
        args: list[Any] = []
        for kind in KINDS.values():
            where, where_args = _visible_sql(kind, user, "t")
            # seq bare, not CAST: an ORDER BY on an expression is one SQLite cannot read from
            # the index (it would sort every state).
            parts.append(f"SELECT t.seq AS seq, t.state AS state FROM {kind.table._meta.tablename} t WHERE t.seq > {{}} AND {where}")
            args += [after, *where_args]
        changes = " UNION ALL ".join(parts)
        # BLOB: the array goes out as the bytes it is, with no decoding to text and back.
        joined = "group_concat(CAST(seq AS TEXT), ',') AS seqs, CAST('[' || coalesce(group_concat(state, ','), '') || ']' AS BLOB) AS states"
    else:
        # Each part bounded by its own LIMIT, as PostgreSQL reads an index only so.
        changes, args = _changes_sql(user, after, limit, "t.seq AS seq, t.state AS state")
        joined = "string_agg(seq::text, ',') AS seqs, '[' || coalesce(string_agg(state, ','), '') || ']' AS states"
    rows = await fetch(
        engine,
        f"SELECT {joined}, (SELECT count(*) FROM ({waiting}) AS waiting) AS n, {_CLOCK} AS clock, {_MOVED} AS moved"
        f" FROM ({changes} ORDER BY seq LIMIT {{}}) AS page",
        *waiting_args,
        *args,
        limit,
    )
    seqs_text, states, count = rows[0]["seqs"], rows[0]["states"], rows[0]["n"]
    seqs = list(map(int, seqs_text.split(","))) if seqs_text else []
    if len(seqs) != min(count, limit) or not all(map(operator.lt, seqs, itertools.islice(seqs, 1, None))):
        return None
    return (seqs[-1] if seqs else None), count > limit, states if isinstance(states, bytes) else states.encode(), rows[0]["clock"], rows[0]["moved"]


async def _read_page_by_rows(engine: Any, user: CurrentUser, after: int, limit: int) -> Page:
    """The same as _read_page, a row per change, in one statement: the fallback on either database."""
    sql, args = _page_sql(user, after, limit)
    # The clock joined to the page, so that it comes, from the same snapshot, with no change
    # too: one row of nulls but the clock. No ORDER BY: PostgreSQL would sort the page's
    # megabyte again, though the join (a nested loop, the clock's one row outside) keeps the
    # page's order; that order is checked here, and restored in the unlikely case it was not.
    rows = await fetch(
        engine,
        f"SELECT page.seq AS seq, page.state AS state, clock.value AS clock, {_MOVED} AS moved"
        f" FROM sync_clock clock LEFT JOIN ({sql}) AS page ON 1 = 1 WHERE clock.id = 1",
        *args,
    )
    clock, moved = rows[0]["clock"], rows[0]["moved"]
    rows = [r for r in rows if r["seq"] is not None]
    if not all(a["seq"] < b["seq"] for a, b in itertools.pairwise(rows)):
        rows.sort(key=lambda r: r["seq"])
    sent = rows[:limit]
    last = sent[-1]["seq"] if sent else None
    return last, len(rows) > limit, ("[" + ",".join(r["state"] for r in sent) + "]").encode(), clock, moved


class _RecordId(msgspec.Struct):
    id: str


async def _left_behind(user: CurrentUser, epoch: int) -> list[sync.Ref]:
    """Records the user's old teams showed them that their new team does not."""
    engine = KINDS["contact"].table._meta.db
    moves = await raw(engine, 'SELECT old_team FROM team_move WHERE "user" = {} AND seq > {}', user.id, epoch)
    out: list[sync.Ref] = []
    for team in {m["old_team"] for m in moves if m["old_team"] is not None}:
        former = CurrentUser(user.id, user.email, user.name, user.role, team, None)
        for kind in KINDS.values():
            where, args = _visible_sql(kind, former, "t")
            rows = await raw(engine, f"SELECT t.id AS id FROM {kind.table._meta.tablename} t WHERE {where}", *args)
            for row in rows:
                if not await _may_see(kind, user, str(row["id"])):
                    out.append(sync.Ref(type=kind.name, id=str(row["id"])))  # type: ignore[arg-type]
    return out


async def _gone(user: CurrentUser, after: int, upto: int, records_json: bytes) -> list[sync.Ref]:
    """Records whose audience change in (after, upto] took this user out, less those sent now."""
    if user.is_admin:
        return []
    engine = KINDS["contact"].table._meta.db
    changes = await fetch(
        engine,
        "SELECT record_type, record_id, prev_team, prev_owner, prev_assignee, prev_assignee_team"
        " FROM audience_change WHERE seq > {} AND seq <= {} ORDER BY seq",
        after,
        upto,
    )
    if not changes:
        return []
    sent = {r.id for r in msgspec.json.decode(records_json, type=list[_RecordId])}
    out: dict[str, sync.Ref] = {}
    for change in changes:
        record_id = str(change["record_id"])
        if record_id in sent or record_id in out or not _could_see_before(user, change):
            continue
        kind = KINDS[change["record_type"]]
        if not await _may_see(kind, user, record_id):
            out[record_id] = sync.Ref(type=kind.name, id=record_id)  # type: ignore[arg-type]
    return list(out.values())
