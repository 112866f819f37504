"""Sync per shared/SYNC.md: devices, push (merge phone states through the one store) and pull."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

import sync
from server.db import raw, write_transaction
from server.domain.accounts.services import CurrentUser, now
from server.domain.accounts.tables import Device
from server.domain.crm.services import KINDS, Kind, check_write, decode_state, field_error, store, visible_row
from server.domain.crm.tables import SyncClock

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
    row = await Device.select(Device.id).where((Device.replica == replica) & (Device.user == user.id)).first()
    return row["id"] if row else None


# -- push --------------------------------------------------------------------------


def _rejected(record: sync.Record, errors: list[tuple[str, str]]) -> sync.PushResult:
    return sync.PushResult(
        type=record.type,
        id=record.id,
        status="rejected",
        errors=[sync.FieldError(field=f, message=m) for f, m in errors],
    )


async def _value_errors(kind: Kind, user: CurrentUser, merged: sync.Record, fresh: dict[str, list[sync.Sibling]], creating: bool) -> list[tuple[str, str]]:
    """Every newly written value must be valid alone and allowed to this user."""
    errors: list[tuple[str, str]] = []
    shown = {**kind.defaults, **{k: v for k, v in sync.visible(merged).items() if k in kind.field_names}}
    for name, siblings in fresh.items():
        if name == sync.DELETED:
            continue  # its shape is checked with the authorship rules
        if name not in kind.field_names:
            errors.append((name, f"a {kind.name} has no field {name!r}"))
            continue
        for value, *_ in siblings:
            try:
                msgspec.convert({name: value}, type=kind.update, strict=True)
            except msgspec.ValidationError as error:
                errors.append((name, field_error(error)[1]))
                continue
            errors += await check_write(kind, user, {**shown, name: value}, [name])
    if creating and not errors:
        try:
            msgspec.convert(shown, type=kind.fields, strict=True)
        except msgspec.ValidationError as error:
            errors.append(field_error(error))
        scope = {"team": ("team",), "owner": ("owner",), "task": ("owner", "assignee")}[kind.scope]
        errors += await check_write(kind, user, shown, [f for f in scope if f not in fresh])
    return list(dict.fromkeys(errors))


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
        rows = await raw(
            engine,
            f"SELECT t.id AS id, t.state AS state, CASE WHEN {where} THEN 1 ELSE 0 END AS visible"
            f" FROM {kind.table._meta.tablename} t WHERE t.id IN ({', '.join('{}' for _ in ids)})",
            *where_args,
            *ids,
        )
        for row in rows:
            known = decode_state(row["state"])
            out[(kind.name, str(row["id"]))] = _Stored(row={"state": row["state"], "known": known}, known=known, visible=row["visible"] == 1)
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
    errors = sync.authorship_errors(record, known, replica)
    if errors:
        return _rejected(record, errors)
    merged = sync.merge(known, record) if known is not None else sync.merge(sync.new(record.type, record.id), record)
    if merged == known:
        return sync.PushResult(type=record.type, id=record.id, status="ok", record=known)
    fresh = sync.new_siblings(record, known)
    errors = await _value_errors(kind, user, merged, fresh, creating=known is None)
    if errors:
        return _rejected(record, errors)
    await store(kind, merged, tx, existed)
    written.add(key)
    return sync.PushResult(type=record.type, id=record.id, status="ok", record=merged)


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
        await Device.update({Device.last_seen_at: now()}).where(Device.id == device)
    return results


# -- pull --------------------------------------------------------------------------


def encode_cursor(seq: int, epoch: int) -> str:
    """The last change sent, and the user's team move the phone has been through."""
    return f"{CURSOR_PREFIX}{seq}-{epoch}"


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    seq, _, epoch = cursor[len(CURSOR_PREFIX) :].partition("-")
    if not cursor.startswith(CURSOR_PREFIX) or not seq.isdigit() or not epoch.isdigit():
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
    # Read the clock first: every change up to it has committed (writers commit in seq order).
    clock = (await SyncClock.select(SyncClock.value).where(SyncClock.id == 1).first())["value"]
    parts: list[str] = []
    args: list[Any] = []
    for kind in KINDS.values():
        where, where_args = _visible_sql(kind, user, "t")
        parts.append(
            # CAST: a bare column keeps its declared type, for which SQLite's driver would run
            # a Python converter on every row; the value is the same integer either way.
            f"SELECT * FROM (SELECT CAST(t.seq AS BIGINT) AS seq, t.state AS state FROM {kind.table._meta.tablename} t"
            f" WHERE t.seq > {{}} AND {where} ORDER BY t.seq LIMIT {{}}) AS {kind.name}_part"
        )
        args += [after, *where_args, limit + 1]
    sql = " UNION ALL ".join(parts) + " ORDER BY seq LIMIT {}"
    rows = await raw(engine, sql, *args, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    upto = rows[-1]["seq"] if more else max([clock, *(r["seq"] for r in rows)])
    # Stored states are canonical wire JSON (store() encodes the merged Record): they go out
    # as they are, byte for byte what decoding and encoding them again would give.
    states = [r["state"] for r in rows]
    gone = left_behind + await _gone(user, after, upto, states)
    records: list[Any] = [msgspec.Raw(s) for s in states]
    return sync.PullPage(records=records, gone=gone, cursor=encode_cursor(upto, user.moved_seq), more=more)


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


async def _gone(user: CurrentUser, after: int, upto: int, states: list[str]) -> list[sync.Ref]:
    """Records whose audience change in (after, upto] took this user out, less those sent now."""
    if user.is_admin:
        return []
    engine = KINDS["contact"].table._meta.db
    changes = await raw(
        engine,
        "SELECT record_type, record_id, prev_team, prev_owner, prev_assignee, prev_assignee_team"
        " FROM audience_change WHERE seq > {} AND seq <= {} ORDER BY seq",
        after,
        upto,
    )
    if not changes:
        return []
    sent = {msgspec.json.decode(state, type=_RecordId).id for state in states}
    out: dict[str, sync.Ref] = {}
    for change in changes:
        record_id = str(change["record_id"])
        if record_id in sent or record_id in out or not _could_see_before(user, change):
            continue
        kind = KINDS[change["record_type"]]
        if not await _may_see(kind, user, record_id):
            out[record_id] = sync.Ref(type=kind.name, id=record_id)  # type: ignore[arg-type]
    return list(out.values())
