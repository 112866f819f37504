"""Every read and write of a synced record: visibility, write rules, and one merge for all writers.

A REST write is an edit by the server's replica "s" (SYNC.md); sync pushes merge phone states
through the same `store`. The queryable columns always hold the visible values of the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import operator
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgspec
from piccolo.columns import Column
from piccolo.columns.combination import And, Or, Where
from piccolo.engine.base import Engine
from piccolo.table import Table

import sync
from server.db import WriteTransaction, commit_hooks, current_write, fetch, is_sqlite, raw, write_transaction
from server.domain.accounts.services import CurrentUser
from server.domain.accounts.tables import Team, TeamMove, User
from server.domain.crm import schemas
from server.domain.crm.tables import Activity, Approval, AudienceChange, Company, Contact, Deal, Task

SERVER_REPLICA = "s"


class FieldErrors(Exception):
    """One or more fields are wrong; each pair is (field, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def field_error(error: msgspec.ValidationError, *, nested: bool = False) -> tuple[str, str]:
    """(field, message) from msgspec's "Expected `int`, got `str` - at `$.owner`".

    The field is the top-level one, or with `nested` the whole path ("keys.p256dh", not "keys").
    """
    message, _, where = str(error).partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    named = re.search(r"(?:unknown|missing required) field `([^`]+)`", message)
    if nested:
        if named:
            path = f"{path}.{named.group(1)}" if path else named.group(1)
        return path or "body", message
    if not path:
        path = named.group(1) if named else "body"
    return path.split("[")[0].split(".")[0] or "body", message


class NotVisible(Exception):
    """No such record, or not one this user may see (indistinguishable on purpose)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_instant(value: Any) -> dt.datetime | None:
    """A stored date-time, read by the parser that validated it (RFC 3339 allows forms, such as
    a lower-case "z" or a space for "T", that fromisoformat refuses)."""
    return None if value is None else msgspec.convert(value, dt.datetime)


def _parse_date(value: Any) -> dt.date | None:
    return None if value is None else msgspec.convert(value, dt.date)


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _first(values: list[str] | None) -> str:
    return values[0] if values else ""


log = logging.getLogger("fieldbook.search")

_NON_DIGIT = re.compile(r"\D")
#: A word of search: letters and digits, which SQLite's tokenizer keeps together (it splits at
#: "_", which \w would keep), so that every query word is one token of the index, not a phrase.
_WORD = re.compile(r"[^\W_]+")


def _digits(phone: str) -> str:
    return _NON_DIGIT.sub("", phone)


# -- what the types cannot say ------------------------------------------------------

#: The deepest a free-form value (an approval's changes and snapshot) may nest: far beyond any
#: the app writes, and far below where encoding, decoding or comparing it would recurse too deep.
MAX_DEPTH = 32


def _nodes(value: Any) -> Iterator[tuple[Any, int]]:
    """Every part of a JSON value (object keys included), with how many containers hold it,
    the value itself at 1: walked without recursion, whatever its depth."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            stack += [(key, depth + 1) for key in item]
            item = item.values()
        elif not isinstance(item, list):
            continue
        stack += [(inner, depth + 1) for inner in item]


def _too_deep(value: Any) -> bool:
    """Whether a JSON value nests containers more than MAX_DEPTH deep."""
    return any(depth > MAX_DEPTH and isinstance(item, (dict, list)) for item, depth in _nodes(value))


def _depth_error(value: Any) -> str | None:
    return f"nests more than {MAX_DEPTH} levels deep" if _too_deep(value) else None


def instant_error(value: Any) -> str | None:
    """A date-time the database cannot hold: it is stored in UTC, which must stay within years 1 to 9999."""
    when = value if isinstance(value, dt.datetime) else parse_instant(value)
    try:
        when.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError):  # ValueError: a time with no offset, read as local time
        return "out of range: in UTC it falls outside the years 1 to 9999"
    return None


def _limits(shape: type[msgspec.Struct]) -> dict[str, Callable[[Any], str | None]]:
    """Per field of `shape`, a check of a valid value that its type cannot express (None: fine)."""
    out: dict[str, Callable[[Any], str | None]] = {}
    for info in msgspec.inspect.type_info(shape).fields:  # type: ignore[union-attr]
        kinds = info.type.types if isinstance(info.type, msgspec.inspect.UnionType) else (info.type,)
        if any(isinstance(t, msgspec.inspect.DateTimeType) for t in kinds):
            out[info.name] = instant_error
        elif any(_holds_any(t) for t in kinds):
            out[info.name] = _depth_error
    return out


def _holds_any(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.AnyType):
        return True
    if isinstance(kind, msgspec.inspect.DictType):
        return _holds_any(kind.value_type)
    if isinstance(kind, (msgspec.inspect.ListType, msgspec.inspect.SetType, msgspec.inspect.VarTupleType)):
        return _holds_any(kind.item_type)
    return False


#: The one character no PostgreSQL text holds, as JSON writes it.
NUL_JSON = b"\\u0000"


def _holds_nul(value: Any) -> bool:
    """Whether a JSON value holds the NUL character in any string (or object key)."""
    return any(isinstance(item, str) and "\x00" in item for item, _ in _nodes(value))


def nul_errors(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of `values` that hold the NUL character: no database text may (PostgreSQL
    refuses it), and no person types it."""
    return [(name, "must not hold the NUL character (\\u0000)") for name, value in values.items() if _holds_nul(value)]


def limit_errors(kind: Kind, values: dict[str, Any]) -> list[tuple[str, str]]:
    """Errors in valid `values` that their types cannot express (see Kind.limits), and NUL characters."""
    errors = nul_errors(values)
    for name, check in kind.limits.items():
        value = values.get(name)
        if value is not None and (message := check(value)):
            errors.append((name, message))
    return errors


@dataclass(frozen=True)
class Kind:
    """What differs between record types; everything else is shared."""

    name: str
    table: type[Table]
    fields: type[msgspec.Struct]
    create: type[msgspec.Struct]
    update: type[msgspec.Struct]
    answer: type[msgspec.Struct]
    #: "team": the record belongs to a team; "owner": to a user (and so their team);
    #: "task": to its owner and its assignee.
    scope: str
    #: Fields holding the id of another record, and that record's type.
    refs: dict[str, str]
    #: Column values from the visible values (already valid).
    columns: Callable[[dict[str, Any]], dict[str, Any]]
    #: Words search matches, from the visible values and the names of referenced records.
    words: Callable[[dict[str, Any], dict[str, str]], Iterable[str]]
    order_by: tuple[Column, bool]  # column, ascending
    field_names: tuple[str, ...] = field(default=())
    #: The same names, for membership tests.
    field_set: frozenset[str] = field(default=frozenset())
    defaults: dict[str, Any] = field(default_factory=dict)
    #: Every field's value before anyone writes it (its default, else None), in field order.
    unwritten: dict[str, Any] = field(default_factory=dict)
    #: The fields that place the record in its scope: its team, or the people it belongs to.
    scope_fields: tuple[str, ...] = field(default=())
    #: Fields with a rule their type cannot express, and its check of a value already valid
    #: by type: a date-time must stay a date-time in UTC, a free-form value must not nest deep.
    limits: dict[str, Callable[[Any], str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = msgspec.structs.fields(self.fields)
        object.__setattr__(self, "field_names", tuple(f.name for f in spec))
        object.__setattr__(self, "field_set", frozenset(self.field_names))
        object.__setattr__(
            self,
            "defaults",
            {
                f.name: msgspec.to_builtins(f.default if f.default is not msgspec.NODEFAULT else f.default_factory())
                for f in spec
                if f.default is not msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT
            },
        )
        object.__setattr__(self, "unwritten", {name: self.defaults.get(name) for name in self.field_names})
        object.__setattr__(self, "scope_fields", {"team": ("team",), "owner": ("owner",), "task": ("owner", "assignee")}[self.scope])
        object.__setattr__(self, "limits", _limits(self.fields))


KINDS: dict[str, Kind] = {
    "company": Kind(
        name="company",
        table=Company,
        fields=schemas.CompanyFields,
        create=schemas.CompanyCreate,
        update=schemas.CompanyUpdate,
        answer=schemas.Company,
        scope="team",
        refs={},
        columns=lambda v: {
            "team": v.get("team"),
            "name": v.get("name", ""),
            "phone": v.get("phone", ""),
            "email": v.get("email", ""),
            "website": v.get("website", ""),
            "address": v.get("address", ""),
            "latitude": v.get("latitude"),
            "longitude": v.get("longitude"),
        },
        words=lambda v, names: (v.get("name", ""), v.get("phone", ""), _digits(v.get("phone", "")), v.get("email", ""), v.get("website", ""), v.get("address", "")),
        order_by=(Company.name, True),
    ),
    "contact": Kind(
        name="contact",
        table=Contact,
        fields=schemas.ContactFields,
        create=schemas.ContactCreate,
        update=schemas.ContactUpdate,
        answer=schemas.Contact,
        scope="team",
        refs={"company": "company"},
        columns=lambda v: {
            "team": v.get("team"),
            "name": v.get("name", ""),
            "title": v.get("title", ""),
            "company": _uuid(v.get("company")),
            "phone": _first(v.get("phones")),
            "email": _first(v.get("emails")),
            "latitude": v.get("latitude"),
            "longitude": v.get("longitude"),
        },
        words=lambda v, names: (
            v.get("name", ""),
            v.get("title", ""),
            names.get("company", ""),
            *v.get("emails", []),
            *v.get("phones", []),
            *(_digits(p) for p in v.get("phones", [])),
            *v.get("tags", []),
        ),
        order_by=(Contact.name, True),
    ),
    "deal": Kind(
        name="deal",
        table=Deal,
        fields=schemas.DealFields,
        create=schemas.DealCreate,
        update=schemas.DealUpdate,
        answer=schemas.Deal,
        scope="owner",
        refs={"company": "company", "contact": "contact"},
        columns=lambda v: {
            "owner": v.get("owner"),
            "title": v.get("title", ""),
            "company": _uuid(v.get("company")),
            "contact": _uuid(v.get("contact")),
            "stage": v.get("stage", "lead"),
            "amount": v.get("amount"),
            "currency": v.get("currency", "EUR"),
            "expected_close": _parse_date(v.get("expected_close")),
        },
        words=lambda v, names: (v.get("title", ""), names.get("company", ""), names.get("contact", "")),
        order_by=(Deal.updated_at, False),
    ),
    "activity": Kind(
        name="activity",
        table=Activity,
        fields=schemas.ActivityFields,
        create=schemas.ActivityCreate,
        update=schemas.ActivityUpdate,
        answer=schemas.Activity,
        scope="owner",
        refs={"contact": "contact", "company": "company", "deal": "deal"},
        columns=lambda v: {
            "owner": v.get("owner"),
            "kind": v.get("kind", "note"),
            "occurred_at": parse_instant(v.get("occurred_at")),
            "contact": _uuid(v.get("contact")),
            "company": _uuid(v.get("company")),
            "deal": _uuid(v.get("deal")),
        },
        words=lambda v, names: (v.get("notes", ""), v.get("outcome", ""), names.get("contact", ""), names.get("company", "")),
        order_by=(Activity.occurred_at, False),
    ),
    "task": Kind(
        name="task",
        table=Task,
        fields=schemas.TaskFields,
        create=schemas.TaskCreate,
        update=schemas.TaskUpdate,
        answer=schemas.Task,
        scope="task",
        refs={},
        columns=lambda v: {
            "owner": v.get("owner"),
            "assignee": v.get("assignee"),
            "title": v.get("title", ""),
            "due_at": parse_instant(v.get("due_at")),
            "remind_at": parse_instant(v.get("remind_at")),
            "done_at": parse_instant(v.get("done_at")),
            "related_type": v.get("related_type"),
            "related_id": _uuid(v.get("related_id")),
        },
        words=lambda v, names: (v.get("title", ""), v.get("notes", "")),
        order_by=(Task.due_at, True),
    ),
    "approval": Kind(
        name="approval",
        table=Approval,
        fields=schemas.ApprovalFields,
        create=schemas.ApprovalCreate,
        update=schemas.ApprovalUpdate,
        answer=schemas.Approval,
        scope="owner",
        refs={"deal": "deal"},
        columns=lambda v: {
            "owner": v.get("owner"),
            "deal": _uuid(v.get("deal")),
            "status": v.get("status", "pending"),
            "decided_by": v.get("decided_by"),
        },
        words=lambda v, names: (v.get("reason", ""), v.get("comment", ""), names.get("deal", "")),
        order_by=(Approval.updated_at, False),
    ),
}

#: The field of each referenced type whose text search shows for a reference.
_NAME_FIELD = {"company": "name", "contact": "name", "deal": "title"}


# -- visibility ----------------------------------------------------------------


def visibility(kind: Kind, user: CurrentUser) -> Where | And | Or | None:
    """The rows of `kind` this user may see, as a where clause (None: all of them)."""
    table = kind.table
    if user.is_admin:
        return None
    if kind.scope == "team":
        return table.team == user.team  # type: ignore[attr-defined]
    if kind.scope == "owner":
        if user.is_manager:
            return table.owner.team == user.team  # type: ignore[attr-defined]
        return table.owner == user.id  # type: ignore[attr-defined]
    if user.is_manager:
        return (table.owner.team == user.team) | (table.assignee.team == user.team)  # type: ignore[attr-defined]
    return (table.owner == user.id) | (table.assignee == user.id)  # type: ignore[attr-defined]


def _where(*clauses: Any) -> Any:
    present = [c for c in clauses if c is not None]
    if not present:
        return None
    out = present[0]
    for clause in present[1:]:
        out = out & clause
    return out


async def visible_row(kind: Kind, user: CurrentUser, record_id: str, *, include_deleted: bool = False) -> dict | None:
    table = kind.table
    query = table.select(table.id, table.state, table.view, table.deleted, table.updated_at)
    where = _where(table.id == record_id, visibility(kind, user), None if include_deleted else table.deleted == False)  # noqa: E712
    rows = await query.where(where).limit(1)
    return rows[0] if rows else None


async def is_visible(kind_name: str, user: CurrentUser, record_id: str) -> bool:
    return await visible_row(KINDS[kind_name], user, record_id) is not None


# -- answers ---------------------------------------------------------------------


def _iso(value: Any) -> str:
    if isinstance(value, str):
        return value
    return value.isoformat()


def answer(kind: Kind, state: sync.Record, updated_at: Any, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's view of a record: its visible values (`values`, when the caller has them),
    with defaults for fields never written."""
    shown = sync.visible(state) if values is None else values
    # Keys in field order (the unwritten ones'), values written over them.
    out: dict[str, Any] = {"id": state.id, **kind.unwritten}
    names = kind.field_set
    if shown.keys() <= names:
        out.update(shown)
    else:
        for name, value in shown.items():
            if name in names:
                out[name] = value
    out["updated_at"] = _iso(updated_at)
    fields = state.fields
    if fields and max(map(len, fields.values())) > 1:
        out["conflicts"] = sorted(k for k, siblings in fields.items() if len(siblings) > 1 and (k in names or k == "deleted"))
    else:
        out["conflicts"] = []
    return out


class _StoredRecord(msgspec.Struct):
    """sync.Record without the string patterns, for states this server stored itself."""

    type: str
    id: str
    vv: dict[str, int]
    fields: dict[str, list[tuple[Any, str, int, int]]]


def decode_state(raw: str | bytes) -> sync.Record:
    """A stored state. It was validated as a sync.Record before it was stored, so its strings
    are not matched against the wire patterns again (that matching is most of a decode)."""
    stored = msgspec.json.decode(raw, type=_StoredRecord)
    return sync.Record(type=stored.type, id=stored.id, vv=stored.vv, fields=stored.fields)  # type: ignore[arg-type]


# -- write rules -------------------------------------------------------------------


async def team_of(user_id: int) -> tuple[bool, int | None]:
    row = await User.select(User.team).where((User.id == user_id) & (User.active == True)).first()  # noqa: E712
    return (row is not None, row["team"] if row else None)


async def check_write(
    kind: Kind, user: CurrentUser, values: dict[str, Any], written: Iterable[str], before: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Errors in the written fields of a record whose visible values would become `values`;
    `before` are its visible values as stored before the write (None for a new record).

    Write rules follow visibility: nobody may write a record into a place they cannot see,
    nor point it at a record they cannot see.
    """
    errors: list[tuple[str, str]] = []
    written = set(written)
    if kind.scope == "team" and "team" in written:
        team = values.get("team")
        if team is None:
            errors.append(("team", "a team is required"))
        elif not user.is_admin and team != user.team:
            errors.append(("team", "you may only write records of your own team"))
        elif user.is_admin and not await Team.exists().where(Team.id == team):
            errors.append(("team", f"no team {team}"))
    for person in ("owner", "assignee"):
        if person not in written or person not in kind.field_names:
            continue
        who = values.get(person)
        if who is None:
            errors.append((person, f"{person} is required"))
            continue
        exists, team = await team_of(who)
        if not exists:
            errors.append((person, f"no active user {who}"))
        elif user.is_admin:
            continue
        elif person == "owner" and kind.scope == "owner" and not user.is_manager and who != user.id:
            errors.append((person, "a rep may only own their own records"))
        elif person == "owner" and kind.scope == "task" and who != user.id and not user.is_manager:
            errors.append((person, "a rep may only create tasks as themselves"))
        elif team != user.team:
            errors.append((person, "that user is not in your team"))
    for name, ref_type in kind.refs.items():
        ref = values.get(name)
        if name in written and ref is not None and not await is_visible(ref_type, user, ref):
            errors.append((name, f"no {ref_type} {ref} that you can see"))
    if kind.name == "task" and ({"related_type", "related_id"} & written):
        rtype, rid = values.get("related_type"), values.get("related_id")
        if (rtype is None) != (rid is None):
            errors.append(("related_id", "related_type and related_id go together"))
        elif rtype is not None and not await is_visible(rtype, user, rid):
            errors.append(("related_id", f"no {rtype} {rid} that you can see"))
    if kind.name in ("deal", "approval"):
        # Imported here: approvals depend on crm. Every writer, REST or sync, meets the same rules.
        from server.domain.approvals.services import check as approval_rules

        errors += await approval_rules(kind.name, user, values, written, before)
    return errors


@lru_cache(maxsize=None)
def ruled_fields(kind_name: str) -> frozenset[str]:
    """The fields check_write has a rule for: a write of only other fields breaks none, so a
    writer checking field by field may skip them."""
    kind = KINDS[kind_name]
    ruled = set(kind.refs) | ({"owner", "assignee"} & set(kind.field_names))
    if kind.scope == "team":
        ruled.add("team")
    if kind.name == "task":
        ruled |= {"related_type", "related_id"}
    if kind.name in ("deal", "approval"):
        from server.domain.approvals.services import RULED

        ruled |= RULED[kind.name]
    return frozenset(ruled)


def _scope_defaults(kind: Kind, user: CurrentUser, given: dict[str, Any]) -> dict[str, Any]:
    """Fill the owner, assignee or team a writer left out with the writer themselves."""
    out = dict(given)
    if kind.scope == "team" and out.get("team") is None and user.team is not None:
        out["team"] = user.team
    if "owner" in kind.field_names and out.get("owner") is None:
        out["owner"] = user.id
    if kind.scope == "task" and out.get("assignee") is None:
        out["assignee"] = user.id
    return out


# -- storing -------------------------------------------------------------------------


def _search_text(kind: Kind, values: dict[str, Any], names: dict[str, str]) -> str:
    text = " ".join(w for w in kind.words(values, names) if w)
    # Split on everything but letters and digits, as queries are, so that PostgreSQL's parser
    # cannot keep "ada@example.test" whole where SQLite's would find "example".
    return " ".join(_WORD.findall(text.lower()))


# The entry of a record that had one is replaced in place (its FTS row follows by trigger);
# one that had none gets one.
_SEARCH_REPLACE = (
    "INSERT INTO search_entry (record_type, record_id, body) VALUES ({}, {}, {})"
    " ON CONFLICT (record_id) DO UPDATE SET record_type = excluded.record_type, body = excluded.body"
)
_SEARCH_DELETE = "DELETE FROM search_entry WHERE record_id = {}"


#: Changes the search index takes in per transaction: it holds the write lock meanwhile.
INDEX_CHUNK = 2000


async def index_changes(engine: Engine) -> int:
    """Bring the search index up to the latest change; returns how many changes it read.

    Writers leave their records' search entries to this (the full-text index is the costliest
    part of a write), so a push holds the write lock for less time, and a record edited many
    times between two runs is indexed once. `sync_clock.indexed` is the last change indexed:
    a write transaction hands out seqs in commit order (see write_transaction), so every change
    up to the clock it reads has committed, and none is skipped. Search runs this first, so it
    always sees every write; the server also runs it in the background (SearchIndexer).
    """
    done = 0
    while True:
        rows = await fetch(engine, "SELECT value, indexed FROM sync_clock WHERE id = 1")
        if rows[0]["indexed"] >= rows[0]["value"]:
            return done
        async with write_transaction(engine) as tx:
            # Read again under the write lock: another indexer may have been first.
            mark = int((await raw(engine, "SELECT indexed FROM sync_clock WHERE id = 1"))[0]["indexed"])
            if mark >= tx.start:
                return done
            changes: list[tuple[int, Kind, str, sync.Record]] = []
            for kind in KINDS.values():
                table = kind.table._meta.tablename
                for row in await fetch(
                    engine,
                    f"SELECT CAST(id AS TEXT) AS id, seq, state FROM {table} WHERE seq > {{}} AND seq <= {{}} ORDER BY seq LIMIT {{}}",
                    mark,
                    tx.start,
                    INDEX_CHUNK,
                ):
                    changes.append((int(row["seq"]), kind, row["id"], decode_state(row["state"])))
            changes.sort(key=lambda change: change[0])
            # A table that filled its LIMIT may have more below the others' last: stop at the
            # chunk's last seq, which no such table has passed.
            upto = changes[INDEX_CHUNK - 1][0] if len(changes) > INDEX_CHUNK else tx.start
            changes = changes[:INDEX_CHUNK]
            await _write_entries(engine, [(kind, record_id, state) for _, kind, record_id, state in changes])
            await raw(engine, "UPDATE sync_clock SET indexed = {} WHERE id = 1", upto)
            done += len(changes)


class SearchIndexer:
    """Runs index_changes in the server's background after writes: once writes have paused
    for `quiet` seconds, or `longest` seconds after the first unindexed one, whichever comes
    first; and once at start, for writes made while the server was down or by another process."""

    def __init__(self, engine: Engine, quiet: float = 0.5, longest: float = 5.0) -> None:
        self.engine, self.quiet, self.longest = engine, quiet, longest
        self._written = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def _poke(self, seq: int) -> None:
        # Writers may run on another loop or thread (a CLI command, a test's own loop).
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._written.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._written.set()
        commit_hooks.append(self._poke)
        self._task = asyncio.create_task(self._run(), name="search indexer")

    async def stop(self) -> None:
        if self._poke in commit_hooks:
            commit_hooks.remove(self._poke)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._written.wait()
            deadline = time.monotonic() + self.longest
            while True:
                self._written.clear()
                wait = min(self.quiet, deadline - time.monotonic())
                if wait <= 0:
                    break
                try:
                    await asyncio.wait_for(self._written.wait(), wait)
                except TimeoutError:
                    break
            self._written.clear()
            try:
                await index_changes(self.engine)
            except Exception:  # noqa: BLE001 - search runs it again before reading
                log.exception("indexing changes for search failed; it is tried again on the next write or search")


async def _write_entries(engine: Engine, records: list[tuple[Kind, str, sync.Record]]) -> None:
    """The search entries of these records as they now stand, deferred (WriteTransaction.defer);
    an entry whose text is the same stays as it is (its full-text row is the costly part)."""
    tx = current_write()
    ids = [record_id for _, record_id, _ in records]
    held: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        for row in await fetch(
            engine,
            f"SELECT CAST(record_id AS TEXT) AS record_id, body FROM search_entry WHERE record_id IN ({', '.join('{}' for _ in part)})",
            *part,
        ):
            held[row["record_id"]] = row["body"]
    live = [(kind, record_id, sync.visible(state)) for kind, record_id, state in records if not sync.is_deleted(state)]
    names = await _names_of(engine, [(kind, values) for kind, _, values in live])
    for kind, record_id, state in records:
        if sync.is_deleted(state) and record_id in held:
            await tx.defer(("search_entry", record_id), _SEARCH_DELETE, record_id)
    for kind, record_id, values in live:
        text = _search_text(kind, values, {f: names[(t, values[f])] for f, t in kind.refs.items() if (t, values.get(f)) in names})
        if held.get(record_id) != text:
            await tx.defer(("search_entry", record_id), _SEARCH_REPLACE, kind.name, record_id, text)


async def _names_of(engine: Engine, records: list[tuple[Kind, dict[str, Any]]]) -> dict[tuple[str, str], str]:
    """The names of every record these records refer to, by (type, id): a query per type."""
    wanted: dict[str, set[str]] = {}
    for kind, values in records:
        for name, ref_type in kind.refs.items():
            if values.get(name) is not None:
                wanted.setdefault(ref_type, set()).add(str(values[name]))
    out: dict[tuple[str, str], str] = {}
    for ref_type, ids in wanted.items():
        table, column = KINDS[ref_type].table._meta.tablename, _NAME_FIELD[ref_type]
        listed = sorted(ids)
        for start in range(0, len(listed), 500):
            part = listed[start : start + 500]
            for row in await fetch(
                engine, f'SELECT CAST(id AS TEXT) AS id, "{column}" AS name FROM {table} WHERE id IN ({", ".join("{}" for _ in part)})', *part
            ):
                out[(ref_type, row["id"])] = row["name"]
    return out


async def _reindex_referrers(kind: Kind, record_ids: list[str]) -> None:
    """A renamed company or contact changes the search text of the records naming it."""
    engine = kind.table._meta.db
    referrers: dict[str, tuple[Kind, str, sync.Record]] = {}
    for other in KINDS.values():
        for name, ref_type in other.refs.items():
            if ref_type != kind.name:
                continue
            column = getattr(other.table, name)._meta.db_column_name
            rows = await fetch(
                engine,
                f"SELECT CAST(t.id AS TEXT) AS id, t.state AS state FROM {other.table._meta.tablename} t"
                f' WHERE t."{column}" IN ({", ".join("{}" for _ in record_ids)}) AND NOT t.deleted',
                *record_ids,
            )
            for row in rows:
                referrers[row["id"]] = (other, row["id"], decode_state(row["state"]))
    await _write_entries(engine, list(referrers.values()))


_ROW_SQL: dict[str, tuple[str, Callable[[dict[str, Any]], tuple]]] = {}

#: Columns every write of a record changes.
_ALWAYS_WRITTEN = ("state", "view", "seq", "updated_at")


def _row_sql(kind: Kind) -> tuple[str, Callable[[dict[str, Any]], tuple]]:
    """The INSERT writing every column of a record row, and what takes the values of all but
    its id out of a row, in the INSERT's order (in one call, in C)."""
    if kind.name not in _ROW_SQL:
        table = kind.table._meta.tablename
        columns = tuple(c._meta.db_column_name for c in kind.table._meta.columns if c._meta.db_column_name != "id")
        names = ", ".join(f'"{c}"' for c in ("id", *columns))
        insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('{}' for _ in range(len(columns) + 1))})"
        _ROW_SQL[kind.name] = (insert, operator.itemgetter(*columns))
    return _ROW_SQL[kind.name]


@lru_cache(maxsize=None)
def _update_sql(kind_name: str, columns: tuple[str, ...]) -> str:
    """The UPDATE writing only `columns`: SQLite then leaves alone every index (and foreign key
    check) on the columns it does not name, most of an edit's cost when it names them all."""
    sets = ", ".join(f'"{c}" = {{}}' for c in columns)
    return f"UPDATE {KINDS[kind_name].table._meta.tablename} SET {sets} WHERE id = {{}}"


async def store(
    kind: Kind,
    state: sync.Record,
    tx: WriteTransaction,
    existed: dict | None,
    values: dict[str, Any] | None = None,
    state_json: bytes | None = None,
) -> dict[str, Any]:
    """Write a merged state and the visible values it implies; returns the API answer.

    `existed` is the stored row (None for a new record); a caller that has decoded its state
    already passes that along as `existed["known"]`, one that has its visible values passes
    them as `values`, and one that has encoded the state passes the JSON as `state_json`. The
    writes are deferred (WriteTransaction.defer): any later query in the transaction sees them.
    """
    if values is None:
        values = sync.visible(state)
    deleted = sync.is_deleted(state)
    at_text, at = tx.time()
    view = answer(kind, state, at_text, values)
    row = {
        "state": (msgspec.json.encode(state) if state_json is None else state_json).decode(),
        "view": msgspec.json.encode(view).decode(),
        "seq": tx.next_seq(),
        "deleted": deleted,
        "updated_at": at,
        **kind.columns(values),
    }
    insert, row_values = _row_sql(kind)
    previous = None if existed is None else existed.get("known") or decode_state(existed["state"])
    if previous is None:
        before: dict[str, Any] = {}
        row["created_at"] = at
        await tx.defer((kind.name, state.id), insert, state.id, *row_values(row))
    else:
        before = sync.visible(previous)
        # The queryable columns hold the visible values of the stored state: write only those
        # this change moves.
        old = {"deleted": sync.is_deleted(previous), **kind.columns(before)}
        changed = (*_ALWAYS_WRITTEN, *[c for c, v in old.items() if row[c] != v])
        await tx.defer((kind.name, state.id), _update_sql(kind.name, changed), *[row[c] for c in changed], state.id)
    if kind.name == "task":
        # Imported here: push depends on crm, and this one call keeps its reminders in step.
        from server.domain.push.services import task_stored

        await task_stored(state.id, values, deleted, existed is None)
    if kind.name in ("deal", "approval"):
        from server.domain.approvals.services import stored as approval_stored

        await approval_stored(kind.name, state, before if existed is not None else None, values, deleted)
    if existed is not None:
        if _audience_moved(kind, before, values):
            await log_audience_change(kind, state.id, before, row["seq"])
        if kind.name in _NAME_FIELD and (before.get(_NAME_FIELD[kind.name]) != values.get(_NAME_FIELD[kind.name]) or deleted):
            # Once for the whole transaction, before it commits: a push renaming hundreds of
            # contacts then asks each referring table once, not once per contact. Search reads
            # no entries inside a write, and the names it then uses are the final ones.
            renamed = tx.notes.setdefault("renamed", {})
            if not renamed:
                tx.before_commit(lambda: _reindex_renamed(renamed))
            renamed.setdefault(kind.name, []).append(state.id)
    return view


def _audience_moved(kind: Kind, before: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether a change moves who may see the record (its team, owner or assignee)."""
    for name in kind.scope_fields:
        if before.get(name) != values.get(name):
            return True
    return False


async def _reindex_renamed(renamed: dict[str, list[str]]) -> None:
    for name, record_ids in renamed.items():
        for start in range(0, len(record_ids), 500):
            await _reindex_referrers(KINDS[name], record_ids[start : start + 500])


async def log_audience_change(kind: Kind, record_id: str, before: dict[str, Any], seq: int) -> None:
    """Remember who could see the record before this change, for pull's `gone`."""
    owner, assignee = before.get("owner"), before.get("assignee")
    team = before.get("team") if kind.scope == "team" else (await team_of(owner))[1] if owner else None
    assignee_team = (await team_of(assignee))[1] if assignee else None
    await AudienceChange.insert(
        AudienceChange(
            seq=seq,
            record_type=kind.name,
            record_id=record_id,
            prev_team=team,
            prev_owner=owner,
            prev_assignee=assignee,
            prev_assignee_team=assignee_team,
        )
    )


# -- the REST service -----------------------------------------------------------------


@dataclass
class ListQuery:
    q: str | None = None
    limit: int = 50
    offset: int = 0
    #: Piccolo conditions on the kind's own columns (no joins), e.g. `Deal.stage == "won"`.
    filters: list[Any] = field(default_factory=list)


# The list is the hottest read, so its SQL is written out here rather than built by Piccolo per
# request (building it cost several times what running it did). It is the query Piccolo made of
# `visibility` and the list's ordering, with every column qualified.


def _search_match(engine: Engine, text: str) -> str | None:
    """The full-text query for `text`: every word (at most 8) as a prefix; None: no words."""
    words = _WORD.findall(text.lower())[:8]
    if not words:
        return None
    if is_sqlite(engine):
        return " ".join(f'"{w}"*' for w in words)
    return " & ".join(f"{w}:*" for w in words)


def _list_scope(kind: Kind, user: CurrentUser) -> tuple[str, tuple[Any, ...]]:
    """Which shape of `visibility` applies ("all", "team", "no team", "user"), and its arguments."""
    if user.is_admin:
        return "all", ()
    per_user = 2 if kind.scope == "task" else 1  # owner and assignee
    if kind.scope == "team" or user.is_manager:
        if user.team is None:
            return "no team", ()  # Piccolo's `== None`: IS NULL
        return "team", (user.team,) * (1 if kind.scope == "team" else per_user)
    return "user", (user.id,) * per_user


@lru_cache(maxsize=None)
def _list_sql(kind_name: str, scope: str, search: str | None, filters: int) -> tuple[str, str]:
    """A page's SELECT (with the count) and the COUNT alone. Placeholders: False (not deleted),
    the scope's arguments, the search match (`search` is the engine type when there is one), the
    filters; the page has them twice (count, then page), then limit and offset."""
    kind = KINDS[kind_name]
    name = kind.table._meta.tablename
    t = f'"{name}"'
    joins = ""
    clauses = [f'{t}."deleted" = {{}}']
    if scope != "all":
        owners = kind.scope_fields
        if kind.scope == "team":
            tests = [f'{t}."team" = {{}}']
        elif scope == "user":
            tests = [f'{t}."{fk}" = {{}}' for fk in owners]
        elif scope == "team":  # a manager sees what the people of their team own (or are assigned)
            # As IN lists rather than joins: each side of a task's OR then reads its own index.
            tests = [f'{t}."{fk}" IN (SELECT "id" FROM "app_user" WHERE "team" = {{}})' for fk in owners]
        else:  # a manager of no team: what people of no team own (Piccolo's join, IS NULL)
            tests = []
            for fk in owners:
                alias = f'"{name}${fk}"'
                joins += f' LEFT JOIN "app_user" {alias} ON ({t}."{fk}" = {alias}."id")'
                tests.append(f'{alias}."team" IS NULL')
        clauses.append(" OR ".join(tests))
    if search == "sqlite":
        clauses.append(
            f'{t}."id" IN (SELECT record_id FROM search_entry WHERE id IN'
            " (SELECT rowid FROM search_fts WHERE search_fts MATCH {}))"
        )
    elif search is not None:
        clauses.append(
            f'{t}."id" IN (SELECT record_id FROM search_entry'
            " WHERE to_tsvector('simple', body) @@ to_tsquery('simple', {}))"
        )
    clauses += ["{}"] * filters
    where = " AND ".join(f"({clause})" for clause in clauses)
    column, ascending = kind.order_by
    order = f'{t}."{column._meta.db_column_name}" {"ASC" if ascending else "DESC"}, {t}."id" ASC'
    body = f"FROM {t}{joins} WHERE {where}"
    count = f'SELECT COUNT(*) AS "count" {body}'
    # The count rides along with the page (one trip to the database instead of two); both
    # engines run an uncorrelated subquery once.
    page = f'SELECT {t}."view" AS "view", ({count}) AS "total" {body} ORDER BY {order} LIMIT {{}} OFFSET {{}}'
    return page, count


class RecordService:
    """Create, read, update, delete and list one kind of record for one user."""

    def __init__(self, kind: Kind, user: CurrentUser) -> None:
        self.kind = kind
        self.user = user
        self.table = kind.table
        self.engine = kind.table._meta.db

    async def list(self, query: ListQuery) -> dict[str, Any]:
        views, total = await self._page(query)
        end = query.offset + len(views)
        return {
            # Stored answers go out as they are: no decoding, no rebuilding.
            "items": [msgspec.Raw(view) for view in views],
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
            "next_offset": end if end < total else None,
        }

    async def list_json(self, query: ListQuery) -> msgspec.Raw:
        """`list` as the JSON msgspec makes of it, written out around the stored answers."""
        views, total = await self._page(query)
        end = query.offset + len(views)
        next_offset = end if end < total else "null"
        return msgspec.Raw(
            '{"items":[' + ",".join(views) + f'],"total":{total},"limit":{query.limit},'
            f'"offset":{query.offset},"next_offset":{next_offset}}}'
        )

    async def _page(self, query: ListQuery) -> tuple[list[str], int]:
        """The stored answers of the page, and how many records the whole list has."""
        scope, scope_args = _list_scope(self.kind, self.user)
        match = _search_match(self.engine, query.q) if query.q else None
        if match is not None:
            await index_changes(self.engine)  # so that search sees every write
        page_sql, count_sql = _list_sql(
            self.kind.name, scope, None if match is None else self.engine.engine_type, len(query.filters)
        )
        args = (False, *scope_args, *(() if match is None else (match,)), *(f.querystring for f in query.filters))
        rows = await fetch(self.engine, page_sql, *args, *args, query.limit, query.offset)
        if rows:
            total = rows[0]["total"]
        else:  # past the end: no row to bring the count
            total = (await fetch(self.engine, count_sql, *args))[0]["count"] if query.offset else 0
        return [row["view"] for row in rows], total

    async def get(self, record_id: str) -> dict[str, Any]:
        row = await visible_row(self.kind, self.user, record_id)
        if row is None:
            raise NotVisible(record_id)
        return msgspec.Raw(row["view"])  # type: ignore[return-value]

    async def _edit(self, record_id: str, changes: dict[str, Any] | None, *, creating: bool) -> dict[str, Any]:
        """One edit by the server's replica, read-modify-write inside a serialised transaction."""
        async with write_transaction(self.engine) as tx:
            tx.notes["actor"] = self.user
            existed = await visible_row(self.kind, self.user, record_id, include_deleted=True)
            if creating:
                if existed is not None or await self.table.exists().where(self.table.id == record_id):
                    raise FieldErrors([("id", f"a record with id {record_id} already exists")])
                state = sync.new(self.kind.name, record_id)
            else:
                if existed is None or existed["deleted"]:
                    raise NotVisible(record_id)
                state = decode_state(existed["state"])
            if changes is None:
                new_state = sync.delete(state, SERVER_REPLICA, now_ms())
            else:
                before = None if creating else sync.visible(state)
                values = {**self.kind.defaults, **(before or {}), **changes}
                errors = await check_write(self.kind, self.user, values, changes, before)
                if errors:
                    raise FieldErrors(errors)
                new_state = sync.edit(state, SERVER_REPLICA, changes, now_ms())
            return await store(self.kind, new_state, tx, existed)

    async def create(self, data: msgspec.Struct) -> dict[str, Any]:
        given = msgspec.to_builtins(data)
        record_id = given.pop("id", None) or str(uuid.uuid4())
        # A create writes every field, defaults included, so every replica sees one full state.
        changes = _scope_defaults(self.kind, self.user, given)
        if errors := limit_errors(self.kind, changes):
            raise FieldErrors(errors)
        return await self._edit(record_id, changes, creating=True)

    async def update(self, record_id: str, data: msgspec.Struct) -> dict[str, Any]:
        changes = {k: v for k, v in msgspec.to_builtins(data).items()}
        if not changes:
            raise FieldErrors([("body", "no fields to change")])
        for person in ("owner", "assignee", "team"):
            if person in changes and changes[person] is None:
                raise FieldErrors([(person, f"{person} cannot be emptied")])
        if errors := limit_errors(self.kind, changes):
            raise FieldErrors(errors)
        return await self._edit(record_id, changes, creating=False)

    async def delete(self, record_id: str) -> None:
        await self._edit(record_id, None, creating=False)


async def move_user(user_id: int, team_id: int) -> bool:
    """Move a user to another team; False if they were in it already.

    Their own records change audience: each is logged (so the old team's managers get it in
    `gone`) and given a new sequence number (so the new team's managers pull it). The user's
    own phones start over on their next pull (see syncing.services.pull).
    """
    engine = Company._meta.db
    async with write_transaction(engine) as tx:
        row = await User.select(User.team).where(User.id == user_id).first()
        if row is None:
            raise FieldErrors([("user", f"no user {user_id}")])
        if row["team"] == team_id:
            return False
        for kind in KINDS.values():
            if kind.scope == "team":
                continue
            table = kind.table
            mine = table.owner == user_id  # type: ignore[attr-defined]
            if kind.scope == "task":
                mine = mine | (table.assignee == user_id)  # type: ignore[attr-defined]
            for record in await table.select(table.id, table.state).where(mine):
                seq = tx.next_seq()
                await log_audience_change(kind, str(record["id"]), sync.visible(decode_state(record["state"])), seq)
                await table.update({table.seq: seq}).where(table.id == record["id"])
        seq = tx.next_seq()
        await TeamMove.insert(TeamMove(seq=seq, user=user_id, old_team=row["team"], new_team=team_id))
        await User.update({User.team: team_id, User.moved_seq: seq}).where(User.id == user_id)
        return True
