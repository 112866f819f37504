"""Wire shapes of the CRM records: what the REST API takes and gives, and what a synced value may be.

The `*Fields` structs hold every writable field with its constraints. `*Create` adds the
client-generatable id; `*Update` is the same fields, all optional (a PATCH); the plain name
is what the API answers. Sync push validates newly written values against `*Update`, so the
REST API and sync can never disagree on what is valid.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from sync.wire import MAX_SAFE_INTEGER, UUID_PATTERN

UUIDStr = Annotated[str, Meta(pattern=UUID_PATTERN, description="a lower-case UUID")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
ShortText = Annotated[str, Meta(max_length=200)]
LongText = Annotated[str, Meta(max_length=20000)]
Email = Annotated[str, Meta(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, Meta(max_length=40, pattern=r"^\+?[0-9][0-9 ()./-]{2,38}$")]
#: The same, or empty for "none".
MaybeEmail = Annotated[str, Meta(max_length=320, pattern=r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$")]
MaybePhone = Annotated[str, Meta(max_length=40, pattern=r"^(\+?[0-9][0-9 ()./-]{2,38})?$")]
Url = Annotated[str, Meta(max_length=300, pattern=r"^(https?://\S+)?$")]
Tag = Annotated[str, Meta(min_length=1, max_length=50)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
Money = Annotated[str, Meta(pattern=r"^\d{1,12}(\.\d{1,2})?$", description="a decimal string, e.g. 1250.00")]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Percent = Annotated[str, Meta(pattern=r"^(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)$", description="0 to 100, a decimal string")]
Probability = Annotated[int, Meta(ge=0, le=100)]
AwareDateTime = Annotated[dt.datetime, Meta(tz=True)]
#: The largest id of a user or a team: their tables' serial keys are PostgreSQL integers.
MAX_ID = 2**31 - 1
#: A user's (or team's) id.
UserId = Annotated[int, Meta(ge=1, le=MAX_ID)]
Stage = Literal["lead", "qualified", "proposal", "negotiation", "won", "lost"]
ActivityKind = Literal["visit", "call", "meeting", "note"]
RecordKind = Literal["company", "contact", "deal"]
ApprovalStatus = Literal["pending", "approved", "rejected", "stale"]


class CompanyFields(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    team: UserId | None = None  #: defaults to the writer's team
    phone: MaybePhone = ""
    email: MaybeEmail = ""
    website: Url = ""
    address: LongText = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    notes: LongText = ""


class ContactFields(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    team: UserId | None = None  #: defaults to the writer's team
    title: ShortText = ""
    company: UUIDStr | None = None
    phones: Annotated[list[Phone], Meta(max_length=10)] = []
    emails: Annotated[list[Email], Meta(max_length=10)] = []
    address: LongText = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    tags: Annotated[list[Tag], Meta(max_length=30)] = []
    notes: LongText = ""


class DealFields(Struct, kw_only=True, forbid_unknown_fields=True):
    title: Name
    owner: UserId | None = None  #: defaults to the writer
    company: UUIDStr | None = None
    contact: UUIDStr | None = None
    stage: Stage = "lead"
    amount: Money | None = None
    currency: Currency = "EUR"
    discount: Percent = "0"
    expected_close: dt.date | None = None
    probability: Probability | None = None
    notes: LongText = ""


class ActivityFields(Struct, kw_only=True, forbid_unknown_fields=True):
    kind: ActivityKind
    occurred_at: AwareDateTime
    owner: UserId | None = None  #: defaults to the writer
    contact: UUIDStr | None = None
    company: UUIDStr | None = None
    deal: UUIDStr | None = None
    notes: LongText = ""
    outcome: ShortText = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    accuracy: Annotated[float, Meta(ge=0, le=1_000_000)] | None = None  #: metres
    duration: Annotated[int, Meta(ge=0, le=24 * 60)] | None = None  #: minutes


class TaskFields(Struct, kw_only=True, forbid_unknown_fields=True):
    title: Name
    owner: UserId | None = None  #: who made it; defaults to the writer
    assignee: UserId | None = None  #: defaults to the writer
    due_at: AwareDateTime | None = None
    remind_at: AwareDateTime | None = None
    related_type: RecordKind | None = None
    related_id: UUIDStr | None = None
    done_at: AwareDateTime | None = None
    notes: LongText = ""


class ApprovalFields(Struct, kw_only=True, forbid_unknown_fields=True):
    deal: UUIDStr
    owner: UserId | None = None  #: who asked; defaults to the writer
    reason: LongText = ""
    deal_vv: dict[str, Annotated[int, Meta(ge=1, le=MAX_SAFE_INTEGER)]] = {}
    status: ApprovalStatus = "pending"
    decided_by: UserId | None = None
    comment: LongText = ""
    #: What the rep asks to do, applied to the deal by the server when approved:
    #: any of stage, amount, discount and expected_close, valued as on the deal.
    changes: Annotated[dict[str, Any], Meta(max_length=4)] = {}
    #: The deal's stage, amount, currency, discount and expected_close when asked, for the manager's "what changed".
    snapshot: Annotated[dict[str, Any], Meta(max_length=8)] = {}


def _with_id(fields: type[Struct], name: str) -> type[Struct]:
    return msgspec.defstruct(
        name,
        [("id", UUIDStr | None, None)],
        bases=(fields,),
        kw_only=True,
        forbid_unknown_fields=True,
    )


def _partial(fields: type[Struct], name: str) -> type[Struct]:
    """The same fields, every one optional: what a PATCH or a synced edit may write."""
    annotations = msgspec.structs.fields(fields)
    return msgspec.defstruct(
        name,
        [(f.name, f.type | UnsetType, UNSET) for f in annotations],
        kw_only=True,
        forbid_unknown_fields=True,
    )


def _answer(fields: type[Struct], name: str) -> type[Struct]:
    return msgspec.defstruct(
        name,
        [
            ("id", str),
            ("updated_at", dt.datetime),
            ("conflicts", list[str], []),  # fields with concurrent values to settle
        ],
        bases=(fields,),
        kw_only=True,
    )


CompanyCreate = _with_id(CompanyFields, "CompanyCreate")
CompanyUpdate = _partial(CompanyFields, "CompanyUpdate")
Company = _answer(CompanyFields, "Company")
ContactCreate = _with_id(ContactFields, "ContactCreate")
ContactUpdate = _partial(ContactFields, "ContactUpdate")
Contact = _answer(ContactFields, "Contact")
DealCreate = _with_id(DealFields, "DealCreate")
DealUpdate = _partial(DealFields, "DealUpdate")
Deal = _answer(DealFields, "Deal")
ActivityCreate = _with_id(ActivityFields, "ActivityCreate")
ActivityUpdate = _partial(ActivityFields, "ActivityUpdate")
Activity = _answer(ActivityFields, "Activity")
TaskCreate = _with_id(TaskFields, "TaskCreate")
TaskUpdate = _partial(TaskFields, "TaskUpdate")
Task = _answer(TaskFields, "Task")
ApprovalCreate = _with_id(ApprovalFields, "ApprovalCreate")
ApprovalUpdate = _partial(ApprovalFields, "ApprovalUpdate")
Approval = _answer(ApprovalFields, "Approval")


class Page(Struct, kw_only=True):
    """One page of a list: `items`, the `total` matching, and where the next page starts."""

    items: list[Any]
    total: int
    limit: int
    offset: int
    next_offset: int | None
