"""REST controllers of the CRM records: thin, all the work is in services.

No `from __future__ import annotations` here: the handlers are made per record type and
Litestar reads their annotations at runtime.
"""

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import ValidationException
from litestar.params import Parameter
import msgspec

from server.bodies import NOT_JSON, not_json
from server.domain.accounts.guards import requires_login
from server.domain.crm.services import KINDS, FieldErrors, Kind, ListQuery, RecordService, field_error, instant_error
from server.domain.crm.schemas import MAX_ID, AwareDateTime
from server.domain.crm.tables import Activity, Contact, Deal, Task

Limit = Annotated[int, Parameter(ge=1, le=200, description="page size")]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000)]
Search = Annotated[str | None, Parameter(max_length=200, description="words to find (prefix match)")]
MaybeId = Annotated[uuid.UUID | None, Parameter()]
MaybeUser = Annotated[int | None, Parameter(ge=1, le=MAX_ID)]
#: A date-time filter, as text: see _instant.
MaybeInstant = Annotated[str | None, Parameter(max_length=64, description="an RFC 3339 date-time with its offset, e.g. 2026-11-24T09:00:00Z")]


async def strictly(request: Request, shape: type[msgspec.Struct], *, nested: bool = False) -> msgspec.Struct:
    """The body decoded with no type coercion: Litestar's own decoding turns "5" into 5 and 5
    into 1970-01-01, and a phone that sends the wrong type has a bug it should hear about.
    Errors name the field (see field_error for `nested`)."""
    try:
        return msgspec.json.decode(await request.body() or b"{}", type=shape, strict=True)
    except msgspec.ValidationError as error:
        raise FieldErrors([field_error(error, nested=nested)]) from error
    except NOT_JSON as error:
        raise FieldErrors([("body", not_json(error))]) from error


def _controller(kind: Kind, path: str, plural: str, list_handler: Any) -> type[Controller]:
    """The get, create, update and delete handlers of one record type, plus its list handler."""

    async def get_one(self: Controller, request: Request, record_id: uuid.UUID) -> kind.answer:  # type: ignore[name-defined]
        return await RecordService(kind, request.user).get(str(record_id))

    async def create(self: Controller, request: Request, data: kind.create) -> kind.answer:  # type: ignore[name-defined]
        return await RecordService(kind, request.user).create(await strictly(request, kind.create))

    async def update(self: Controller, request: Request, record_id: uuid.UUID, data: kind.update) -> kind.answer:  # type: ignore[name-defined]
        return await RecordService(kind, request.user).update(str(record_id), await strictly(request, kind.update))

    async def remove(self: Controller, request: Request, record_id: uuid.UUID) -> None:
        await RecordService(kind, request.user).delete(str(record_id))

    return type(
        f"{kind.name.title()}Controller",
        (Controller,),
        {
            "path": path,
            "tags": [plural],
            "guards": [requires_login],
            "list": get("/", operation_id=f"list_{plural}")(list_handler),
            "get_one": get("/{record_id:uuid}", operation_id=f"get_{kind.name}")(get_one),
            "create": post("/", operation_id=f"create_{kind.name}")(create),
            "update": patch("/{record_id:uuid}", operation_id=f"update_{kind.name}")(update),
            "remove": delete("/{record_id:uuid}", operation_id=f"delete_{kind.name}", status_code=204)(remove),
        },
    )


def _query(q: str | None, limit: int, offset: int, *filters: Any) -> ListQuery:
    return ListQuery(q=q, limit=limit, offset=offset, filters=[f for f in filters if f is not None])


def _eq(column: Any, value: Any) -> Any:
    return None if value is None else column == value


def _instant(name: str, text: str) -> dt.datetime:
    """A date-time filter, read as strictly as a date-time in a body (an offset required, no
    epoch numbers); a 400 naming it if it is not one, or not one the database can compare."""
    try:
        value = msgspec.convert(text, AwareDateTime, strict=True)
    except msgspec.ValidationError as error:
        message = f"not a date-time with its offset: {error}"
    else:
        message = instant_error(value)
        if message is None:
            return value
    raise ValidationException(f"{name}: {message}", extra=[{"key": name, "message": message, "source": "query"}])


async def list_companies(self: Controller, request: Request, q: Search = None, limit: Limit = 50, offset: Offset = 0) -> dict:
    return await RecordService(KINDS["company"], request.user).list_json(_query(q, limit, offset))


async def list_contacts(
    self: Controller, request: Request, q: Search = None, limit: Limit = 50, offset: Offset = 0, company: MaybeId = None
) -> dict:
    return await RecordService(KINDS["contact"], request.user).list_json(_query(q, limit, offset, _eq(Contact.company, company)))


async def list_deals(
    self: Controller,
    request: Request,
    q: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
    owner: MaybeUser = None,
    stage: Annotated[str | None, Parameter(pattern="^(lead|qualified|proposal|negotiation|won|lost)$")] = None,
    company: MaybeId = None,
    contact: MaybeId = None,
    close_before: dt.date | None = None,
) -> dict:
    filters = (
        _eq(Deal.owner, owner),
        _eq(Deal.stage, stage),
        _eq(Deal.company, company),
        _eq(Deal.contact, contact),
        None if close_before is None else Deal.expected_close < close_before,
    )
    return await RecordService(KINDS["deal"], request.user).list_json(_query(q, limit, offset, *filters))


async def list_activities(
    self: Controller,
    request: Request,
    q: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
    owner: MaybeUser = None,
    kind: Annotated[str | None, Parameter(pattern="^(visit|call|meeting|note)$")] = None,
    contact: MaybeId = None,
    company: MaybeId = None,
    deal: MaybeId = None,
    after: MaybeInstant = None,
    before: MaybeInstant = None,
) -> dict:
    filters = (
        _eq(Activity.owner, owner),
        _eq(Activity.kind, kind),
        _eq(Activity.contact, contact),
        _eq(Activity.company, company),
        _eq(Activity.deal, deal),
        None if after is None else Activity.occurred_at >= _instant("after", after),
        None if before is None else Activity.occurred_at < _instant("before", before),
    )
    return await RecordService(KINDS["activity"], request.user).list_json(_query(q, limit, offset, *filters))


async def list_tasks(
    self: Controller,
    request: Request,
    q: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
    assignee: MaybeUser = None,
    owner: MaybeUser = None,
    done: bool | None = None,
    due_before: MaybeInstant = None,
    related_id: MaybeId = None,
) -> dict:
    filters = (
        _eq(Task.assignee, assignee),
        _eq(Task.owner, owner),
        None if done is None else (Task.done_at.is_not_null() if done else Task.done_at.is_null()),
        None if due_before is None else Task.due_at < _instant("due_before", due_before),
        _eq(Task.related_id, related_id),
    )
    return await RecordService(KINDS["task"], request.user).list_json(_query(q, limit, offset, *filters))


CompanyController = _controller(KINDS["company"], "/api/v1/companies", "companies", list_companies)
ContactController = _controller(KINDS["contact"], "/api/v1/contacts", "contacts", list_contacts)
DealController = _controller(KINDS["deal"], "/api/v1/deals", "deals", list_deals)
ActivityController = _controller(KINDS["activity"], "/api/v1/activities", "activities", list_activities)
TaskController = _controller(KINDS["task"], "/api/v1/tasks", "tasks", list_tasks)

CONTROLLERS = [CompanyController, ContactController, DealController, ActivityController, TaskController]
